// Models and data fetched by URL, kept once in this browser's Cache Storage so that later visits (and a
// browser with no network) read them from here. Runs in the page (data) and in the engine's worker (the
// model loader's downloader), which is why nothing here touches the DOM; what happened to each file is
// announced on a BroadcastChannel, which the page's model card listens to.
//
// Each stored copy carries its byte length and SHA-256 as headers of the cached response: a copy whose
// bytes differ (truncated by a full disk, altered by hand) is removed and fetched again, or, when that
// fails, reported as a StoredFileError; it is never handed to a loader.
import { fetchBytes } from '../src/model/download.ts';
import { DownloadError } from '../src/model/errors.ts';
import type { Downloader, ProgressCallback } from '../src/model/source.ts';

/** The Cache Storage cache that holds the files (versioned: a new layout gets a new name). */
export const FILES_CACHE = 'xtf-demo-files-v1';
const CHANNEL = 'xtf-demo-stored-files';
const H = { bytes: 'x-xtf-bytes', sha256: 'x-xtf-sha256', storedAt: 'x-xtf-stored-at', absent: 'x-xtf-absent' } as const;

/** One stored file, as the model card lists it. */
export interface StoredFile {
  url: string;
  bytes: number;
  sha256: string;
  storedAt: string;
}

/** What happened to a URL: read from storage, downloaded and stored, downloaded but not stored (and why),
 *  or a stored copy found damaged and removed. */
export type StoreEvent =
  | { type: 'read'; url: string; bytes: number }
  | { type: 'stored'; url: string; bytes: number }
  | { type: 'not-stored'; url: string; bytes: number; why: string }
  | { type: 'damaged'; url: string; why: string };

/** A stored copy was damaged and could not be fetched again: nothing was loaded from it. */
export class StoredFileError extends Error {
  override name = 'StoredFileError';
  constructor(public readonly url: string, message: string) {
    super(message);
  }
}

const hasCaches = () => typeof caches !== 'undefined' && typeof crypto !== 'undefined' && !!crypto.subtle;
const sender = typeof BroadcastChannel === 'undefined' ? null : new BroadcastChannel(CHANNEL);

