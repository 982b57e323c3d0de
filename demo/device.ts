/// <reference types="vite/client" />
// Step 0, the device: starts the engine in a Web Worker (or in the page, when a worker gets no WebGPU),
// shows the adapter in the header pill, and, without WebGPU, the banner that says where it works.
// Engine errors that no step awaits end up here too, as toasts.
import { formatBytes as bytes } from '../src/gpu/errors.ts';
import { escapeHtml } from '../src/report/html.ts';
import { call, connect, listen, receive } from './connection.ts';
import { $, toast } from './dom.ts';
import type { createEngine } from './engine.ts';
import { PAGE_ENGINE, type Reply } from './protocol.ts';
import { savedSomething } from './saved.ts';
import { probe, state } from './session.ts';
import engineUrl from './worker.ts?worker&url';

export async function startEngine(): Promise<void> {
  const gpuPill = $('gpu');
  if (!('gpu' in navigator) || !navigator.gpu) return noWebGpu('This browser does not expose WebGPU (navigator.gpu is missing).');
  try {
    const worker = new Worker(engineUrl, { type: 'module' });
    worker.onmessage = (e: MessageEvent<Reply>) => receive(e.data);
    worker.onerror = (e) => receive({ type: 'error', during: 'init', name: 'WorkerError', message: e.message });
    connect((req) => worker.postMessage(req));
    await call({ type: 'init' }, 'ready');
  } catch (workerError) {
    // A worker without WebGPU (some browsers expose it to pages only): run the engine in the page.
    console.warn('engine: no WebGPU in a worker, running in the page:', (workerError as Error).message);
    const handle = (await pageEngine())((r) => receive(r), 'page');
    connect((req) => void handle(req));
    try {
      await call({ type: 'init' }, 'ready');
    } catch (e) {
      return noWebGpu(`WebGPU is present but no adapter was granted: ${(e as Error).message}`);
    }
  }
  gpuPill.className = 'pill ok';
}

/** The engine for the page itself: the worker's own bundle, imported (not a second copy of the engine). */
async function pageEngine(): Promise<typeof createEngine> {
  await import(/* @vite-ignore */ engineUrl);
  return (globalThis as Record<symbol, unknown>)[PAGE_ENGINE] as typeof createEngine;
}

function noWebGpu(why: string): void {
  $('gpu').className = 'pill bad';
  $('gpu').textContent = 'no WebGPU';
  const b = $('nogpu');
  b.hidden = false;
  b.innerHTML = `<b>WebGPU is not available here.</b> ${escapeHtml(why)} Training and scoring need it. It works in
    Chrome and Edge 113+ on Windows, macOS and ChromeOS; Chrome 121+ on Android; Safari 26+ (macOS, iOS);
    Firefox 141+ on Windows. On Linux, Chrome needs <code>chrome://flags/#enable-unsafe-webgpu</code> (and
    <code>#enable-vulkan</code>); Firefox Nightly needs <code>dom.webgpu.enabled</code> in <code>about:config</code>.
    ${savedSomething() ? 'What this browser saved is below: the scores (move the thresholds, download the masked dataset), the runs side by side and their adapters.' : ''}`;
  for (const id of ['load-model', 'score', 'train']) $<HTMLButtonElement>(id).disabled = true;
}

/** The adapter the engine got, and the errors no step awaited. */
export function wireDevice(): void {
  listen((r) => {
    if (r.type === 'ready') {
      probe.ready = true;
      probe.where = r.where;
      state.device = { features: r.features, limits: r.limits };
      $('gpu').textContent = `${r.adapter} · ${r.where === 'worker' ? 'Web Worker' : 'main thread'}`;
      $('gpu').title = `features: ${r.features.join(', ') || 'none'}\nmax buffer: ${bytes(r.maxBufferBytes)}`;
    } else if (r.type === 'error') {
      probe.errors.push(`${r.during}: ${r.name}: ${r.message}`);
      if (r.during !== 'init') toast(`${r.name}: ${r.message}`);
    }
  });
}
