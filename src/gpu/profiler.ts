// GPU time per kernel through timestamp queries: each profiled dispatch runs in its own compute pass
// with begin/end timestamps. For benchmarks and tuning only (separate passes cost a little).
export interface KernelTime {
  kernel: string;
  calls: number;
  totalMs: number;
}

const CAPACITY = 2048; // dispatches per report (WebGPU allows at most 4096 queries per set)

export class KernelProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private labels: string[] = [];

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * CAPACITY });
    this.resolveBuffer = device.createBuffer({ size: 16 * CAPACITY, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  /** Pass descriptor for the next dispatch, or null once the capacity is used up. */
  passFor(label: string): GPUComputePassDescriptor | null {
    const i = this.labels.length;
    if (i >= CAPACITY) return null;
    this.labels.push(label);
    return { timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } };
  }

  /** Resolve everything recorded (the commands must have been submitted) and reset. */
  async collect(): Promise<KernelTime[]> {
    const n = this.labels.length;
    if (n === 0) return [];
    const readback = this.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    enc.copyBufferToBuffer(this.resolveBuffer, 0, readback, 0, 16 * n);
    this.device.queue.submit([enc.finish()]);
    await readback.mapAsync(GPUMapMode.READ);
    const stamps = new BigUint64Array(readback.getMappedRange().slice(0));
    readback.unmap();
    readback.destroy();
    const byKernel = new Map<string, KernelTime>();
    this.labels.forEach((label, i) => {
      const ms = Number(stamps[2 * i + 1] - stamps[2 * i]) / 1e6;
      const k = byKernel.get(label) ?? { kernel: label, calls: 0, totalMs: 0 };
      k.calls++;
      k.totalMs += ms;
      byKernel.set(label, k);
    });
    this.labels = [];
    return [...byKernel.values()].sort((a, b) => b.totalMs - a.totalMs);
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}
