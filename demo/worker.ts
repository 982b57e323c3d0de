// The engine in a dedicated worker: WebGPU work never blocks the page.
import { createEngine } from './engine.ts';
import type { Request } from './protocol.ts';

const scope = self as unknown as { postMessage(m: unknown, t?: Transferable[]): void; onmessage: ((e: MessageEvent<Request>) => void) | null };
const handle = createEngine((reply, transfer) => scope.postMessage(reply, transfer ?? []), 'worker');
// One request at a time, in order; 'stop' must get through while a training run is awaited.
let queue = Promise.resolve();
scope.onmessage = (e) => {
  if (e.data.type === 'stop') void handle(e.data);
  else queue = queue.then(() => handle(e.data));
};
