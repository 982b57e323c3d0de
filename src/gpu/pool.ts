// A buffer pool that recycles GPU buffers by size class and usage, and counts bytes
// (current and peak) so memory reports and budgets see every allocation.
import { LimitExceededError, OutOfMemoryError } from './errors.ts';

const LARGE_BUFFER = 16 * 2 ** 20;

/** Round a request up to its size class: multiples of 256 B below 64 KiB, then 1/8 steps of
 *  the power of two (at most 12.5% waste), 1/64 steps past 16 MiB, so buffers of nearly equal size
 *  share a class. */
export function sizeClass(bytes: number): number {
  const n = Math.max(16, bytes);
  if (n <= 65536) return Math.ceil(n / 256) * 256;
  // Eight classes per power of two (at most 12.5% waste) lets activations of nearby sizes share buffers;
  // past 16 MiB (weights, logits, the embedding) the waste is real memory a budget must hold, so 64 classes.
  const log2 = Math.floor(Math.log2(n));
  const step = 2 ** (log2 - (n > LARGE_BUFFER ? 6 : 3));
  return Math.ceil(n / step) * step;
}

export interface MemoryStats {
  /** Bytes of every live GPU buffer this pool created (in use or waiting in the pool). */
  allocatedBytes: number;
  /** Bytes handed out and not yet released. */
  inUseBytes: number;
  /** Highest `inUseBytes` seen since creation or the last `resetPeak()`. */
  peakInUseBytes: number;
  /** Highest `allocatedBytes` seen. */
  peakAllocatedBytes: number;
  buffers: number;
}

export interface PoolLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
  /** Optional budget: allocations beyond it fail before the device is asked. */
  budgetBytes?: number;
  /** Idle (pooled, unused) bytes kept for reuse; beyond it the longest-idle buffers are destroyed.
   *  Default: the larger of 256 MiB and the peak in use, so a steady training loop never re-allocates
   *  while work with ever-changing shapes (scoring padded batches) cannot grow without bound. */
  maxIdleBytes?: number;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  /** When each idle buffer was returned (submit count), to destroy the longest-idle first. */
  private idleSince = new Map<GPUBuffer, number>();
  private submits = 0;
  /** Released while commands that use them may still be unsubmitted: recycled at the next submit. */
  private deferred: GPUBuffer[] = [];
  private stats: MemoryStats = { allocatedBytes: 0, inUseBytes: 0, peakInUseBytes: 0, peakAllocatedBytes: 0, buffers: 0 };
  /** OOM errors are reported asynchronously by error scopes; the runtime awaits these at sync points. */
  readonly pendingChecks: Promise<Error | null>[] = [];

  constructor(private readonly device: GPUDevice, private readonly limits: PoolLimits) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, what = 'a tensor'): GPUBuffer {
    const storage = (usage & 0x80) !== 0; // GPUBufferUsage.STORAGE
    const bindLimit = storage ? this.limits.maxStorageBufferBindingSize : this.limits.maxBufferSize;
    if (bytes > bindLimit) {
      throw new LimitExceededError(
        storage ? 'maxStorageBufferBindingSize' : 'maxBufferSize',
        bytes,
        bindLimit,
        what,
        'Lower the batch size or sequence length (or split the tensor).',
      );
    }
    const size = Math.min(sizeClass(bytes), bindLimit);
    const key = `${size}:${usage}`;
    const reused = this.free.get(key)?.pop();
    if (reused) {
      this.idleSince.delete(reused);
      this.markInUse(size);
      return reused;
    }
    const budget = this.limits.budgetBytes;
    if (budget !== undefined && this.stats.allocatedBytes + size > budget) {
      this.trim();
      if (this.stats.allocatedBytes + size > budget) throw new OutOfMemoryError(`allocating ${what} (budget ${budget} B)`, size, this.stats.allocatedBytes);
    }
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size, usage, label: what });
    const allocated = this.stats.allocatedBytes;
    this.pendingChecks.push(
      this.device.popErrorScope().then((e) => (e ? new OutOfMemoryError(`allocating ${what}`, size, allocated) : null)),
    );
    this.stats.allocatedBytes += size;
    this.stats.buffers++;
    this.stats.peakAllocatedBytes = Math.max(this.stats.peakAllocatedBytes, this.stats.allocatedBytes);
    this.markInUse(size);
    return buffer;
  }

  /** Return a buffer. It becomes reusable after the next submit, since recorded but unsubmitted
   *  commands may still read it. */
  release(buffer: GPUBuffer): void {
    this.stats.inUseBytes -= buffer.size;
    this.deferred.push(buffer);
  }

  /** Called by the runtime after each queue submit. */
  recycleDeferred(): void {
    this.submits++;
    for (const b of this.deferred) {
      const key = `${b.size}:${b.usage}`;
      let list = this.free.get(key);
      if (!list) this.free.set(key, (list = []));
      list.push(b);
      this.idleSince.set(b, this.submits);
    }
    this.deferred = [];
    const limit = this.limits.maxIdleBytes ?? Math.max(256 * 2 ** 20, this.stats.peakInUseBytes);
    if (this.stats.allocatedBytes - this.stats.inUseBytes - this.deferredBytes() > limit) this.evictIdle(limit / 2);
  }

  private deferredBytes(): number {
    let n = 0;
    for (const b of this.deferred) n += b.size;
    return n;
  }

  /** Destroy the longest-idle buffers until at most `keepBytes` idle bytes remain. */
  private evictIdle(keepBytes: number): void {
    let idle = this.stats.allocatedBytes - this.stats.inUseBytes;
    const oldestFirst = [...this.idleSince].sort((a, b) => a[1] - b[1]);
    for (const [b] of oldestFirst) {
      if (idle <= keepBytes) break;
      const list = this.free.get(`${b.size}:${b.usage}`);
      const at = list ? list.indexOf(b) : -1;
      if (at < 0) continue;
      list!.splice(at, 1);
      this.idleSince.delete(b);
      idle -= b.size;
      this.stats.allocatedBytes -= b.size;
      this.stats.buffers--;
      b.destroy();
    }
  }

  /** Destroy every idle buffer (frees memory between phases, e.g. scoring then training). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const b of list) {
        this.stats.allocatedBytes -= b.size;
        this.stats.buffers--;
        b.destroy();
      }
    }
    this.free.clear();
    this.idleSince.clear();
  }

  get budgetBytes(): number | undefined {
    return this.limits.budgetBytes;
  }

  memory(): MemoryStats {
    return { ...this.stats };
  }

  resetPeak(): void {
    this.stats.peakInUseBytes = this.stats.inUseBytes;
  }

  private markInUse(size: number): void {
    this.stats.inUseBytes += size;
    this.stats.peakInUseBytes = Math.max(this.stats.peakInUseBytes, this.stats.inUseBytes);
  }
}
