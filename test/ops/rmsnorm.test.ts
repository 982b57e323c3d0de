import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { finiteDiff, projectionLoss } from '../helpers/finite-diff.ts';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../reference/rmsnorm.ts';
import { addForward } from '../../src/ops/elementwise.ts';
import { addRmsnormForward, rmsnormBackward, rmsnormForward } from '../../src/ops/rmsnorm.ts';

const EPS = 1e-5;

// Widths that take the vec4 path (C % 4 == 0) and the scalar one (odd C); row counts below and above
// the 64-row workgroup and the 64-row weight-gradient chunk (130 and 517 rows: several chunks, the
// last one short).
const SHAPES: [number, number, number][] = [
  [1, 64, 1],
  [3, 7, 1],
  [37, 193, 1],
  [517, 131, 1],
  [130, 68, 1],
  [5, 2048, 1],
  [9, 100, 1e-3], // mean(x²) ~ 1e-6 < eps: checks that eps is applied
];

describe('rmsnorm', () => {
  for (const [rows, cols, scale] of SHAPES) {
    it(`forward and backward on [${rows}, ${cols}] (x scale ${scale})`, async () => {
      const rt = await gpu();
      const x = randn(rows * cols, rows + cols, scale);
      const w = randn(cols, 7 * cols).map((v) => 1 + 0.2 * v);
      const dy = randn(rows * cols, rows * cols + 3);
      const tx = rt.upload(x, [rows, cols]), tw = rt.upload(w, [cols]), tdy = rt.upload(dy, [rows, cols]);

      const ref = rmsnormForwardRef(x, w, rows, cols, EPS);
      const { y, rstd } = rmsnormForward(rt, tx, tw, EPS);
      expectClose(await rstd.read(), ref.rstd, 0, 2e-6, 'rstd');
      expectClose(await y.read(), ref.y, 1e-6, 1e-5, 'y');

      const bref = rmsnormBackwardRef(dy, x, w, rows, cols, EPS);
      const { dX, dWeight } = rmsnormBackward(rt, tdy, tx, tw, rstd);
      // dx is a difference of two O(rstd) terms: scale atol by rstd.
      const rs = Math.max(...ref.rstd);
      expectClose(await dX.read(), bref.dx, 2e-6 * rs, 1e-4, 'dx');
      expectClose(await dWeight!.read(), bref.dWeight, 1e-5 * Math.sqrt(rows), 1e-4, 'dweight');

      // The frozen-weight path gives the same dx; accumulation adds onto what is there.
      const frozen = rmsnormBackward(rt, tdy, tx, tw, rstd, { weightGrad: false });
      expect(frozen.dWeight).toBeNull();
      expectClose(await frozen.dX.read(), bref.dx, 2e-6 * rs, 1e-4, 'dx (frozen weight)');
      const acc = rt.upload(new Float32Array(cols).fill(0.5), [cols]);
      const accumulated = rmsnormBackward(rt, tdy, tx, tw, rstd, { accumulateInto: acc });
      expect(accumulated.dWeight).toBe(acc);
      expectClose(await acc.read(), bref.dWeight.map((v) => v + 0.5), 1e-5 * Math.sqrt(rows), 1e-4, 'dweight accumulated');
    });
  }

  it('the CPU backward matches finite differences of the CPU forward', () => {
    for (const [rows, cols, scale] of [[3, 5, 1], [2, 9, 1e-3]] as const) {
      const x = Float64Array.from(randn(rows * cols, 31, scale));
      const w = Float64Array.from(randn(cols, 32)).map((v) => 1 + 0.3 * v);
      const proj = randn(rows * cols, 33);
      const { dx, dWeight } = rmsnormBackwardRef(proj, x, w, rows, cols, EPS);
      const h = 1e-6 * scale;
      expectClose(dx, finiteDiff((xs) => projectionLoss(rmsnormForwardRef(xs, w, rows, cols, EPS).y, proj), x, h), 1e-6 / scale, 1e-5, 'dx vs finite differences');
      expectClose(dWeight, finiteDiff((ws) => projectionLoss(rmsnormForwardRef(x, ws, rows, cols, EPS).y, proj), w, 1e-6), 1e-7, 1e-6, 'dweight vs finite differences');
    }
  });

  // The residual add fused with the norm (the layer's x2 and its FFN norm in one dispatch).
  for (const [rows, cols] of [[3, 7], [130, 68], [517, 131], [5, 2048]] as const) {
    it(`add + rmsnorm on [${rows}, ${cols}]: the f64 reference of the norm of a + b, and the two kernels' values bit for bit`, async () => {
      const rt = await gpu();
      const a = randn(rows * cols, rows + 2 * cols), b = randn(rows * cols, 3 * rows + cols, 0.5);
      const w = randn(cols, 5 * cols).map((v) => 1 + 0.2 * v);
      const ta = rt.upload(a, [rows, cols]), tb = rt.upload(b, [rows, cols]), tw = rt.upload(w, [cols]);
      const fused = addRmsnormForward(rt, ta, tb, tw, EPS);
      const sum32 = a.map((v, i) => Math.fround(v + b[i]));
      expect(Array.from(await fused.sum.read())).toEqual(Array.from(sum32));
      const ref = rmsnormForwardRef(sum32, w, rows, cols, EPS);
      expectClose(await fused.rstd.read(), ref.rstd, 0, 2e-6, 'rstd');
      expectClose(await fused.y.read(), ref.y, 1e-6, 1e-5, 'y');
      const apart = rmsnormForward(rt, addForward(rt, ta, tb), tw, EPS);
      expect(Array.from(await fused.y.read())).toEqual(Array.from(await apart.y.read()));
      expect(Array.from(await fused.rstd.read())).toEqual(Array.from(await apart.rstd.read()));
    });
  }

  it('rejects mismatched shapes', async () => {
    const rt = await gpu();
    const x = rt.zeros([4, 8]), w = rt.zeros([7]);
    expect(() => rmsnormForward(rt, x, w, EPS)).toThrow(RangeError);
    expect(() => rmsnormForward(rt, x, w, EPS)).toThrow(/rmsnorm.*\[4, 8\].*\[7\]/);
    expect(() => rmsnormBackward(rt, rt.zeros([4, 8]), x, rt.zeros([8]), rt.zeros([3]))).toThrow(/rstd/);
    expect(() => addRmsnormForward(rt, x, rt.zeros([4, 4]), rt.zeros([8]), EPS)).toThrow(/add \+ rmsnorm: b \[4, 4\] does not match a \[4, 8\]/);
    expect(() => addRmsnormForward(rt, x, x, w, EPS)).toThrow(/add \+ rmsnorm.*\[4, 8\].*\[7\]/);
  });
});
