/// <reference types="vite/client" />
// Step 0, the device: starts the engine in a Web Worker (or in the page, when a worker gets no WebGPU but
// the page does), shows the backend and adapter in the header pill, and, without WebGPU, the banner that
// says the model runs on gpu.js (WebGL) instead (src/backend.ts chooses), that training needs WebGPU,
// and where WebGPU works. Engine errors that no step awaits end up here too, as toasts.
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
  const noWebGpu = await whyNoWebGpu();
  let ready: Extract<Reply, { type: 'ready' }>;
  try {
    const worker = new Worker(engineUrl, { type: 'module' });
    worker.onmessage = (e: MessageEvent<Reply>) => receive(e.data);
    worker.onerror = (e) => receive({ type: 'error', during: 'init', name: 'WorkerError', message: e.message });
    connect((req) => worker.postMessage(req));
    ready = await call({ type: 'init', noWebGpu }, 'ready');
  } catch (workerError) {
    // A worker without WebGPU (some browsers expose it to pages only), or no worker: run the engine in the page.
    console.warn('engine: not in a Web Worker, running in the page:', (workerError as Error).message);
    const handle = (await pageEngine())((r) => receive(r), 'page');
    connect((req) => void handle(req));
    try {
      ready = await call({ type: 'init', noWebGpu }, 'ready');
    } catch (e) {
      return noEngine(`Neither WebGPU nor gpu.js (WebGL) could start: ${(e as Error).message}`);
    }
  }
  gpuPill.className = ready.backend === 'webgpu' ? 'pill ok' : 'pill pending';
  if (ready.backend !== 'webgpu') onGpuJs(ready.why, ready.training);
}

/** Why this page cannot run WebGPU (no navigator.gpu, or no adapter from it), or null when it can. */
async function whyNoWebGpu(): Promise<string | null> {
  if (!('gpu' in navigator) || !navigator.gpu) return 'This browser does not expose WebGPU (navigator.gpu is missing).';
  try {
    if (await navigator.gpu.requestAdapter()) return null;
    return 'navigator.gpu gave no adapter (WebGPU is switched off or this GPU is not supported).';
  } catch (e) {
    return `navigator.gpu gave no adapter: ${(e as Error).message}`;
  }
}

/** The model runs on gpu.js: say so, say why, and keep training off with the sentence that says why. */
function onGpuJs(why: string, training: string | null): void {
  const b = $('nogpu');
  b.hidden = false;
  b.innerHTML = `<b>WebGPU is not available here; the model runs on gpu.js (WebGL) instead.</b> ${escapeHtml(why)}
    Loading, XTF scoring and generation work on it; training needs WebGPU. ${WHERE_WEBGPU_WORKS}`;
  $('plan').className = 'plan bad';
  $('plan').textContent = training ?? '';
}

const WHERE_WEBGPU_WORKS = `WebGPU works in Chrome and Edge 113+ on Windows, macOS and ChromeOS; Chrome 121+ on Android; Safari 26+ (macOS, iOS);
    Firefox 141+ on Windows. On Linux, Chrome needs <code>chrome://flags/#enable-unsafe-webgpu</code> (and
    <code>#enable-vulkan</code>); Firefox Nightly needs <code>dom.webgpu.enabled</code> in <code>about:config</code>.`;

/** The engine for the page itself: the worker's own bundle, imported (not a second copy of the engine). */
async function pageEngine(): Promise<typeof createEngine> {
  await import(/* @vite-ignore */ engineUrl);
  return (globalThis as Record<symbol, unknown>)[PAGE_ENGINE] as typeof createEngine;
}

function noEngine(why: string): void {
  $('gpu').className = 'pill bad';
  $('gpu').textContent = 'no GPU backend';
  const b = $('nogpu');
  b.hidden = false;
  b.innerHTML = `<b>No backend could run the model here.</b> ${escapeHtml(why)} Training and scoring need WebGPU, or WebGL for scoring.
    ${WHERE_WEBGPU_WORKS}
    ${savedSomething() ? 'What this browser saved is below: the scores (move the thresholds, download the masked dataset), the runs side by side and their adapters.' : ''}`;
  for (const id of ['load-model', 'score', 'train']) $<HTMLButtonElement>(id).disabled = true;
}

/** The adapter the engine got, and the errors no step awaited. */
export function wireDevice(): void {
  listen((r) => {
    if (r.type === 'ready') {
      probe.ready = true;
      probe.where = r.where;
      probe.backend = r.backend;
      state.device = { features: r.features, limits: r.limits, backend: r.backend, training: r.training };
      $('gpu').textContent = `${r.backend === 'webgpu' ? r.adapter : `${r.adapter}, no WebGPU`} · ${r.where === 'worker' ? 'Web Worker' : 'main thread'}`;
      $('gpu').title = `features: ${r.features.join(', ') || 'none'}\nmax buffer: ${bytes(r.maxBufferBytes)}`;
    } else if (r.type === 'error') {
      probe.errors.push(`${r.during}: ${r.name}: ${r.message}`);
      if (r.during !== 'init') toast(`${r.name}: ${r.message}`);
    }
  });
}
