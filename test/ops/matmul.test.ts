import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/gpu/index.ts';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { finiteDiff, projectionLoss } from '../helpers/finite-diff.ts';
import { matmulBackwardRef, matmulRef, type MatmulRefDims } from '../reference/matmul.ts';
import { matmul, matmulBackward, type MatmulKernel } from '../../src/ops/matmul.ts';
import { eightLaneSubgroups } from '../../src/ops/kernel-choice.ts';

// [M, N, K]: a single element, odd sizes below one 16x16 (16x32) tile, sizes straddling tiles with
// K not a multiple of 4 (the padded path), exact tiles with aligned rows (the unpadded path), a
// wide output with aligned K, and more tiles than one workgroup holds (a 2D grid with idle quads);
// for the octet kernels, a 32-wide tile straddled in both directions, 64-wide ones past a workgroup's 8,
// and 128x8 ones (at least 1,024 rows of at most 8 columns) straddled in both directions.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 5, 7],
  [17, 33, 65],
  [16, 32, 16],
  [130, 67, 129],
  [40, 72, 36],
  [100, 300, 8],
  [70, 29, 33],
  [97, 200, 40],
  [1030, 7, 19],
];
const TRANS: [boolean, boolean][] = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
];

// f32 sums of K products of unit normals: error grows ~ with K.
const tol = (K: number) => ({ atol: 2e-6 * K, rtol: 1e-5 });

// 'skinny' is what 'auto' picks for outputs of at most 4 rows; forced here, it must be right for any shape.
// 'octets' (32-row tiles shared across subgroups of 8: 32 columns wide up to N 32, 64 above; 128x8 tiles
// for 1,024 rows or more of at most 8 columns) where the device's subgroups are exactly 8 lanes wide (lavapipe).
async function kernelsOf(rt: Runtime): Promise<MatmulKernel[]> {
  if (!rt.hasFeature('subgroups')) return ['portable', 'skinny'];
  return eightLaneSubgroups(rt) ? ['portable', 'subgroups', 'octets', 'skinny'] : ['portable', 'subgroups', 'skinny'];
}

function storageShape(rows: number, cols: number, trans: boolean, batch?: number): number[] {
  const s = trans ? [cols, rows] : [rows, cols];
  return batch === undefined ? s : [batch, ...s];
}

const tag = (ta: boolean, tb: boolean) => `${ta ? 'Aᵀ' : 'A'}·${tb ? 'Bᵀ' : 'B'}`;

