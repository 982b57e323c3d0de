import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { accumulate, addBias, addForward, dropoutForward, mulForward, scaleForward, scaleBackward } from '../../src/ops/elementwise.ts';

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

describe('dropout', () => {
  it('drops about p of the elements, scales the rest by 1/(1-p), and repeats for the same seed', async () => {
    const rt = await gpu();
    const n = 40_001;
    const x = randn(n, 5);
    const t = rt.upload(x, [n]);
    const a = (await dropoutForward(rt, t, 0.3, 17).read()) as Float32Array;
    const b = (await dropoutForward(rt, t, 0.3, 17).read()) as Float32Array;
    const c = (await dropoutForward(rt, t, 0.3, 18).read()) as Float32Array;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      if (a[i] === 0) dropped++;
      else expect(Math.abs(a[i] - x[i] / 0.7)).toBeLessThan(1e-5 * Math.abs(x[i]) + 1e-6);
    }
    expect(Math.abs(dropped / n - 0.3)).toBeLessThan(0.01);
    expect(Array.from((await dropoutForward(rt, t, 0, 3).read()) as Float32Array)).toEqual(Array.from(x));
  });

  it('is its own adjoint: <dropout(x), g> = <x, dropout(g)> with the same seed', async () => {
    const rt = await gpu();
    const n = 1001;
    const x = randn(n, 6), g = randn(n, 7);
    const dx = (await dropoutForward(rt, rt.upload(x, [n]), 0.5, 9).read()) as Float32Array;
    const dg = (await dropoutForward(rt, rt.upload(g, [n]), 0.5, 9).read()) as Float32Array;
    let lhs = 0, rhs = 0;
    for (let i = 0; i < n; i++) { lhs += dx[i] * g[i]; rhs += x[i] * dg[i]; }
    expect(Math.abs(lhs - rhs)).toBeLessThan(1e-3);
  });
});
