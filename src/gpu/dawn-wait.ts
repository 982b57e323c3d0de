// Dawn's Node binding (the `webgpu` package) waits for GPU work by re-arming a setImmediate
// callback that polls its event queue for as long as any promise (onSubmittedWorkDone, mapAsync)
// is pending. That busy loop occupies a whole core, and on a CPU adapter (SwiftShader) the core it
// takes is one the "GPU" would have computed on: on a 2-core machine matmul runs ~1.7x slower.
//
// This routes those polls (and only those: Dawn passes a native function, scripts pass JS ones)
// through setTimeout(…, 0), so the main thread sleeps ~1 ms between polls. It applies to every
// WebGPU client in the process alike (this project's runtime and TensorFlow.js here). device.ts
// installs it while a Dawn instance is alive and restores setImmediate when the last one is released.

// Typed locally: this file is also type-checked by Deno, which has no Node typings.
type Callback = (...args: unknown[]) => void;
type Immediate = ((fn: Callback, ...args: unknown[]) => unknown) & { __promisify__?: unknown };
const host = globalThis as unknown as { setImmediate?: Immediate; setTimeout: (fn: Callback, ms: number, ...args: unknown[]) => unknown };

let original: Immediate | null = null;

const isNative = (fn: unknown) => typeof fn === 'function' && Function.prototype.toString.call(fn).includes('[native code]');

export function installQuietWait(): void {
  const immediate = host.setImmediate;
  if (original || !immediate) return;
  original = immediate;
  const quiet = (fn: Callback, ...args: unknown[]) => (isNative(fn) ? host.setTimeout(fn, 0, ...args) : immediate(fn, ...args));
  host.setImmediate = Object.assign(quiet, { __promisify__: immediate.__promisify__ });
}

export function uninstallQuietWait(): void {
  if (!original) return;
  host.setImmediate = original;
  original = null;
}