describe('matmul forward', () => {
  for (const [M, N, K] of SHAPES) {
    it(`all transpose combinations, M ${M} N ${N} K ${K}, every kernel`, async () => {
      const rt = await gpu();
      const a = randn(M * K, M * 1000 + K), b = randn(K * N, N * 1000 + K);
      const { atol, rtol } = tol(K);
      for (const kernel of await kernelsOf(rt)) {
        for (const [transA, transB] of TRANS) {
          const d: MatmulRefDims = { M, N, K, batch: 1, aBatched: false, bBatched: false, transA, transB };
          const ta = rt.upload(a, storageShape(M, K, transA)), tb = rt.upload(b, storageShape(K, N, transB));
          const c = matmul(rt, ta, tb, { transA, transB, kernel });
          expect(c.shape).toEqual([M, N]);
          expectClose(await c.read(), matmulRef(a, b, d), atol, rtol, `${kernel} ${tag(transA, transB)}`);
          for (const t of [ta, tb, c]) t.release();
        }
      }
    });
  }

  it('batched operands, and an operand shared across the batch', async () => {
    const rt = await gpu();
    const [batch, M, N, K] = [3, 9, 21, 14];
    const { atol, rtol } = tol(K);
    for (const kernel of await kernelsOf(rt)) {
      for (const [transA, transB] of TRANS) {
        for (const [aBatched, bBatched] of [[true, true], [true, false], [false, true]]) {
          const a = randn((aBatched ? batch : 1) * M * K, 7), b = randn((bBatched ? batch : 1) * K * N, 8);
          const d: MatmulRefDims = { M, N, K, batch, aBatched, bBatched, transA, transB };
          const ta = rt.upload(a, storageShape(M, K, transA, aBatched ? batch : undefined));
          const tb = rt.upload(b, storageShape(K, N, transB, bBatched ? batch : undefined));
          const what = `${kernel} ${tag(transA, transB)} ${aBatched ? 'A' : '-'}${bBatched ? 'B' : '-'} batched`;
          const c = matmul(rt, ta, tb, { transA, transB, kernel });
          expect(c.shape, what).toEqual([batch, M, N]);
          expectClose(await c.read(), matmulRef(a, b, d), atol, rtol, what);
          const s = matmul(rt, ta, tb, { transA, transB, kernel, sumBatch: true });
          expect(s.shape, what).toEqual([M, N]);
          expectClose(await s.read(), matmulRef(a, b, { ...d, sumBatch: true }), 3 * atol, rtol, `${what}, summed`);
          for (const t of [ta, tb, c, s]) t.release();
        }
      }
    }
  });

  it('alpha, accumulateInto and out', async () => {
    const rt = await gpu();
    const [M, N, K] = [19, 37, 23];
    const { atol, rtol } = tol(K);
    for (const kernel of await kernelsOf(rt)) {
      const a = randn(M * K, 21), b = randn(N * K, 22), c0 = randn(M * N, 23);
      const d: MatmulRefDims = { M, N, K, batch: 1, aBatched: false, bBatched: false, transB: true, alpha: -0.75 };
      const ta = rt.upload(a, [M, K]), tb = rt.upload(b, [N, K]);
      // C += alpha·A·Bᵀ, twice: gradient accumulation must add, not overwrite.
      const acc = rt.upload(c0, [M, N]);
      expect(matmul(rt, ta, tb, { transB: true, alpha: -0.75, accumulateInto: acc, kernel })).toBe(acc);
      matmul(rt, ta, tb, { transB: true, alpha: -0.75, accumulateInto: acc, kernel });
      const once = matmulRef(a, b, d);
      expectClose(await acc.read(), Float64Array.from(c0, (x, i) => x + 2 * once[i]), 2 * atol, rtol, `${kernel} accumulate`);
      // out overwrites whatever was there (NaN included).
      const out = rt.upload(new Float32Array(M * N).fill(NaN), [M, N]);
      expect(matmul(rt, ta, tb, { transB: true, alpha: -0.75, out, kernel })).toBe(out);
      expectClose(await out.read(), once, atol, rtol, `${kernel} out`);
      for (const t of [ta, tb, acc, out]) t.release();
    }
  });

  // LoRA fused into its projection: C = alpha·op(A)·op(B) + alpha2·op(A2)·op(B2) (+ C) in one dispatch, for
  // each kernel and transpose, rank r = 8 (aligned) and 3 (padded), against the f64 reference of both products.
  it('a low-rank term summed in the same dispatch, every kernel, transpose and rank', async () => {
    const rt = await gpu();
    for (const [M, N, K, r] of [[37, 45, 20, 8], [3, 70, 9, 3], [130, 16, 64, 8]]) {
      {
        const a = randn(M * K, 71), b = randn(K * N, 72), a2 = randn(M * r, 73), b2 = randn(r * N, 74), c0 = randn(M * N, 75);
        const { atol, rtol } = tol(K + r);
        for (const kernel of await kernelsOf(rt)) {
          for (const [transA, transB] of TRANS) {
            const d: MatmulRefDims = { M, N, K, batch: 1, aBatched: false, bBatched: false, transA, transB, alpha: 0.5 };
            const d2: MatmulRefDims = { ...d, K: r, alpha: -2 };
            const want = Float64Array.from(matmulRef(a, b, d), (x, i) => x + matmulRef(a2, b2, d2)[i]);
            const ta = rt.upload(a, storageShape(M, K, transA)), tb = rt.upload(b, storageShape(K, N, transB));
            const ta2 = rt.upload(a2, storageShape(M, r, transA)), tb2 = rt.upload(b2, storageShape(r, N, transB));
            const what = `${kernel} ${tag(transA, transB)} M ${M} N ${N} K ${K} r ${r}`;
            const c = matmul(rt, ta, tb, { transA, transB, alpha: 0.5, kernel, lowRank: { a: ta2, b: tb2, alpha: -2 } });
            expectClose(await c.read(), want, atol, rtol, what);
            const acc = rt.upload(c0, [M, N]);
            matmul(rt, ta, tb, { transA, transB, alpha: 0.5, kernel, lowRank: { a: ta2, b: tb2, alpha: -2 }, accumulateInto: acc });
            expectClose(await acc.read(), Float64Array.from(want, (x, i) => x + c0[i]), atol, rtol, `${what} accumulated`);
            for (const t of [ta, tb, ta2, tb2, c, acc]) t.release();
          }
        }
      }
    }
  });

  it('a low-rank term with a batched main product (shared and batched term operands)', async () => {
    const rt = await gpu();
    const [batch, M, N, K, r] = [3, 10, 12, 8, 4];
    const a = randn(batch * M * K, 81), b = randn(N * K, 82), a2 = randn(batch * M * r, 83), b2 = randn(N * r, 84);
    const d: MatmulRefDims = { M, N, K, batch, aBatched: true, bBatched: false, transB: true };
    const want = Float64Array.from(matmulRef(a, b, d), (x, i) => x + 1.5 * matmulRef(a2, b2, { ...d, K: r })[i]);
    for (const kernel of await kernelsOf(rt)) {
      const c = matmul(rt, rt.upload(a, [batch, M, K]), rt.upload(b, [N, K]), { transB: true, kernel, lowRank: { a: rt.upload(a2, [batch, M, r]), b: rt.upload(b2, [N, r]), alpha: 1.5 } });
      expectClose(await c.read(), want, 1e-4, 1e-5, kernel);
    }
    expect(() => matmul(rt, rt.zeros([4, 4]), rt.zeros([4, 4]), { lowRank: { a: rt.zeros([4, 2]), b: rt.zeros([2, 5]), alpha: 1 } })).toThrow(/low-rank term .* is \[4, 5\], the product \[4, 4\]/);
  });

  it('an empty inner dimension gives zeros (and leaves an accumulator unchanged)', async () => {
    const rt = await gpu();
    const c = matmul(rt, rt.zeros([3, 0]), rt.zeros([0, 5]));
    expectClose(await c.read(), new Float64Array(15), 0, 0, 'C');
    const acc = rt.upload(randn(15, 5), [3, 5]);
    const before = await acc.read();
    matmul(rt, rt.zeros([3, 0]), rt.zeros([0, 5]), { accumulateInto: acc });
    expectClose(await acc.read(), before, 0, 0, 'accumulator');
  });

  // Each output element is summed in the same order by both (4-steps of k, the same 4x4 products), so
  // choosing the octets changes no value anywhere in a model.
  it('the octet kernels give the quad kernel\'s values bit for bit (where the subgroups are 8 lanes wide)', async (ctx) => {
    const rt = await gpu();
    if (!eightLaneSubgroups(rt)) return ctx.skip();
    for (const [M, N, K, transA, transB] of [[130, 29, 33, false, true], [97, 200, 40, true, false], [40, 72, 36, true, true], [1100, 8, 40, false, true], [1030, 6, 21, true, false]] as const) {
      const ta = rt.upload(randn(M * K, M), storageShape(M, K, transA)), tb = rt.upload(randn(K * N, N), storageShape(K, N, transB));
      const lowRank = { a: rt.upload(randn(M * 8, 3), storageShape(M, 8, transA)), b: rt.upload(randn(8 * N, 4), storageShape(8, N, transB)), alpha: 0.5 };
      for (const opts of [{}, { lowRank }]) {
        const quad = await matmul(rt, ta, tb, { transA, transB, kernel: 'subgroups', ...opts }).read();
        const octet = await matmul(rt, ta, tb, { transA, transB, kernel: 'octets', ...opts }).read();
        expect(Array.from(octet).findIndex((x, i) => !Object.is(x, quad[i])), `M ${M} N ${N} K ${K} ${tag(transA, transB)}`).toBe(-1);
      }
    }
  });

  it('refuses the octet kernels on a device whose subgroups are not 8 lanes wide', async () => {
    const rt = await gpu();
    // This device as one that reports 4-lane subgroups (SwiftShader's width), or none.
    for (const subgroupSizes of [{ min: 4, max: 4 }, { min: 8, max: 32 }, null]) {
      const other = Object.create(rt, { report: { value: { ...rt.report, subgroupSizes } } }) as Runtime;
      expect(eightLaneSubgroups(other)).toBe(false);
      expect(() => matmul(other, rt.zeros([40, 40]), rt.zeros([40, 40]), { kernel: 'octets' })).toThrow(/kernel 'octets' requested but the device's subgroups are not exactly 8 lanes wide/);
    }
  });

  it('rejects bad shapes with the op and shapes in the message', async () => {
    const rt = await gpu();
    expect(() => matmul(rt, rt.zeros([2, 3]), rt.zeros([4, 5]))).toThrow(/matmul: A \[2, 3\] · B \[4, 5\]: inner dimensions differ \(3 vs 4\)/);
    expect(() => matmul(rt, rt.zeros([2, 3]), rt.zeros([5, 4]), { transB: true })).toThrow(/B \[5, 4\]ᵀ: inner dimensions differ/);
    expect(() => matmul(rt, rt.zeros([2, 4, 3]), rt.zeros([3, 3, 5]))).toThrow(/batch dims differ/);
    expect(() => matmul(rt, rt.zeros([3]), rt.zeros([3, 5]))).toThrow(RangeError);
    expect(() => matmul(rt, rt.zeros([2, 3]), rt.zeros([3, 5]), { out: rt.zeros([2, 4]) })).toThrow(/out \[2, 4\] does not hold the result \[2, 5\]/);
    const a = rt.zeros([4, 4]);
    expect(() => matmul(rt, a, rt.zeros([4, 4]), { accumulateInto: a })).toThrow(/must not share a buffer/);
    expect(() => matmulBackward(rt, rt.zeros([2, 3]), rt.zeros([3, 5]), rt.zeros([2, 4]))).toThrow(/dC \[2, 4\] does not match C \[2, 5\]/);
  });
});

describe('matmul backward', () => {
  // Batch layouts: none, both batched, B shared (weights), A shared.
  const LAYOUTS: [number, boolean, boolean][] = [
    [1, false, false],
    [2, true, true],
    [3, true, false],
    [2, false, true],
  ];

  it('GPU gradients match the CPU analytic backward for every transpose and batch layout', async () => {
    const rt = await gpu();
    const [M, N, K] = [13, 22, 10];
    const { atol, rtol } = tol(3 * Math.max(M, N, K));
    for (const kernel of await kernelsOf(rt)) {
      for (const [transA, transB] of TRANS) {
        for (const [batch, aBatched, bBatched] of LAYOUTS) {
          const a = randn((aBatched ? batch : 1) * M * K, 31), b = randn((bBatched ? batch : 1) * K * N, 32), dC = randn(batch * M * N, 33);
          const d: MatmulRefDims = { M, N, K, batch, aBatched, bBatched, transA, transB, alpha: 1.5 };
          const lead = (on: boolean) => (on && batch > 1 ? batch : undefined);
          const ta = rt.upload(a, storageShape(M, K, transA, lead(aBatched)));
          const tb = rt.upload(b, storageShape(K, N, transB, lead(bBatched)));
          const tdC = rt.upload(dC, batch > 1 ? [batch, M, N] : [M, N]);
          const what = `${kernel} ${tag(transA, transB)} batch ${batch} ${aBatched ? 'A' : '-'}${bBatched ? 'B' : '-'}`;
          const ref = matmulBackwardRef(a, b, dC, d);
          const { dA, dB } = matmulBackward(rt, ta, tb, tdC, { transA, transB, alpha: 1.5, kernel });
          expect(dA!.shape, what).toEqual(ta.shape);
          expect(dB!.shape, what).toEqual(tb.shape);
          expectClose(await dA!.read(), ref.dA, atol, rtol, `${what} dA`);
          expectClose(await dB!.read(), ref.dB, atol, rtol, `${what} dB`);
          for (const t of [ta, tb, tdC, dA!, dB!]) t.release();
        }
      }
    }
  });

  it('accumulates into given gradients and skips what is not needed', async () => {
    const rt = await gpu();
    const [M, N, K] = [6, 9, 5];
    const a = randn(M * K, 51), b = randn(N * K, 52), dC = randn(M * N, 53), gA = randn(M * K, 54);
    const d: MatmulRefDims = { M, N, K, batch: 1, aBatched: false, bBatched: false, transB: true };
    const ref = matmulBackwardRef(a, b, dC, d);
    const accA = rt.upload(gA, [M, K]);
    const { dA, dB } = matmulBackward(rt, rt.upload(a, [M, K]), rt.upload(b, [N, K]), rt.upload(dC, [M, N]), { transB: true, accumulateA: accA, skipB: true });
    expect(dA).toBe(accA);
    expect(dB).toBeNull();
    expectClose(await accA.read(), Float64Array.from(gA, (x, i) => x + ref.dA[i]), 1e-5, 1e-5, 'dA accumulated');
  });

  it('the CPU backward matches finite differences of the CPU forward', () => {
    const [M, N, K] = [3, 4, 5];
    for (const [transA, transB] of TRANS) {
      for (const [batch, aBatched, bBatched] of LAYOUTS) {
        const d: MatmulRefDims = { M, N, K, batch, aBatched, bBatched, transA, transB, alpha: 0.5 };
        const a = Float64Array.from(randn((aBatched ? batch : 1) * M * K, 61));
        const b = Float64Array.from(randn((bBatched ? batch : 1) * K * N, 62));
        const proj = randn(batch * M * N, 63);
        const { dA, dB } = matmulBackwardRef(a, b, proj, d);
        const what = `${tag(transA, transB)} batch ${batch} ${aBatched ? 'A' : '-'}${bBatched ? 'B' : '-'}`;
        expectClose(dA, finiteDiff((x) => projectionLoss(matmulRef(x, b, d), proj), a), 1e-7, 1e-6, `${what} dA vs finite differences`);
        expectClose(dB, finiteDiff((x) => projectionLoss(matmulRef(a, x, d), proj), b), 1e-7, 1e-6, `${what} dB vs finite differences`);
      }
    }
  });
});
