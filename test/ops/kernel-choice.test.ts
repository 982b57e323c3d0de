// The per-adapter kernel choices (src/ops/kernel-choice.ts): which adapters count as CPU renderers, and the
// GPU variants run on this device, forced, against the same f64 references as the CPU ones (attention
// forward, backward, decode rows, attention received; matmul on both sides of the skinny threshold).
import { describe, expect, it } from 'vitest';
import { Runtime } from '../../src/gpu/index.ts';
import { attentionBackward, attentionForward, attentionReceived } from '../../src/ops/attention.ts';
import { classifyAdapter, eightLaneSubgroups, forceDeviceClass, kernelChoices } from '../../src/ops/kernel-choice.ts';
import { matmul } from '../../src/ops/matmul.ts';
import { expectClose } from '../helpers/compare.ts';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { attentionBackwardRef, attentionForwardRef, attentionReceivedRef, type AttentionDims } from '../reference/attention.ts';
import { matmulRef } from '../reference/matmul.ts';

const adapter = (vendor: string, architecture: string, description = '', isFallbackAdapter = false) => ({ vendor, architecture, device: '', description, isFallbackAdapter });

describe('kernel choices by adapter', () => {
  it('software renderers are CPUs, hardware adapters GPUs, each with the reason', () => {
    expect(classifyAdapter(adapter('google', 'swiftshader', 'SwiftShader driver 5.0.0'))).toMatchObject({ deviceClass: 'cpu', why: expect.stringMatching(/swiftshader/i) });
    expect(classifyAdapter(adapter('mesa', '', 'llvmpipe (LLVM 15.0.6, 256 bits)')).deviceClass).toBe('cpu');
    expect(classifyAdapter(adapter('mesa', '', 'lavapipe')).deviceClass).toBe('cpu');
    expect(classifyAdapter(adapter('microsoft', '', 'Microsoft Basic Render Driver')).deviceClass).toBe('cpu');
    expect(classifyAdapter(adapter('nvidia', 'hopper', 'NVIDIA H100 80GB HBM3', true))).toMatchObject({ deviceClass: 'cpu', why: expect.stringMatching(/fallback/) });
    expect(classifyAdapter(adapter('nvidia', 'hopper', 'NVIDIA H100 80GB HBM3'))).toMatchObject({ deviceClass: 'gpu', why: expect.stringMatching(/hardware.*H100/) });
    expect(classifyAdapter(adapter('apple', 'metal-3', 'Apple M2')).deviceClass).toBe('gpu');
  });

  it("this machine's adapter (SwiftShader or lavapipe in CI) gets the CPU choices", async () => {
    const rt = await Runtime.create();
    try {
      expect(kernelChoices(rt).deviceClass).toBe(classifyAdapter(rt.report).deviceClass);
      if (/swiftshader|lavapipe|llvmpipe/i.test(rt.report.summary)) {
        expect(kernelChoices(rt).attention.decodeWorkgroup).toBe(1);
        expect(kernelChoices(rt).attention.quadFetch).toBe(true);
      }
      // The octet matmuls where (and only where) a CPU renderer's subgroups are exactly 8 lanes wide:
      // lavapipe on AVX2 reports 8-8.
      const sizes = rt.report.subgroupSizes;
      expect(eightLaneSubgroups(rt)).toBe(rt.hasFeature('subgroups') && sizes?.min === 8 && sizes.max === 8);
      expect(kernelChoices(rt).matmul.octets).toBe(kernelChoices(rt).deviceClass === 'cpu' && eightLaneSubgroups(rt));
      if (/llvmpipe/i.test(rt.report.summary) && rt.hasFeature('subgroups')) expect(kernelChoices(rt).matmul.octets).toBe(true);
      expect(forceDeviceClass(rt, 'gpu').matmul.octets).toBe(false);
    } finally {
      rt.destroy();
    }
  });
});

const dims = (batch: number, tq: number, tk: number, heads: number, kvHeads: number, headDim: number): AttentionDims => ({ batch, tq, tk, heads, kvHeads, headDim });