/** Calls `on` with every StoreEvent, from this context and from the engine's worker. */
export function onStoreEvent(on: (e: StoreEvent) => void): void {
  if (typeof BroadcastChannel === 'undefined') return;
  // A channel object never receives its own messages: listen on a second one.
  new BroadcastChannel(CHANNEL).onmessage = (m: MessageEvent<StoreEvent>) => on(m.data);
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Free space by the browser's own estimate (quota − usage), or Infinity when it gives none. */
export async function freeBytes(): Promise<number> {
  const est = await navigator.storage?.estimate?.().catch(() => undefined);
  return est?.quota === undefined ? Infinity : est.quota - (est.usage ?? 0);
}

/**
 * The bytes at `url`: the stored copy when there is a sound one, else downloaded (with progress) and
 * stored when the browser's storage estimate says it fits. null on 404 (remembered, so that a loader's
 * probe for an optional file still answers offline). A damaged copy is removed and fetched again; when
 * that fails too, StoredFileError says so.
 */
export async function storedBytes(url: string, onProgress?: ProgressCallback): Promise<Uint8Array | null> {
  return (await storedFile(url, onProgress)).bytes;
}

/** storedBytes, with what happened to the file: the events announced for it, in order (none without
 *  Cache Storage or on 404). */
export async function storedFile(url: string, onProgress?: ProgressCallback): Promise<{ bytes: Uint8Array | null; events: StoreEvent[] }> {
  const events: StoreEvent[] = [];
  const announce = (e: StoreEvent) => {
    events.push(e);
    sender?.postMessage(e);
  };
  const bytes = await fetchStored(url, announce, onProgress);
  return { bytes, events };
}

async function fetchStored(url: string, announce: (e: StoreEvent) => void, onProgress?: ProgressCallback): Promise<Uint8Array | null> {
  if (!hasCaches()) return fetchBytes(url, onProgress);
  const cache = await caches.open(FILES_CACHE);
  const hit = await cache.match(url);
  // A 404 seen before is asked again (the file may exist now); only without a network is it trusted.
  const knownAbsent = !!hit?.headers.get(H.absent);
  let damage: string | null = null;
  if (hit && !knownAbsent) {
    const bytes = new Uint8Array(await hit.arrayBuffer());
    damage = await damageOf(bytes, hit.headers);
    if (!damage) {
      announce({ type: 'read', url, bytes: bytes.byteLength });
      onProgress?.({ file: url, loaded: bytes.byteLength, total: bytes.byteLength, cached: true });
      return bytes;
    }
    await cache.delete(url);
    announce({ type: 'damaged', url, why: damage });
  }
  let bytes: Uint8Array | null;
  let room = Infinity;
  let refused = false;
  try {
    // The size check, when the response's headers arrive and before its body is read: a file that will
    // not fit is still loaded, only not stored.
    const sizingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      room = await freeBytes();
      const total = Number(response.headers.get('content-length') ?? NaN);
      if (response.ok && total > room) {
        refused = true;
        announce({ type: 'not-stored', url, bytes: total, why: `its ${total} bytes do not fit in the ${Math.max(0, room)} bytes this browser's storage estimate leaves` });
      }
      return response;
    };
    bytes = await fetchBytes(url, onProgress, { fetch: sizingFetch });
  } catch (e) {
    const unreachable = e instanceof DownloadError && (e.reason === 'network' || e.reason === 'timeout');
    if (knownAbsent && unreachable) return null;
    if (damage) throw new StoredFileError(url, `the stored copy of ${url} was damaged (${damage}) and has been removed; fetching it again failed: ${(e as Error).message}`);
    throw e;
  }
  if (bytes === null) {
    await cache.put(url, new Response(null, { headers: { [H.absent]: '1', [H.storedAt]: new Date().toISOString() } })).catch(() => undefined);
    return null;
  }
  if (refused) return bytes;
  if (bytes.byteLength > room) {
    announce({ type: 'not-stored', url, bytes: bytes.byteLength, why: `its ${bytes.byteLength} bytes do not fit in the ${Math.max(0, room)} bytes this browser's storage estimate leaves` });
    return bytes;
  }
  try {
    const headers = { 'content-type': 'application/octet-stream', [H.bytes]: String(bytes.byteLength), [H.sha256]: await sha256Hex(bytes), [H.storedAt]: new Date().toISOString() };
    await cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>, { headers }));
    announce({ type: 'stored', url, bytes: bytes.byteLength });
  } catch (e) {
    // A full disk (QuotaExceededError) must not fail a load that already has its bytes.
    announce({ type: 'not-stored', url, bytes: bytes.byteLength, why: `${(e as Error).name}: ${(e as Error).message}` });
  }
  return bytes;
}

/** What is wrong with a stored copy (its length, then its SHA-256), or null when it is sound. */
async function damageOf(bytes: Uint8Array, headers: Headers): Promise<string | null> {
  const length = Number(headers.get(H.bytes));
  const sha = headers.get(H.sha256);
  if (!Number.isSafeInteger(length) || !sha) return 'its length and SHA-256 were not recorded';
  if (bytes.byteLength !== length) return `${bytes.byteLength} bytes where ${length} were stored`;
  const actual = await sha256Hex(bytes);
  return actual === sha ? null : `SHA-256 ${actual.slice(0, 12)}… where ${sha.slice(0, 12)}… was stored`;
}

/** The model loader's downloader (LoadOptions.download): every URL through storedBytes. */
export const storedDownloader: Downloader = (url, onProgress) => storedBytes(url, onProgress);

/** Every stored file (404s remembered are not files), oldest first. */
export async function listStored(): Promise<StoredFile[]> {
  if (!hasCaches()) return [];
  const cache = await caches.open(FILES_CACHE);
  const out: StoredFile[] = [];
  for (const request of await cache.keys()) {
    const r = await cache.match(request);
    if (!r || r.headers.get(H.absent)) continue;
    out.push({ url: request.url, bytes: Number(r.headers.get(H.bytes)), sha256: r.headers.get(H.sha256) ?? '', storedAt: r.headers.get(H.storedAt) ?? '' });
  }
  return out.sort((a, b) => a.storedAt.localeCompare(b.storedAt));
}

/** Whether a sound-looking copy of `url` is stored (its bytes are checked only when read). */
export async function isStored(url: string): Promise<boolean> {
  if (!hasCaches()) return false;
  const r = await (await caches.open(FILES_CACHE)).match(url);
  return !!r && !r.headers.get(H.absent);
}

export async function removeStored(url: string): Promise<void> {
  if (hasCaches()) await (await caches.open(FILES_CACHE)).delete(url);
}

/** Drops every stored file (and every remembered 404). */
export async function clearStored(): Promise<void> {
  if (hasCaches()) await caches.delete(FILES_CACHE);
}
