// The GPU runtime: one device, its buffer pool, pipeline cache and a command encoder that
// collects every dispatch until a sync point, so a training step is one submit.
import { acquireDevice, type AcquiredDevice, type AdapterReport, type DeviceOptions } from './device.ts';
import { DeviceLostError, GpuValidationError, LimitExceededError } from './errors.ts';
import { BufferPool, type MemoryStats } from './pool.ts';
import { PipelineCache, type OverrideConstants } from './pipelines.ts';
import { paramsBindingFor, type ParamsBinding } from './params-binding.ts';
import { KernelProfiler, type KernelTime } from './profiler.ts';
import { DTYPE_BYTES, numel, Tensor, type DType, type HostArray } from './tensor.ts';
import { wgsl } from '../shaders/wgsl.generated.ts';

export interface RuntimeOptions extends DeviceOptions {
  /** Refuse allocations beyond this many bytes (checked before the device is asked). */
  budgetBytes?: number;
}

export interface Dispatch {
  /** Name of a file in src/shaders without `.wgsl`. */
  shader: string;
  entryPoint?: string;
  constants?: OverrideConstants;
  /** Bound at @group(0) @binding(0): a uniform buffer, or a read-only storage buffer where paramsBinding says so. */
  uniforms: ArrayBuffer;
  /** Storage buffers bound at @binding(1), @binding(2), ... in order. */
  bindings: (Tensor | GPUBuffer)[];
  workgroups: [number, number?, number?];
}

// WebGPU's flag values are fixed by the spec; spelled out because GPUBufferUsage and GPUMapMode
// are globals in Node only once Dawn's globals are installed.
const MAP_READ = 0x01, COPY_SRC = 0x04, COPY_DST = 0x08, UNIFORM = 0x40, STORAGE = 0x80;
const STORAGE_USAGE = STORAGE | COPY_SRC | COPY_DST;
const MAP_MODE_READ = 0x1;

export class Runtime {
  readonly device: GPUDevice;
  readonly report: AdapterReport;
  /** Where kernels read their parameters on this adapter (src/gpu/params-binding.ts). */
  readonly paramsBinding: { binding: ParamsBinding; why: string };
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pendingDispatches = 0;
  private uniformCache = new Map<string, GPUBuffer>();
  private lostError: DeviceLostError | null = null;
  private uncaptured: Error[] = [];
  private destroyed = false;
  private profiler: KernelProfiler | null = null;

