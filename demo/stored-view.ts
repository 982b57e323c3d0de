// The stored models and data on the page: the model card's list of what Cache Storage holds (each with
// its size and a button that removes it), the download progress bar, and the words that say where a
// loaded file came from ("loaded from this browser's storage"). The storing itself is stored-files.ts.
import { formatBytes as bytes } from '../src/gpu/errors.ts';
import { escapeHtml } from '../src/report/html.ts';
import { $, toast } from './dom.ts';
import { when } from './format.ts';
import { pageWorksOffline } from './offline.ts';
import { clearStored, freeBytes, listStored, onStoreEvent, removeStored, type StoredFile, type StoreEvent } from './stored-files.ts';

/** Read by the end-to-end tests as window.__stored: every event seen, what is stored, how often the list
 *  was drawn and the download bar was moved. */
export const storedProbe = { events: [] as StoreEvent[], files: [] as StoredFile[], renders: 0, downloadProgress: 0 };
(window as unknown as { __stored: typeof storedProbe }).__stored = storedProbe;

/** The events of the load in progress (one load at a time), and who waits for its entry file's. */
let hearing: { events: StoreEvent[]; entry?: string; wake?: () => void } | null = null;

export function wireStoredFiles(): void {
  onStoreEvent((e) => {
    storedProbe.events.push(e);
    if (hearing) {
      hearing.events.push(e);
      if (e.url === hearing.entry && e.type !== 'damaged') hearing.wake?.();
    }
    if (e.type === 'damaged') toast(`The stored copy of ${fileName(e.url)} was damaged (${e.why}); it was removed and is fetched again.`);
    if (e.type === 'not-stored') toast(`${fileName(e.url)} is loaded but not stored: ${e.why}.`);
    if (e.type !== 'read') void renderStored();
  });
  $('stored-files').addEventListener('click', (e) => {
    const button = (e.target as HTMLElement).closest<HTMLButtonElement>('button[data-remove]');
    if (!button) return;
    const url = button.dataset.remove!;
    void (url === '*' ? clearStored() : removeStored(url)).then(renderStored);
  });
  void renderStored();
}

/**
 * Collects what the engine's worker announces while a model loads. `heard` (called once the load is done)
 * gives those events; for a file URL it waits a little for that file's own event, which travels on
 * another channel than the engine's reply and may come just after it.
 */
export function hearLoad(entry?: string): { heard(): Promise<StoreEvent[]> } {
  const h: NonNullable<typeof hearing> = { events: [], entry };
  hearing = h;
  return {
    heard: async () => {
      const has = () => h.events.some((e) => e.url === entry && e.type !== 'damaged');
      if (entry && !has()) await new Promise<void>((resolve) => ((h.wake = resolve), setTimeout(resolve, 1000)));
      if (hearing === h) hearing = null;
      return h.events;
    },
  };
}

/** Where loaded files came from, after `origin` (the address in words): this browser's storage, or
 *  downloaded (and stored, or not, and why); a damaged stored copy that was fetched again is named. */
export function storageNote(origin: string, events: StoreEvent[]): string {
  const damaged = events.flatMap((e) => (e.type === 'damaged' ? [`${fileName(e.url)}: ${e.why}`] : []));
  const was = damaged.length ? ` (damaged stored copy fetched again: ${damaged.join('; ')})` : '';
  const last = new Map(events.filter((e) => e.type !== 'damaged').map((e) => [e.url, e]));
  const final = [...last.values()];
  if (final.length === 0) return `${origin}${was}`;
  if (final.every((e) => e.type === 'read')) return `${origin} · loaded from this browser's storage, no download`;
  const refused = final.find((e) => e.type === 'not-stored');
  if (refused?.type === 'not-stored') return `${origin} · not stored: ${refused.why}${was}`;
  return `${origin} · now stored in this browser${was}`;
}

/** The model download's progress bar: shown while bytes come over the network, hidden once complete. */
export function showDownload(loaded: number, total: number | undefined): void {
  const bar = $('model-progress');
  bar.hidden = total === undefined || loaded >= total;
  storedProbe.downloadProgress++;
  if (total) $('model-bar').style.width = `${Math.min(100, (100 * loaded) / total).toFixed(1)}%`;
}

/** The model card's list of stored files, and the size the "Clear saved state" choice names. */
export async function renderStored(): Promise<void> {
  const files = await listStored().catch(() => []);
  const free = await freeBytes();
  storedProbe.files = files;
  const total = files.reduce((n, f) => n + f.bytes, 0);
  const page = pageWorksOffline() ? 'This page is stored for use without a network. ' : '';
  const room = Number.isFinite(free) ? ` · ${bytes(free)} free by the browser's estimate` : '';
  $('stored-files').innerHTML = files.length === 0
    ? `<p class="small muted">${page}No model or data stored in this browser yet: the default model and data are stored on their first download, and load from here afterwards, also without a network.</p>`
    : `<p class="small"><b>Stored in this browser</b> (Cache Storage): ${files.length} file${files.length > 1 ? 's' : ''}, ${bytes(total)}${room}. ${page}<button type="button" class="link" data-remove="*">remove all</button></p>` +
      `<ul class="small">${files.map((f) => `<li data-url="${escapeHtml(f.url)}"><code>${escapeHtml(fileName(f.url))}</code> <span class="muted">${escapeHtml(new URL(f.url).host)} · ${bytes(f.bytes)} · stored ${escapeHtml(when(f.storedAt))}</span> <button type="button" class="link" data-remove="${escapeHtml(f.url)}">remove</button></li>`).join('')}</ul>`;
  $('clear-stored-choice').hidden = files.length === 0;
  $('clear-stored-size').textContent = bytes(total);
  storedProbe.renders++;
}

const fileName = (url: string) => decodeURIComponent(new URL(url).pathname.split('/').pop() || url);
