// Dawn's Node binding (the `webgpu` package) waits for GPU work by re-arming a setImmediate
// callback that polls its event queue for as long as any promise (onSubmittedWorkDone, mapAsync)
// is pending. That busy loop occupies a whole core, and on a CPU adapter (SwiftShader) the core it
// takes is one the "GPU" would have computed on: on a 2-core machine matmul runs ~1.7x slower.
//
// This routes those polls (and only those: Dawn passes a native function, scripts pass JS ones)
// through setTimeout(…, 0), so the main thread sleeps ~1 ms between polls. It applies to every
// WebGPU client in the process alike (this project's runtime and TensorFlow.js here). device.ts
// installs it while a Dawn instance is alive and restores setImmediate when the last one is released.

type Immediate = typeof setImmediate;

let original: Immediate | null = null;

const isNative = (fn: unknown) => typeof fn === 'function' && Function.prototype.toString.call(fn).includes('[native code]');

export function installQuietWait(): void {
  if (original) return;
  const immediate = globalThis.setImmediate;
  original = immediate;
  const quiet = (fn: (...args: unknown[]) => void, ...args: unknown[]) =>
    isNative(fn) ? (setTimeout(fn, 0, ...args) as unknown as NodeJS.Immediate) : immediate(fn, ...args);
  globalThis.setImmediate = Object.assign(quiet, { __promisify__: immediate.__promisify__ }) as Immediate;
}

export function uninstallQuietWait(): void {
  if (!original) return;
  globalThis.setImmediate = original;
  original = null;
}
