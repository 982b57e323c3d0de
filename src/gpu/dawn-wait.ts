// Dawn's Node binding (the `webgpu` package) waits for GPU work by re-arming a setImmediate
// callback that polls its event queue for as long as any promise (onSubmittedWorkDone, mapAsync)
// is pending. That busy loop occupies a whole core, and on a CPU adapter (SwiftShader) the core it
// takes is one the "GPU" would have computed on: on a 2-core machine matmul runs ~1.7x slower.
//
// This routes those polls (and only those: Dawn passes a native function, scripts pass JS ones)
// through setTimeout(…, 0), so the main thread sleeps ~1 ms between polls. A wait's first 10 ms
// poll every 0.2 ms instead, the thread asleep in between (Atomics.wait takes no core): a short wait
// (a decode step's logits, ~5 ms on stories260K) then ends within 0.2 ms of the GPU finishing, not
// up to 1 ms later, which made greedy decoding of one prompt about 1.2x faster (docs/speed.md). It applies to every
// WebGPU client in the process alike (this project's runtime and TensorFlow.js here). device.ts
// installs it while a Dawn instance is alive and restores setImmediate when the last one is released.

// Typed locally: this file is also type-checked by Deno, which has no Node typings.
type Callback = (...args: unknown[]) => void;
type Immediate = ((fn: Callback, ...args: unknown[]) => unknown) & { __promisify__?: unknown };
const host = globalThis as unknown as { setImmediate?: Immediate; setTimeout: (fn: Callback, ms: number, ...args: unknown[]) => unknown };

let original: Immediate | null = null;

/** Polls of a wait made at the short interval, and that interval (ms); a gap longer than NEW_WAIT_MS
 *  between polls means the previous wait ended, so the next poll starts a new wait. */
const SHORT_POLLS = 50;
const SHORT_POLL_MS = 0.2;
const NEW_WAIT_MS = 2;

const isNative = (fn: unknown) => typeof fn === 'function' && Function.prototype.toString.call(fn).includes('[native code]');

export function installQuietWait(): void {
  const immediate = host.setImmediate;
  if (original || !immediate) return;
  original = immediate;
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  let lastPoll = -Infinity;
  let polls = 0;
  const quiet = (fn: Callback, ...args: unknown[]) => {
    if (!isNative(fn)) return immediate(fn, ...args);
    const now = performance.now();
    if (now - lastPoll > NEW_WAIT_MS) polls = 0;
    lastPoll = now;
    if (polls++ >= SHORT_POLLS) return host.setTimeout(fn, 0, ...args);
    Atomics.wait(sleeper, 0, 0, SHORT_POLL_MS);
    return immediate(fn, ...args);
  };
  host.setImmediate = Object.assign(quiet, { __promisify__: immediate.__promisify__ });
}

export function uninstallQuietWait(): void {
  if (!original) return;
  host.setImmediate = original;
  original = null;
}
