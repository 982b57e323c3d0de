// A tensor is a GPU buffer with a shape and a dtype. Host copies happen only through
// Runtime.upload / Runtime.read, at the edges (loading, logging, export).
import type { Runtime } from './runtime.ts';

/** f16 is reserved for devices with `shader-f16`; every kernel today is f32. */
export type DType = 'f32' | 'f16' | 'u32' | 'i32';

export const DTYPE_BYTES: Record<DType, number> = { f32: 4, f16: 2, u32: 4, i32: 4 };

export type HostArray = Float32Array | Uint32Array | Int32Array | Uint16Array;

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`bad tensor shape [${shape.join(', ')}]: dimensions must be non-negative integers`);
    n *= d;
  }
  return n;
}

export class Tensor {
  private released = false;

  constructor(
    readonly runtime: Runtime,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    readonly label = 'tensor',
    /** Set on views: the tensor that owns the buffer. */
    readonly owner: Tensor | null = null,
  ) {}

  /** The same buffer under another shape with the same number of elements (no copy). Releasing a
   *  view releases the buffer it shares with its owner. */
  view(shape: readonly number[], label = this.label): Tensor {
    if (numel(shape) !== this.size) throw new RangeError(`cannot view ${this} as [${shape.join(', ')}]: ${numel(shape)} elements, not ${this.size}`);
    return new Tensor(this.runtime, this.buffer, shape, this.dtype, label, this.owner ?? this);
  }

  /** The first numel(shape) elements under a new shape: e.g. the filled rows of a KV cache. */
  prefix(shape: readonly number[], label = this.label): Tensor {
    if (numel(shape) > this.size) throw new RangeError(`cannot take a [${shape.join(', ')}] prefix of ${this}: ${numel(shape)} elements, it has ${this.size}`);
    return new Tensor(this.runtime, this.buffer, shape, this.dtype, label, this.owner ?? this);
  }

  get size(): number {
    return numel(this.shape);
  }

  get byteLength(): number {
    return this.size * DTYPE_BYTES[this.dtype];
  }

  /** Copy to the host (waits for the GPU). */
  read(): Promise<HostArray> {
    return this.runtime.read(this);
  }

  /** Give the buffer back to the pool; the tensor must not be used afterwards. */
  release(): void {
    if (this.owner) return this.owner.release();
    if (this.released) return;
    this.released = true;
    this.runtime.pool.release(this.buffer);
  }

  get isReleased(): boolean {
    return this.owner ? this.owner.isReleased : this.released;
  }

  toString(): string {
    return `Tensor(${this.label}, [${this.shape.join('x')}], ${this.dtype})`;
  }
}
