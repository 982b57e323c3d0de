import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { finiteDiff, projectionLoss } from '../helpers/finite-diff.ts';
import { interleavedToHalf, ropeRef, type RopeLayout, type RopeRefShape } from '../reference/rope.ts';
import { ropeBackward, ropeForward, ropePairBackward, ropePairForward, ropeTable } from '../../src/ops/rope.ts';

interface Case extends RopeRefShape {
  theta: number;
  startPos: number;
}

// Odd pair counts (D = 6, D = 2), T = 512 at the stories260K head size, and positions far past
// the training context (KV-cached generation, Llama-3's theta) where naive f32 angles drift.
const CASES: Case[] = [
  { batch: 2, seqLen: 5, heads: 3, headDim: 6, theta: 10000, startPos: 0 },
  { batch: 1, seqLen: 37, heads: 1, headDim: 2, theta: 10000, startPos: 3 },
  { batch: 1, seqLen: 512, heads: 2, headDim: 8, theta: 10000, startPos: 0 },
  { batch: 3, seqLen: 2, heads: 5, headDim: 16, theta: 10000, startPos: 1000 },
  { batch: 1, seqLen: 33, heads: 2, headDim: 128, theta: 500000, startPos: 60000 },
];

// Measured max |error| < 1e-6 on these cases for |x| up to ~4 (f32 rounding of x·cos − y·sin);
// naive f32 angles (pos · inv_freq rounded to f32) would be off by up to 2e-5 rad at T = 512 and
// 3e-3 rad at position 60000, so this tolerance also checks the angle reduction.
const ATOL = 2e-6;

const name = (c: Case) => `[${c.batch}, ${c.seqLen}, ${c.heads}, ${c.headDim}], theta ${c.theta}, start ${c.startPos}`;

describe('rope', () => {
  // q and k in one dispatch (k with fewer heads, as under grouped-query attention): each against the f64
  // reference, and bit for bit what two single dispatches give.
  for (const c of [CASES[0], CASES[3], CASES[4]]) {
    for (const layout of ['interleaved', 'half'] as RopeLayout[]) {
      it(`${layout} q and k in one dispatch (k with ${Math.max(1, c.heads - 2)} heads) on ${name(c)}`, async () => {
        const rt = await gpu();
        const kc = { ...c, heads: Math.max(1, c.heads - 2) };
        const shapeOf = (s: Case) => [s.batch, s.seqLen, s.heads, s.headDim];
        const size = (s: Case) => s.batch * s.seqLen * s.heads * s.headDim;
        const q = randn(size(c), 5 * c.headDim), k = randn(size(kc), 7 * c.headDim);
        const table = ropeTable(rt, c.headDim, c.theta);
        const options = { layout, startPos: c.startPos };
        const tq = rt.upload(q, shapeOf(c)), tk = rt.upload(k, shapeOf(kc));
        for (const [sign, pair, single] of [[1, ropePairForward, ropeForward], [-1, ropePairBackward, ropeBackward]] as const) {
          const both = pair(rt, tq, tk, table, options);
          expectClose(await both.q.read(), ropeRef(q, c, c.theta, layout, c.startPos, sign), ATOL, 0, 'q');
          expectClose(await both.k.read(), ropeRef(k, kc, c.theta, layout, c.startPos, sign), ATOL, 0, 'k');
          expect(Array.from(await both.q.read())).toEqual(Array.from(await single(rt, tq, table, options).read()));
          expect(Array.from(await both.k.read())).toEqual(Array.from(await single(rt, tk, table, options).read()));
        }
        const wrongT = rt.zeros([c.batch, c.seqLen + 1, 1, c.headDim]);
        expect(() => ropePairForward(rt, tq, wrongT, table, options)).toThrow(/rope: q \[.*\] and k \[.*\] must have the same B and T/);
      });
    }
  }

  for (const c of CASES) {
    for (const layout of ['interleaved', 'half'] as RopeLayout[]) {
      it(`${layout} forward and backward on ${name(c)}`, async () => {
        const rt = await gpu();
        const n = c.batch * c.seqLen * c.heads * c.headDim;
        const shape = [c.batch, c.seqLen, c.heads, c.headDim];
        const x = randn(n, n + c.headDim);
        const dy = randn(n, n + 1);
        const table = ropeTable(rt, c.headDim, c.theta);
        const options = { layout, startPos: c.startPos };
        const y = ropeForward(rt, rt.upload(x, shape), table, options);
        expectClose(await y.read(), ropeRef(x, c, c.theta, layout, c.startPos), ATOL, 0, 'y');
        const dX = ropeBackward(rt, rt.upload(dy, shape), table, options);
        expectClose(await dX.read(), ropeRef(dy, c, c.theta, layout, c.startPos, -1), ATOL, 0, 'dx');
        // The backward undoes the forward.
        expectClose(await ropeBackward(rt, y, table, options).read(), x, 2 * ATOL, 0, 'backward(forward(x))');
      });
    }
  }

  it('interleaved and half agree under the llama2.c -> Hugging Face row permutation', async () => {
    const rt = await gpu();
    const c = { batch: 2, seqLen: 7, heads: 3, headDim: 10 };
    const shape = [c.batch, c.seqLen, c.heads, c.headDim];
    const x = randn(shape.reduce((a, b) => a * b), 5);
    const table = ropeTable(rt, c.headDim, 10000);
    const meta = ropeForward(rt, rt.upload(x, shape), table, { layout: 'interleaved', startPos: 11 });
    const hf = ropeForward(rt, rt.upload(Float32Array.from(interleavedToHalf(x, c.headDim)), shape), table, { layout: 'half', startPos: 11 });
    // Same angles on the same values: equal to the last bit.
    expectClose(await hf.read(), interleavedToHalf(await meta.read(), c.headDim), 0, 0, 'half(P x) vs P interleaved(x)');
  });

  it('the CPU backward matches finite differences of the CPU forward', () => {
    const c = { batch: 2, seqLen: 3, heads: 2, headDim: 4 };
    const n = 48;
    const x = Float64Array.from(randn(n, 21));
    const proj = randn(n, 22);
    for (const layout of ['interleaved', 'half'] as RopeLayout[]) {
      const analytic = ropeRef(proj, c, 10000, layout, 5, -1);
      const numeric = finiteDiff((xs) => projectionLoss(ropeRef(xs, c, 10000, layout, 5), proj), x);
      expectClose(analytic, numeric, 1e-8, 1e-6, `${layout} dx vs finite differences`);
    }
  });

  it('rejects bad shapes', async () => {
    const rt = await gpu();
    expect(() => ropeTable(rt, 7)).toThrow(RangeError);
    const table = ropeTable(rt, 8);
    expect(() => ropeForward(rt, rt.zeros([1, 2, 3, 6]), table, { layout: 'half' })).toThrow(/rope: x \[1, 2, 3, 6\].*D = 8/);
    expect(() => ropeForward(rt, rt.zeros([2, 3, 8]), table, { layout: 'half' })).toThrow(RangeError);
  });
});
