// gpu.js, loaded once, with the few of its types this backend uses. gpu.js compiles a kernel from its
// JavaScript source to GLSL (WebGL2 / WebGL1) or runs it as plain JavaScript ('cpu', what Node has
// without headless-gl). Kernels here are written as source TEXT (kernels.ts), not functions: a bundler's
// minifier rewrites function bodies into forms gpu.js's parser does not read.
//
// In Node, 'gpu.js' resolves to its CommonJS sources (exports { GPU, input, ... }); in a browser bundle to
// dist/gpu-browser.js, whose UMD export is the GPU class itself with input and friends attached to it.

/** The backends gpu.js can run these kernels on, best first. */
export type GpuJsMode = 'webgl2' | 'webgl' | 'cpu';

/** A kernel's result: a texture that stays on the GPU (pipeline: true), or arrays in 'cpu' mode. */
export type GpuJsValue = unknown;

export interface GpuJsKernel {
  (...args: unknown[]): GpuJsValue;
  destroy?(removeCanvasReferences?: boolean): void;
}

export interface GpuJsKernelSettings {
  output: number[];
  constants?: Record<string, number>;
  pipeline?: boolean;
  immutable?: boolean;
  precision?: 'single' | 'unsigned';
  optimizeFloatMemory?: boolean;
  tactic?: 'speed' | 'balanced' | 'precision';
}

export interface GpuJsInstance {
  mode: string;
  createKernel(source: string, settings: GpuJsKernelSettings): GpuJsKernel;
  destroy(): Promise<void> | void;
}

export interface GpuJsLibrary {
  GPU: { new (settings: { mode?: string }): GpuJsInstance; isWebGL2Supported: boolean; isWebGLSupported: boolean };
  input(values: Float32Array, size: number[]): unknown;
}

let library: Promise<GpuJsLibrary> | null = null;

/** gpu.js's GPU class and input(), whichever module shape the platform gave. */
export function loadGpuJs(): Promise<GpuJsLibrary> {
  library ??= import('gpu.js').then((m: Record<string, unknown>) => {
    const root = (m.default ?? m) as Record<string, unknown>;
    const GPU = (root.GPU ?? root) as GpuJsLibrary['GPU'] & { input?: GpuJsLibrary['input'] };
    const input = (root.input ?? GPU.input) as GpuJsLibrary['input'] | undefined;
    if (typeof GPU !== 'function' || typeof input !== 'function') throw new Error('gpu.js did not load: no GPU class or input() in its module');
    return { GPU, input };
  });
  return library;
}

/** The best mode this platform has (WebGL2, then WebGL), or 'cpu'. */
export function bestGpuJsMode(lib: GpuJsLibrary): GpuJsMode {
  if (lib.GPU.isWebGL2Supported) return 'webgl2';
  if (lib.GPU.isWebGLSupported) return 'webgl';
  return 'cpu';
}

/** A result read to the host as one row-major Float32Array (a texture's toArray() gives rows). */
export function readValue(v: GpuJsValue): Float32Array {
  const a = (v as { toArray?: () => unknown }).toArray ? (v as { toArray: () => unknown }).toArray() : v;
  if (a instanceof Float32Array) return a;
  const rows = a as ArrayLike<number>[];
  if (rows.length === 0) return new Float32Array(0);
  const width = rows[0].length;
  const out = new Float32Array(rows.length * width);
  for (let r = 0; r < rows.length; r++) out.set(rows[r], r * width);
  return out;
}

/** Frees a texture result (a no-op for 'cpu' arrays, which the garbage collector takes). */
export function releaseValue(v: GpuJsValue): void {
  (v as { delete?: () => void } | null)?.delete?.();
}