/** Attention forward, backward and received on `rt` under its current choices, against f64. */
async function checkAttention(rt: Runtime, d: AttentionDims): Promise<void> {
  const q = randn(d.batch * d.tq * d.heads * d.headDim, 11, 2);
  const k = randn(d.batch * d.tk * d.kvHeads * d.headDim, 12);
  const v = randn(d.batch * d.tk * d.kvHeads * d.headDim, 13);
  const qT = rt.upload(q, [d.batch, d.tq, d.heads, d.headDim]);
  const kT = rt.upload(k, [d.batch, d.tk, d.kvHeads, d.headDim]);
  const vT = rt.upload(v, [d.batch, d.tk, d.kvHeads, d.headDim]);
  const ref = attentionForwardRef(q, k, v, d);
  const fwd = attentionForward(rt, qT, kT, vT);
  expectClose(await fwd.out.read(), ref.out, 2e-5, 1e-4, 'out');
  expectClose(await fwd.logSumExp.read(), ref.logSumExp, 2e-5, 1e-5, 'logSumExp');
  const dOut = randn(q.length, 14);
  const refGrads = attentionBackwardRef(q, k, v, dOut, d);
  const grads = attentionBackward(rt, qT, kT, vT, fwd, rt.upload(dOut, fwd.out.shape));
  expectClose(await grads.dQ.read(), refGrads.dQ, 1e-4, 1e-3, 'dQ');
  expectClose(await grads.dK.read(), refGrads.dK, 1e-4, 1e-3, 'dK');
  expectClose(await grads.dV.read(), refGrads.dV, 1e-4, 1e-3, 'dV');
  expectClose(await attentionReceived(rt, qT, kT, fwd.logSumExp).read(), attentionReceivedRef(ref.probs, d), 1e-5, 1e-4, 'received');
}

describe('the CPU variants: attention.wgsl where the device would take attention_quad.wgsl', () => {
  // The default choices run the quad kernels on a device with subgroups (every other attention test);
  // these run the portable ones at the same workgroup size, across two 32-row blocks.
  for (const d of [dims(2, 70, 70, 4, 2, 8), dims(1, 33, 33, 2, 1, 16)]) {
    it(`attention forward, backward and received, B=${d.batch} Tq=${d.tq} Tk=${d.tk} H=${d.heads} Hkv=${d.kvHeads} D=${d.headDim}`, async () => {
      const rt = await gpu();
      expect(forceDeviceClass(rt, 'cpu', { quadFetch: false }).attention.quadFetch).toBe(false);
      await checkAttention(rt, d);
      forceDeviceClass(rt, 'cpu');
    });
  }
});

describe('the GPU variants, forced on this device, match f64', () => {
  // Past one 128-row block of the GPU workgroup (T 150), a decode step (Tq 1 of 70 keys) and a short one.
  // Small head sizes: each new workgroup size compiles the unrolled kernels again, slowly on SwiftShader.
  for (const d of [dims(2, 150, 150, 4, 2, 16), dims(3, 1, 70, 4, 1, 16), dims(1, 5, 5, 2, 2, 32)]) {
    it(`attention forward, backward and received, B=${d.batch} Tq=${d.tq} Tk=${d.tk} H=${d.heads} Hkv=${d.kvHeads} D=${d.headDim}`, async () => {
      const rt = await gpu();
      expect(forceDeviceClass(rt, 'gpu').attention.workgroup).toBeGreaterThan(8);
      await checkAttention(rt, d);
    });
  }

  it('matmul on both sides of the skinny threshold', async () => {
    const rt = await gpu();
    {
      const { skinnyMaxM } = forceDeviceClass(rt, 'gpu').matmul;
      for (const M of [skinnyMaxM, skinnyMaxM + 1]) {
        const [N, K] = [45, 36];
        const a = randn(M * K, 21), b = randn(N * K, 22);
        const c = matmul(rt, rt.upload(a, [M, K]), rt.upload(b, [N, K]), { transB: true });
        expectClose(await c.read(), matmulRef(a, b, { M, N, K, batch: 1, aBatched: false, bBatched: false, transB: true }), 1e-5, 1e-5, `M ${M}`);
      }
    }
  });
});
