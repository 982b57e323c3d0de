import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { gpu } from '../helpers/gpu.ts';
import {
  GpuValidationError,
  LimitExceededError,
  OutOfMemoryError,
  Runtime,
  acquireDevice,
  sizeClass,
} from '../../src/gpu/index.ts';

describe('runtime', () => {
  it('reports the adapter', async () => {
    const rt = await gpu();
    expect(rt.report.runtime).toBe('node');
    expect(rt.report.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(rt.report.summary).toMatch(/^node: /);
    // The device gets the adapter's larger limits, not the defaults (16 KiB workgroup storage).
    expect(rt.limits.maxComputeWorkgroupStorageSize).toBe(rt.report.limits.maxComputeWorkgroupStorageSize);
  });

  it('round-trips f32, u32 and i32 tensors', async () => {
    const rt = await gpu();
    const f = rt.upload(new Float32Array([1.5, -2, 3]), [3]);
    const u = rt.upload(new Uint32Array([7, 0xffffffff]), [2], 'u32');
    const i = rt.upload([-5, 6, 7, 8, 9], [5], 'i32');
    expect(Array.from(await f.read())).toEqual([1.5, -2, 3]);
    expect(Array.from(await u.read())).toEqual([7, 0xffffffff]);
    expect(Array.from(await i.read())).toEqual([-5, 6, 7, 8, 9]);
    expect(() => rt.upload([1, 2], [3])).toThrow(/2 values given for shape \[3\]/);
  });

  it('zeros clears a recycled buffer', async () => {
    const rt = await gpu();
    const a = rt.upload(new Float32Array(1000).fill(7), [1000]);
    await rt.sync();
    a.release();
    await rt.sync(); // recycling happens at submit
    const z = rt.zeros([1000]);
    expect((await z.read()).every((x) => x === 0)).toBe(true);
  });

  it('recycles buffers by size class and counts bytes', async () => {
    const rt = await gpu();
    const before = rt.memory();
    const a = rt.empty([1000]);
    const buf = a.buffer;
    expect(rt.memory().inUseBytes - before.inUseBytes).toBe(sizeClass(4000));
    a.release();
    rt.submit();
    const b = rt.empty([999]); // same size class: the same buffer comes back
    expect(b.buffer).toBe(buf);
    expect(rt.memory().allocatedBytes).toBe(before.allocatedBytes + sizeClass(4000));
    expect(rt.memory().peakInUseBytes).toBeGreaterThanOrEqual(rt.memory().inUseBytes);
    b.release();
  });

  it('size classes waste at most 12.5% and keep 256-byte alignment', () => {
    for (const n of [1, 255, 257, 65536, 65537, 1_000_000, 123_456_789]) {
      const c = sizeClass(n);
      expect(c).toBeGreaterThanOrEqual(n);
      expect(c % 16).toBe(0);
      if (n > 4096) expect(c / n).toBeLessThanOrEqual(1.125);
    }
  });

  it('refuses a tensor larger than the binding limit, naming the limit', async () => {
    const rt = await gpu();
    const limit = rt.limits.maxStorageBufferBindingSize;
    const elements = Math.floor(limit / 4) + 1024;
    let err: unknown;
    try {
      rt.empty([elements], 'f32', 'huge activations');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LimitExceededError);
    expect((err as LimitExceededError).limit).toBe('maxStorageBufferBindingSize');
    expect((err as Error).message).toMatch(/huge activations .* needs maxStorageBufferBindingSize = \d+, but the device allows \d+/);
  });

  it('enforces a memory budget before asking the device', async () => {
    const rt = await Runtime.create({ budgetBytes: 1 << 20 });
    try {
      const a = rt.empty([128 * 1024]); // 512 KiB
      expect(() => rt.empty([200 * 1024], 'f32', 'kv cache')).toThrow(OutOfMemoryError);
      a.release();
    } finally {
      rt.destroy();
    }
  });

  it('throws a typed error when a required limit is above the adapter', async () => {
    await expect(acquireDevice({ requiredLimits: { maxBufferSize: 2 ** 50 } })).rejects.toThrow(LimitExceededError);
  });

  it('rejects unknown shaders and use after destroy', async () => {
    const rt = await Runtime.create();
    expect(() => rt.dispatch({ shader: 'nope', uniforms: new ArrayBuffer(16), bindings: [], workgroups: [1] })).toThrow(/unknown shader 'nope'/);
    rt.destroy();
    expect(() => rt.empty([4])).toThrow(/destroyed/);
  });

  it('surfaces validation errors as typed errors at the next sync', async () => {
    const rt = await Runtime.create();
    try {
      const a = rt.upload(new Float32Array(8), [8]);
      // The elementwise `add` entry needs three storage bindings: binding only two is invalid.
      rt.dispatch({ shader: 'elementwise', entryPoint: 'add', uniforms: new ArrayBuffer(16), bindings: [a, a], workgroups: [1] });
      await expect(rt.sync()).rejects.toThrow(GpuValidationError);
    } finally {
      rt.destroy();
    }
  });

  it('says how to fix a machine with no adapter', async () => {
    // A Vulkan loader pointed at a missing driver gives Dawn no adapter: the error must name the fix.
    const r = await promisify(execFile)('node_modules/.bin/tsx', ['test/fixtures/no-adapter.ts'], {
      env: { ...process.env, VK_ICD_FILENAMES: '/nonexistent/icd.json' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stdout).toMatch(/NoAdapterError: WebGPU returned no adapter in node\. Fix: apt-get install -y libvulkan1/);
  });
});

describe('views and copies', () => {
  it('copies at element offsets and reads a prefix view', async () => {
    const rt = await gpu();
    const cache = rt.zeros([4, 3]);
    const row = rt.upload([1, 2, 3], [1, 3]);
    rt.copy(row, cache, 3, 0, 6); // row 2
    rt.copy(row, cache, 2, 1, 0); // [2, 3] at the start
    expect(Array.from(await cache.read())).toEqual([2, 3, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0]);
    expect(Array.from(await cache.prefix([2, 3]).read())).toEqual([2, 3, 0, 0, 0, 0]);
    expect(() => rt.copy(row, cache, 3, 0, 10)).toThrow(/run past the end/);
    expect(() => cache.view([5, 3])).toThrow(/cannot view/);
    expect(() => cache.prefix([5, 3])).toThrow(/prefix/);
  });

  it('releasing a view releases its owner once', async () => {
    const rt = await gpu();
    const before = rt.memory().inUseBytes;
    const t = rt.empty([64]);
    const v = t.view([8, 8]);
    v.release();
    t.release();
    expect(t.isReleased).toBe(true);
    expect(rt.memory().inUseBytes).toBe(before);
  });
});

describe('buffer pool limits', () => {
  it('destroys the longest-idle buffers when idle bytes pass the limit', async () => {
    const rt = await Runtime.create({});
    try {
      // Tensors of ever-changing sizes (like padded scoring batches) must not pile up in the pool.
      const limit = 256 * 2 ** 20;
      for (let i = 0; i < 40; i++) {
        rt.empty([(8 + i) * 2 ** 20 / 4 + 4096 * i]).release(); // 8 MiB, 9 MiB, ... each a new size class
        rt.submit();
      }
      const m = rt.memory();
      expect(m.allocatedBytes - m.inUseBytes).toBeLessThanOrEqual(limit);
      expect(m.inUseBytes).toBe(0);
      // A steady loop still reuses: the same size comes back as the same buffer.
      const a = rt.empty([1 << 20]);
      const buf = a.buffer;
      a.release();
      rt.submit();
      expect(rt.empty([1 << 20]).buffer).toBe(buf);
    } finally {
      rt.destroy();
    }
  });
});
