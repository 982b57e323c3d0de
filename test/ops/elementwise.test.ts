import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { accumulate, addBias, addForward, mulForward, scaleForward, scaleBackward } from '../../src/ops/elementwise.ts';

describe('elementwise', () => {
  for (const n of [1, 3, 1023, 4097, 300_001]) {
    it(`add, scale, accumulate on ${n} elements`, async () => {
      const rt = await gpu();
      const a = randn(n, 1), b = randn(n, 2);
      const ta = rt.upload(a, [n]), tb = rt.upload(b, [n]);
      const sum = await addForward(rt, ta, tb, 0.5).read();
      expectClose(sum, a.map((x, i) => x + 0.5 * b[i]), 1e-6, 1e-6, 'add');
      expectClose(await mulForward(rt, ta, tb).read(), a.map((x, i) => x * b[i]), 1e-6, 1e-6, 'mul');
      const scaled = await scaleForward(rt, ta, -3).read();
      expectClose(scaled, a.map((x) => -3 * x), 1e-6, 1e-6, 'scale');
      const dA = await scaleBackward(rt, tb, -3).read();
      expectClose(dA, b.map((x) => -3 * x), 1e-6, 1e-6, 'scale backward');
      const acc = rt.upload(a, [n]);
      accumulate(rt, acc, tb);
      accumulate(rt, acc, tb, 2);
      expectClose(await acc.read(), a.map((x, i) => x + 3 * b[i]), 1e-5, 1e-6, 'accumulate');
    });
  }

  it('adds a bias broadcast over rows', async () => {
    const rt = await gpu();
    const rows = 37, cols = 13;
    const x = randn(rows * cols, 3), b = randn(cols, 4);
    const out = rt.upload(x, [rows, cols]);
    addBias(rt, out, rt.upload(b, [cols]), 2);
    expectClose(await out.read(), x.map((v, i) => v + 2 * b[i % cols]), 1e-6, 1e-6, 'addBias');
    expect(() => addBias(rt, out, rt.upload(b.subarray(0, 5), [5]))).toThrow(/not a whole number of rows/);
  });
});
