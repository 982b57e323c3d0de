// Getting a file's bytes over HTTP(S) for every runtime: fetch with progress, connect and idle timeouts,
// and refusal of anything that is not the whole, real file (error statuses, HTML pages, short bodies).
// Where a model comes from and which loader reads it is source.ts; the disk cache is source-fs.ts.
import { DownloadError, formatCount } from './errors.ts';
import type { ProgressCallback } from './source.ts';

/** How long a download may wait for the server's response headers (connect + first answer), by default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
/** How long a download may go without receiving a byte of the body, by default. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;

export interface DownloadOptions {
  /** fetch to use for URLs (default globalThis.fetch). */
  fetch?: typeof fetch;
  /** Milliseconds to wait for the server's response headers after sending the request (default 30 000). */
  connectTimeoutMs?: number;
  /** Milliseconds the body may go without a new byte before the download is abandoned (default 60 000). */
  idleTimeoutMs?: number;
}

/** GETs a URL into memory with progress reports as the body streams in; null on 404. See streamDownload. */
export async function fetchBytes(url: string, onProgress?: ProgressCallback, options: DownloadOptions = {}): Promise<Uint8Array | null> {
  const chunks: Uint8Array[] = [];
  const done = await streamDownload(url, (chunk) => void chunks.push(chunk), onProgress, options);
  if (!done) return null;
  const bytes = new Uint8Array(done.bytes);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.byteLength;
  }
  return bytes;
}

/**
 * GETs a URL and hands its body to `sink` chunk by chunk (awaiting it), reporting progress as bytes
 * arrive; null on 404, with nothing read. Everything else that is not the whole, real file is a
 * DownloadError naming the URL: no response headers within connectTimeoutMs (a server that accepts the
 * connection and never answers), no body bytes for idleTimeoutMs, an error status, an HTML page (a login
 * or error page served in place of the file), or a body that breaks off or differs from Content-Length.
 */
export async function streamDownload(url: string, sink: (chunk: Uint8Array) => void | Promise<void>, onProgress?: ProgressCallback,
  options: DownloadOptions = {}): Promise<{ bytes: number; total?: number } | null> {
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const connectMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const controller = new AbortController();
  const fail = (reason: DownloadError['reason'], detail: string) => new DownloadError(url, reason, detail);

  let response: Response;
  try {
    response = await deadline(fetchImpl(url, { signal: controller.signal }), connectMs, controller,
      () => fail('timeout', `no response from the server within ${seconds(connectMs)} (connect timeout); it may be down or unreachable`));
  } catch (e) {
    if (e instanceof DownloadError) throw e;
    throw fail('network', `could not be fetched: ${errorText(e)}`);
  }
  if (response.status === 404) {
    await response.body?.cancel().catch(() => undefined);
    return null;
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => undefined);
    throw fail('http', `HTTP ${response.status} ${response.statusText}${response.status === 401 || response.status === 403 ? ' (a gated or private repository needs a token)' : ''}`);
  }
  const contentType = response.headers.get('content-type') ?? '';
  if (/^\s*text\/html\b/i.test(contentType)) {
    await response.body?.cancel().catch(() => undefined);
    throw fail('html', `the server answered with an HTML page (Content-Type ${contentType}), not the file: a login, error or landing page, or a wrong URL`);
  }
  // Content-Length counts the encoded bytes when the server compresses; the body arrives decoded.
  const encoding = response.headers.get('content-encoding');
  const length = encoding && encoding !== 'identity' ? NaN : Number(response.headers.get('content-length') ?? NaN);
  const total = Number.isSafeInteger(length) && length >= 0 ? length : undefined;
  const of = (n: number) => `${formatCount(n)}${total === undefined ? '' : ` of ${formatCount(total)}`} bytes`;

  let loaded = 0;
  const take = async (chunk: Uint8Array) => {
    if (loaded === 0 && chunk.byteLength > 0 && looksLikeHtml(chunk)) {
      throw fail('html', 'the server answered with an HTML page, not the file: a login, error or landing page, or a wrong URL');
    }
    loaded += chunk.byteLength;
    if (total !== undefined && loaded > total) throw fail('truncated', `the server sent more than the ${formatCount(total)} bytes its Content-Length announced`);
    await sink(chunk);
    onProgress?.({ file: url, loaded, total });
  };
  if (!response.body) {
    await take(new Uint8Array(await response.arrayBuffer()));
  } else {
    const reader = response.body.getReader();
    try {
      for (;;) {
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await deadline(reader.read(), idleMs, controller,
            () => fail('timeout', `no data for ${seconds(idleMs)} after ${of(loaded)} (idle timeout); the server stalled`));
        } catch (e) {
          if (e instanceof DownloadError) throw e;
          throw fail('truncated', `the download broke off after ${of(loaded)}: ${errorText(e)}`);
        }
        if (next.done) break;
        await take(next.value);
      }
    } catch (e) {
      controller.abort(e);
      await reader.cancel().catch(() => undefined);
      throw e;
    }
  }
  if (total !== undefined && loaded !== total) throw fail('truncated', `the download stopped at ${of(loaded)} (Content-Length); it is incomplete`);
  if (loaded === 0) onProgress?.({ file: url, loaded: 0, total: 0 });
  return { bytes: loaded, total };
}

/** `promise`, or a rejection with onTimeout() (aborting `controller`) when it takes longer than `ms`. */
function deadline<T>(promise: Promise<T>, ms: number, controller: AbortController, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const e = onTimeout();
      controller.abort(e);
      reject(e);
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toPrecision(3))} s`;
}

/** An error's message with its cause (fetch's "fetch failed" hides the reason, e.g. ECONNREFUSED, there). */
function errorText(e: unknown): string {
  const err = e as { message?: string; cause?: { message?: string; code?: string } };
  const cause = err?.cause?.message ?? err?.cause?.code;
  return `${err?.message ?? String(e)}${cause && !String(err?.message).includes(cause) ? ` (${cause})` : ''}`;
}

/** Whether a body starts like an HTML document (no model file or JSON does). */
function looksLikeHtml(head: Uint8Array): boolean {
  const text = new TextDecoder().decode(head.subarray(0, 64)).trimStart().toLowerCase();
  return text.startsWith('<!doctype html') || text.startsWith('<html');
}