  private constructor(private readonly acquired: AcquiredDevice, options: RuntimeOptions) {
    this.device = acquired.device;
    this.report = acquired.report;
    this.pool = new BufferPool(this.device, {
      maxBufferSize: this.device.limits.maxBufferSize,
      maxStorageBufferBindingSize: this.device.limits.maxStorageBufferBindingSize,
      budgetBytes: options.budgetBytes,
    });
    this.paramsBinding = paramsBindingFor(this.report);
    this.pipelines = new PipelineCache(this.device, this.paramsBinding.binding);
    void acquired.lost.then((e) => {
      if (e) this.lostError = e;
    });
    const onError = (ev: Event) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.uncaptured.push(new GpuValidationError('a command', err?.message ?? String(err)));
    };
    if (typeof this.device.addEventListener === 'function') this.device.addEventListener('uncapturederror', onError);
    else (this.device as { onuncapturederror: unknown }).onuncapturederror = onError;
  }

  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    return new Runtime(await acquireDevice(options), options);
  }

  hasFeature(name: string): boolean {
    return this.device.features.has(name);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** A new tensor with undefined contents (pooled buffers are not cleared). */
  empty(shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    this.assertUsable();
    const bytes = numel(shape) * DTYPE_BYTES[dtype];
    const buffer = this.pool.acquire(Math.max(4, bytes), STORAGE_USAGE, `${label} [${shape.join('x')}]`);
    return new Tensor(this, buffer, shape, dtype, label);
  }

  zeros(shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    const t = this.empty(shape, dtype, label);
    this.clear(t);
    return t;
  }

  /** Zero a tensor in stream order (recorded with the other commands). */
  clear(t: Tensor): void {
    this.endPass();
    this.ensureEncoder().clearBuffer(t.buffer, 0, Math.ceil(t.byteLength / 4) * 4);
    this.pendingDispatches++;
  }

  upload(data: HostArray | number[], shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    const n = numel(shape);
    if (data.length !== n) throw new RangeError(`${label}: ${data.length} values given for shape [${shape.join(', ')}] (${n} expected)`);
    const t = this.empty(shape, dtype, label);
    this.write(t, data);
    return t;
  }

  /** Overwrite a tensor from the host. Pending commands are submitted first so that they
   *  see the old contents (queue writes otherwise overtake unsubmitted commands). */
  write(t: Tensor, data: HostArray | number[]): void {
    if (this.pendingDispatches > 0) this.submit();
    const typed = Array.isArray(data) ? toTyped(data, t.dtype) : data;
    if (typed.byteLength > t.buffer.size) throw new RangeError(`${t}: ${typed.byteLength} bytes do not fit`);
    // writeBuffer needs a multiple of 4 bytes (f16 tensors of odd length).
    const padded = typed.byteLength % 4 === 0 ? typed : padTo4(typed);
    this.device.queue.writeBuffer(t.buffer, 0, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** Record one compute dispatch. Nothing runs until `submit()`, `sync()` or `read()`. */
  dispatch(d: Dispatch): void {
    this.assertUsable();
    const code = wgsl[d.shader];
    if (code === undefined) throw new Error(`unknown shader '${d.shader}' (no src/shaders/${d.shader}.wgsl; run npm run prepare?)`);
    const [x, y = 1, z = 1] = d.workgroups;
    const maxGroups = this.device.limits.maxComputeWorkgroupsPerDimension;
    for (const [axis, n] of [['x', x], ['y', y], ['z', z]] as const) {
      if (n > maxGroups) throw new LimitExceededError('maxComputeWorkgroupsPerDimension', n, maxGroups, `${d.shader} (axis ${axis})`, 'Lower the batch size or sequence length.');
    }
    if (x === 0 || y === 0 || z === 0) return;
    const pipeline = this.pipelines.get(d.shader, code, d.entryPoint ?? 'main', d.constants);
    const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: this.uniformBuffer(d.uniforms) } }];
    d.bindings.forEach((b, i) => {
      const buffer = b instanceof Tensor ? b.buffer : b;
      if (b instanceof Tensor && b.isReleased) throw new Error(`${d.shader}: binding ${i + 1} is a released ${b}`);
      entries.push({ binding: i + 1, resource: { buffer } });
    });
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = this.ensurePass(this.profiler ? `${d.shader}.${d.entryPoint ?? 'main'}` : undefined);
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.endPass();
    this.pendingDispatches++;
  }

  /** Copy `elements` values between tensors in stream order, at element offsets (e.g. new rows into a
   *  KV cache). Defaults: everything that fits, from the start of both. */
  copy(src: Tensor, dst: Tensor, elements = Math.min(src.size, dst.size), srcOffset = 0, dstOffset = 0): void {
    const bytesPer = DTYPE_BYTES[src.dtype];
    if (DTYPE_BYTES[dst.dtype] !== bytesPer) throw new RangeError(`copy: ${src} and ${dst} differ in element size`);
    if (srcOffset + elements > src.size || dstOffset + elements > dst.size) {
      throw new RangeError(`copy: ${elements} elements from ${src} at ${srcOffset} to ${dst} at ${dstOffset} run past the end`);
    }
    if (((elements | srcOffset | dstOffset) * bytesPer) % 4 !== 0) throw new RangeError('copy: offsets and sizes must be multiples of 4 bytes');
    if (elements === 0) return;
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(src.buffer, srcOffset * bytesPer, dst.buffer, dstOffset * bytesPer, elements * bytesPer);
    this.pendingDispatches++;
  }

  /** Submit everything recorded so far. Does not wait. */
  submit(): void {
    if (this.encoder) {
      this.endPass();
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.pendingDispatches = 0;
    }
    // Released buffers may be reused once the commands that read them are on the queue.
    this.pool.recycleDeferred();
  }

  /** Submit, wait for the GPU, and throw any error the device reported meanwhile. */
  async sync(): Promise<void> {
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
    await this.throwPendingErrors();
  }

  async read(t: Tensor): Promise<HostArray> {
    const bytes = Math.ceil(t.byteLength / 4) * 4;
    const staging = this.pool.acquire(Math.max(4, bytes), MAP_READ | COPY_DST, `readback of ${t.label}`);
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
    this.submit();
    try {
      await staging.mapAsync(MAP_MODE_READ, 0, bytes);
    } catch (e) {
      await this.throwPendingErrors();
      throw e;
    }
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    this.pool.release(staging);
    await this.throwPendingErrors();
    switch (t.dtype) {
      case 'f32':
        return new Float32Array(copy, 0, t.size);
      case 'u32':
        return new Uint32Array(copy, 0, t.size);
      case 'i32':
        return new Int32Array(copy, 0, t.size);
      case 'f16':
        return new Uint16Array(copy, 0, t.size);
    }
  }

  memory(): MemoryStats {
    return this.pool.memory();
  }

  /** Time every following dispatch on the GPU (needs the 'timestamp-query' feature). */
  startProfiling(): void {
    if (!this.hasFeature('timestamp-query')) throw new Error('profiling needs the timestamp-query feature, which this adapter lacks');
    this.endPass();
    this.profiler ??= new KernelProfiler(this.device);
  }

  /** GPU milliseconds per kernel since startProfiling() (or the last report); stops profiling. */
  async stopProfiling(): Promise<KernelTime[]> {
    if (!this.profiler) return [];
    this.submit();
    const times = await this.profiler.collect();
    this.profiler.destroy();
    this.profiler = null;
    return times;
  }

  /** Release the device (and in Node the Dawn instance, so the process can exit). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder = null;
    this.pass = null;
    for (const b of this.uniformCache.values()) b.destroy();
    this.uniformCache.clear();
    this.pool.trim();
    this.acquired.release();
  }

  private async throwPendingErrors(): Promise<void> {
    const checks = [...this.pool.pendingChecks.splice(0), ...this.pipelines.pendingChecks.splice(0)];
    const errors = (await Promise.all(checks)).filter((e): e is Error => e !== null);
    errors.push(...this.uncaptured.splice(0));
    if (this.lostError) throw this.lostError;
    if (errors.length > 0) throw errors[0];
  }

  private assertUsable(): void {
    if (this.destroyed) throw new Error('this Runtime was destroyed; create a new one');
    if (this.lostError) throw this.lostError;
  }

  /** Kernel parameters rarely change between steps, so uniform buffers are cached by content. */
  private uniformBuffer(bytes: ArrayBuffer): GPUBuffer {
    const words = new Uint32Array(bytes);
    let key = '';
    for (let i = 0; i < words.length; i++) key += words[i].toString(36) + ',';
    let buf = this.uniformCache.get(key);
    if (buf) return buf;
    if (this.uniformCache.size >= 4096) {
      // Evicting destroys buffers that recorded commands may use: submit them first.
      this.submit();
      for (const b of this.uniformCache.values()) b.destroy();
      this.uniformCache.clear();
    }
    const usage = this.paramsBinding.binding === 'storage' ? STORAGE | COPY_DST : UNIFORM | COPY_DST;
    buf = this.device.createBuffer({ size: bytes.byteLength, usage, mappedAtCreation: true });
    new Uint8Array(buf.getMappedRange()).set(new Uint8Array(bytes));
    buf.unmap();
    this.uniformCache.set(key, buf);
    return buf;
  }

  private ensureEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private ensurePass(profileLabel?: string): GPUComputePassEncoder {
    if (!this.pass) {
      const descriptor = profileLabel && this.profiler ? this.profiler.passFor(profileLabel) : null;
      this.pass = this.ensureEncoder().beginComputePass(descriptor ?? undefined);
    }
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }
}

function toTyped(data: number[], dtype: DType): HostArray {
  switch (dtype) {
    case 'f32':
      return new Float32Array(data);
    case 'u32':
      return new Uint32Array(data);
    case 'i32':
      return new Int32Array(data);
    case 'f16':
      throw new Error('f16 uploads take a Uint16Array of half-precision bits');
  }
}

function padTo4(a: HostArray): Uint8Array {
  const out = new Uint8Array(Math.ceil(a.byteLength / 4) * 4);
  out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return out;
}
