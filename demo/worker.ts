// The engine's one bundle. In a dedicated worker it answers the page's messages, so WebGPU work never
// blocks the page. When a worker gets no WebGPU, the page imports this same file and takes createEngine
// from it (a worker bundle keeps no exports, hence the global), so the built site ships the engine once.
import { createEngine } from './engine.ts';
import { PAGE_ENGINE, type Request } from './protocol.ts';

function serveMessages(): void {
  const scope = self as unknown as { postMessage(m: unknown, t?: Transferable[]): void; onmessage: ((e: MessageEvent<Request>) => void) | null };
  const handle = createEngine((reply, transfer) => scope.postMessage(reply, transfer ?? []), 'worker');
  // One request at a time, in order; 'stop' must get through while a training run is awaited.
  let queue = Promise.resolve();
  scope.onmessage = (e) => {
    if (e.data.type === 'stop') void handle(e.data);
    else queue = queue.then(() => handle(e.data));
  };
}

if ('WorkerGlobalScope' in globalThis) serveMessages();
else (globalThis as Record<symbol, unknown>)[PAGE_ENGINE] = createEngine;
