import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { globalGradNorm } from '../../src/ops/grad-norm.ts';
import { adamwUpdate } from '../../src/ops/adamw.ts';
import { globalGradNormRef } from '../reference/grad-norm.ts';
import { adamwRef } from '../reference/adamw.ts';

// Odd sizes: a single element, below one vec4, below and above a workgroup's 1024, an empty
// tensor, and one large enough to hit the 64-group cap and loop (grid stride).
const SIZES = [1, 3, 257, 0, 1025, 4099, 300_001];

describe('global gradient norm and clip factor', () => {
  it('matches the f64 reference over several tensors, clipping and not clipping', async () => {
    const rt = await gpu();
    const host = SIZES.map((n, k) => randn(n, 70 + k, 0.01 * (k + 1)));
    const grads = host.map((g) => rt.upload(g, [g.length]));
    const { norm: refNorm } = globalGradNormRef(host, 1);
    for (const maxNorm of [refNorm / 3, refNorm * 2]) {
      const { norm, clipFactor } = globalGradNorm(rt, grads, maxNorm);
      const ref = globalGradNormRef(host, maxNorm);
      expectClose(await norm.read(), [ref.norm], 0, 1e-5, 'norm');
      expectClose(await clipFactor.read(), [ref.clipFactor], 0, 1e-5, `clip factor, maxNorm ${maxNorm}`);
    }
    expect(globalGradNormRef(host, refNorm * 2).clipFactor).toBe(1);
  });

  it('counts every element of a small tensor exactly once (vec4 tails)', async () => {
    const rt = await gpu();
    for (const n of [1, 2, 3, 5, 6, 7, 1029]) {
      // The last element dominates, so a lane past the end read twice or dropped is visible.
      const g = randn(n, n, 0.1);
      g[n - 1] = 3;
      const { norm } = globalGradNorm(rt, [rt.upload(g, [n])], 1);
      expectClose(await norm.read(), [globalGradNormRef([g], 1).norm], 0, 1e-6, `norm, n = ${n}`);
    }
  });

  it('is bitwise deterministic and reuses given output tensors', async () => {
    const rt = await gpu();
    const grads = SIZES.map((n, k) => rt.upload(randn(n, 90 + k), [n]));
    const out = { norm: rt.empty([1]), clipFactor: rt.empty([1]) };
    const first = await globalGradNorm(rt, grads, 1, out).norm.read();
    for (let i = 0; i < 3; i++) {
      const again = globalGradNorm(rt, grads, 1, out);
      expect(again.norm).toBe(out.norm);
      expect((await again.norm.read())[0]).toBe(first[0]);
    }
  });

  it('feeds AdamW its clip factor on the GPU', async () => {
    const rt = await gpu();
    const sizes = [5, 1031];
    const host = sizes.map((n, k) => randn(n, 300 + k, 3));
    const params = sizes.map((n, k) => randn(n, 400 + k));
    const grads = host.map((g) => rt.upload(g, [g.length]));
    const maxNorm = 1;
    const { clipFactor } = globalGradNorm(rt, grads, maxNorm);
    const hyper = { lr: 1e-2, step: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };
    const gpuParams = params.map((p) => rt.upload(p, [p.length]));
    sizes.forEach((n, k) => adamwUpdate(rt, { param: gpuParams[k], grad: grads[k], m: rt.zeros([n]), v: rt.zeros([n]) }, hyper, clipFactor));
    const clip = globalGradNormRef(host, maxNorm).clipFactor;
    expect(clip).toBeLessThan(0.1);
    for (const [k, n] of sizes.entries()) {
      const ref = adamwRef({ param: Float64Array.from(params[k]), m: new Float64Array(n), v: new Float64Array(n) }, host[k], hyper, clip);
      expectClose(await gpuParams[k].read(), ref.param, 1e-6, 1e-5, `param ${k}`);
    }
  });

  it('rejects an empty list and a bad maxNorm', async () => {
    const rt = await gpu();
    expect(() => globalGradNorm(rt, [], 1)).toThrow(/globalGradNorm: no gradient tensors/);
    expect(() => globalGradNorm(rt, [rt.zeros([3])], 0)).toThrow(/maxNorm must be finite and > 0/);
  });
});
