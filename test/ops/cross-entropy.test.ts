import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn, rng, uniform } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { finiteDiff } from '../helpers/finite-diff.ts';
import { crossEntropyForward, crossEntropyForwardBackward, weightedLoss } from '../../src/ops/cross-entropy.ts';
import { crossEntropyBackwardRef, crossEntropyRef, weightedLossRef } from '../reference/cross-entropy.ts';

function randomTargets(rows: number, vocab: number, seed: number): Uint32Array {
  const r = rng(seed);
  return Uint32Array.from({ length: rows }, () => Math.floor(r() * vocab));
}

/** A mask like a real batch: prompt/padding (0), kept (1), and a weighted variant (0.5). */
function mixedWeights(rows: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: rows }, () => [0, 1, 1, 0.5][Math.floor(r() * 4)]);
}

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

// Shapes around the kernel's limits: V = 1, V % 4 != 0 (scalar path) and == 0 (vec4 path),
// V below and above one pass of 256 threads (x4 for vec4), and a real vocabulary size.
const SHAPES: [rows: number, vocab: number][] = [
  [1, 1],
  [1, 5],
  [3, 7],
  [5, 512],
  [4, 1000],
  [7, 1027],
  [3, 2052],
  [2, 32000],
];

describe('cross-entropy', () => {
  for (const [rows, vocab] of SHAPES) {
    it(`scoring pass: loss and p(target) on [${rows}, ${vocab}]`, async () => {
      const rt = await gpu();
      const x = randn(rows * vocab, rows * 31 + vocab, 3);
      const targets = randomTargets(rows, vocab, vocab);
      const logits = rt.upload(x, [rows, vocab]);
      const { loss, prob } = crossEntropyForward(rt, logits, rt.upload(targets, [rows], 'u32'));
      const ref = crossEntropyRef(x, targets, rows, vocab);
      expectClose(await loss.read(), ref.loss, 5e-6, 2e-6, 'loss');
      expectClose(await prob.read(), ref.prob, 1e-7, 5e-6, 'p(target)');
      expectClose(await logits.read(), x, 0, 0, 'logits untouched');
    });

    it(`training pass: d_logits in place, partial mask, on [${rows}, ${vocab}]`, async () => {
      const rt = await gpu();
      const x = randn(rows * vocab, rows * 17 + vocab, 3);
      const targets = randomTargets(rows, vocab, vocab + 1);
      const w = mixedWeights(rows, rows + vocab);
      if (rows > 1) w[0] = 0; // always one masked row that must still report loss and p
      // Σw of the whole step: this micro-batch plus others not seen here.
      const weightSum = sum(w) + 2.5;
      const logits = rt.upload(x, [rows, vocab]);
      const lossMask = rt.upload(w, [rows]);
      const out = crossEntropyForwardBackward(rt, logits, rt.upload(targets, [rows], 'u32'), lossMask, weightSum);
      expect(out.dLogits).toBe(logits);
      const ref = crossEntropyRef(x, targets, rows, vocab);
      expectClose(await out.loss.read(), ref.loss, 5e-6, 2e-6, 'loss');
      expectClose(await out.prob.read(), ref.prob, 1e-7, 5e-6, 'p(target)');
      const dRef = crossEntropyBackwardRef(x, targets, w, weightSum, rows, vocab);
      expectClose(await logits.read(), dRef, 1e-8, 2e-5, 'd_logits');
      const stepLoss = await weightedLoss(rt, out.loss, lossMask, weightSum).read();
      expectClose(stepLoss, [weightedLossRef(ref.loss, w, weightSum)], 1e-5, 1e-5, 'weighted loss');
    });
  }

  it('CPU backward matches finite differences of Σ w·loss / Σw', () => {
    for (const [rows, vocab, scale] of [[4, 7, 2], [3, 8, 2], [2, 5, 30], [1, 1, 1]] as const) {
      const x = Float64Array.from(randn(rows * vocab, 100 + vocab, scale));
      const targets = randomTargets(rows, vocab, 200 + vocab);
      const w = Float64Array.from({ length: rows }, (_, i) => [1, 0, 0.5, 2][i % 4]);
      const weightSum = sum(w) + 1;
      const objective = (z: Float64Array) => weightedLossRef(crossEntropyRef(z, targets, rows, vocab).loss, w, weightSum);
      const numeric = finiteDiff(objective, x, 1e-5);
      const analytic = crossEntropyBackwardRef(x, targets, w, weightSum, rows, vocab);
      expectClose(analytic, numeric, 1e-8, 1e-5, `d_logits [${rows}, ${vocab}] vs finite differences`);
    }
  });

  it('large logits (±80) with a target that is not the argmax', async () => {
    const rt = await gpu();
    for (const vocab of [1027, 1028]) {
      const rows = 3;
      const x = uniform(rows * vocab, vocab, -80, 80);
      const targets = new Uint32Array(rows);
      for (let r = 0; r < rows; r++) {
        let arg = 0;
        for (let j = 1; j < vocab; j++) if (x[r * vocab + j] > x[r * vocab + arg]) arg = j;
        x[r * vocab + arg] = 80;
        // Row 0: far below the max (p underflows in f32); rows 1, 2: close to it.
        targets[r] = (arg + 1 + r * 7) % vocab;
        x[r * vocab + targets[r]] = r === 0 ? -75 : 79 - r;
      }
      const w = new Float32Array([1, 1, 1]);
      const logits = rt.upload(x, [rows, vocab]);
      const out = crossEntropyForwardBackward(rt, logits, rt.upload(targets, [rows], 'u32'), rt.upload(w, [rows]), 3);
      const ref = crossEntropyRef(x, targets, rows, vocab);
      expect(ref.loss[0]).toBeGreaterThan(150);
      expectClose(await out.loss.read(), ref.loss, 1e-5, 1e-6, `loss, V = ${vocab}`);
      expectClose(await out.prob.read(), ref.prob, 1e-6, 1e-5, `p(target), V = ${vocab}`);
      expectClose(await logits.read(), crossEntropyBackwardRef(x, targets, w, 3, rows, vocab), 1e-8, 2e-5, `d_logits, V = ${vocab}`);
    }
  });

  it('all weights zero (Σw = 0): zero gradient, no NaN, loss and p still reported', async () => {
    const rt = await gpu();
    for (const vocab of [13, 16]) {
      const rows = 4;
      const x = randn(rows * vocab, 5, 4);
      const targets = randomTargets(rows, vocab, 6);
      const lossMask = rt.zeros([rows]);
      const logits = rt.upload(x, [rows, vocab]);
      const out = crossEntropyForwardBackward(rt, logits, rt.upload(targets, [rows], 'u32'), lossMask, 0);
      expectClose(await logits.read(), new Float32Array(rows * vocab), 0, 0, `d_logits, V = ${vocab}`);
      const ref = crossEntropyRef(x, targets, rows, vocab);
      expectClose(await out.loss.read(), ref.loss, 5e-6, 2e-6, 'loss');
      expectClose(await out.prob.read(), ref.prob, 1e-7, 5e-6, 'p(target)');
      expectClose(await weightedLoss(rt, out.loss, lossMask, 0).read(), [0], 0, 0, 'weighted loss');
    }
  });

  it('a target >= vocab reports NaN, gets no gradient, and is ignored by a zero weight', async () => {
    const rt = await gpu();
    const rows = 3, vocab = 9;
    const x = randn(rows * vocab, 8);
    const targets = new Uint32Array([2, 0xffffffff, 4]);
    const w = new Float32Array([1, 0, 1]);
    const logits = rt.upload(x, [rows, vocab]);
    const lossMask = rt.upload(w, [rows]);
    const out = crossEntropyForwardBackward(rt, logits, rt.upload(targets, [rows], 'u32'), lossMask, 2);
    const loss = await out.loss.read();
    expect(Number.isNaN(loss[1])).toBe(true);
    expect(Number.isNaN((await out.prob.read())[1])).toBe(true);
    const ref = crossEntropyRef(x, targets, rows, vocab);
    expectClose(await logits.read(), crossEntropyBackwardRef(x, targets, w, 2, rows, vocab), 1e-8, 2e-5, 'd_logits');
    expectClose(await weightedLoss(rt, out.loss, lossMask, 2).read(), [weightedLossRef(ref.loss, w, 2)], 1e-6, 1e-5, 'weighted loss');
  });

  it('weighted loss accumulates over micro-batches into the step loss', async () => {
    const rt = await gpu();
    const vocab = 40;
    const batches = [5, 300].map((rows, k) => ({
      rows,
      x: randn(rows * vocab, 40 + k, 2),
      targets: randomTargets(rows, vocab, 50 + k),
      w: mixedWeights(rows, 60 + k),
    }));
    const weightSum = sum(batches[0].w) + sum(batches[1].w);
    const stepLoss = rt.empty([1]);
    let expected = 0;
    for (const [k, b] of batches.entries()) {
      const lossMask = rt.upload(b.w, [b.rows]);
      const out = crossEntropyForwardBackward(rt, rt.upload(b.x, [b.rows, vocab]), rt.upload(b.targets, [b.rows], 'u32'), lossMask, weightSum);
      weightedLoss(rt, out.loss, lossMask, weightSum, { out: stepLoss, accumulate: k > 0 });
      expected += weightedLossRef(crossEntropyRef(b.x, b.targets, b.rows, vocab).loss, b.w, weightSum);
    }
    expectClose(await stepLoss.read(), [expected], 1e-6, 1e-5, 'step loss');
  });

  it('more rows than one grid dimension holds (32768 + 3 rows spill into y)', async () => {
    const rt = await gpu();
    const rows = 32_771, vocab = 4;
    const x = randn(rows * vocab, 77, 2);
    const targets = randomTargets(rows, vocab, 78);
    const w = mixedWeights(rows, 79);
    const logits = rt.upload(x, [rows, vocab]);
    const out = crossEntropyForwardBackward(rt, logits, rt.upload(targets, [rows], 'u32'), rt.upload(w, [rows]), sum(w));
    const ref = crossEntropyRef(x, targets, rows, vocab);
    expectClose(await out.loss.read(), ref.loss, 5e-6, 2e-6, 'loss');
    expectClose(await logits.read(), crossEntropyBackwardRef(x, targets, w, sum(w), rows, vocab), 1e-8, 2e-5, 'd_logits');
  });

  it('rejects mismatched shapes and dtypes with a RangeError or TypeError naming the op', async () => {
    const rt = await gpu();
    const logits = rt.zeros([3, 8]);
    const targets = rt.zeros([3], 'u32');
    expect(() => crossEntropyForward(rt, logits, rt.zeros([4], 'u32'))).toThrow(/crossEntropyForward: targets \[4\] do not match the 3 rows/);
    expect(() => crossEntropyForward(rt, rt.zeros([8]), targets)).toThrow(RangeError);
    expect(() => crossEntropyForward(rt, logits, rt.zeros([3]))).toThrow(/targets must be u32/);
    expect(() => crossEntropyForwardBackward(rt, logits, targets, rt.zeros([2]), 1)).toThrow(/crossEntropyForwardBackward: loss mask \[2\] does not match the 3 rows/);
    expect(() => crossEntropyForwardBackward(rt, logits, targets, rt.zeros([3]), -1)).toThrow(/weightSum must be/);
    expect(() => crossEntropyForwardBackward(rt, logits, targets, rt.zeros([3]), NaN)).toThrow(RangeError);
  });
});
