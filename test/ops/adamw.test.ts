import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { adamwUpdate, ADAMW_DEFAULTS } from '../../src/ops/adamw.ts';
import { adamwRef, type AdamWStateRef } from '../reference/adamw.ts';

describe('adamw', () => {
  // Sizes around the 4-per-invocation and 1024-per-workgroup grain, and one that spans many groups.
  for (const n of [1, 3, 5, 1023, 4097, 70_001]) {
    it(`3 steps with weight decay and bias correction, n = ${n}, with and without a GPU grad scale`, async () => {
      const rt = await gpu();
      for (const scale of [undefined, 0.37]) {
        const p0 = randn(n, n, 0.5);
        const param = rt.upload(p0, [n]);
        const m = rt.zeros([n]);
        const v = rt.zeros([n]);
        const grad = rt.empty([n]);
        const gradScale = scale === undefined ? undefined : rt.upload([scale], [1]);
        let ref: AdamWStateRef = { param: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
        const hyper = { lr: 1e-2, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };
        for (let step = 1; step <= 3; step++) {
          const g = randn(n, 1000 * step + n, 2 / step);
          rt.write(grad, g);
          adamwUpdate(rt, { param, grad, m, v }, { ...hyper, step }, gradScale);
          ref = adamwRef(ref, g, { ...hyper, step }, scale ?? 1);
          const what = `step ${step}, scale ${scale ?? 'none'}`;
          expectClose(await m.read(), ref.m, 1e-6, 1e-5, `m, ${what}`);
          expectClose(await v.read(), ref.v, 1e-7, 1e-5, `v, ${what}`);
          expectClose(await param.read(), ref.param, 1e-6, 1e-5, `param, ${what}`);
        }
      }
    });
  }

  it('uses the PyTorch defaults when only lr and step are given', async () => {
    const rt = await gpu();
    const n = 9;
    const p0 = randn(n, 3), g = randn(n, 4);
    const param = rt.upload(p0, [n]);
    adamwUpdate(rt, { param, grad: rt.upload(g, [n]), m: rt.zeros([n]), v: rt.zeros([n]) }, { lr: 1e-3, step: 1 });
    const ref = adamwRef({ param: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) }, g, { lr: 1e-3, step: 1, ...ADAMW_DEFAULTS });
    expectClose(await param.read(), ref.param, 1e-7, 1e-6, 'param');
  });

  it('rejects bad sizes and options with errors naming adamw', async () => {
    const rt = await gpu();
    const t = () => rt.zeros([6]);
    const tensors = { param: t(), grad: t(), m: t(), v: t() };
    expect(() => adamwUpdate(rt, { ...tensors, v: rt.zeros([5]) }, { lr: 1e-3, step: 1 })).toThrow(/adamw: v .* differs in size/);
    expect(() => adamwUpdate(rt, tensors, { lr: 1e-3, step: 0 })).toThrow(/adamw: step must be an integer >= 1/);
    expect(() => adamwUpdate(rt, tensors, { lr: 1e-3, step: 1, beta2: 1 })).toThrow(RangeError);
    expect(() => adamwUpdate(rt, tensors, { lr: 1e-3, step: 1 }, rt.zeros([2]))).toThrow(/gradScale must be an f32 \[1\]/);
  });
});
