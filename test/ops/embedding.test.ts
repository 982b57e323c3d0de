import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn, rng } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { finiteDiff, projectionLoss } from '../helpers/finite-diff.ts';
import { embeddingBackwardRef, embeddingForwardRef } from '../reference/embedding.ts';
import { embeddingBackward, embeddingForward } from '../../src/ops/embedding.ts';

/** Ids with repeats (a skewed draw, as in text), plus the given out-of-range ids at the front. */
function tokenIds(n: number, vocab: number, seed: number, outOfRange: number[] = []): Uint32Array {
  const r = rng(seed);
  const ids = Uint32Array.from({ length: n }, () => Math.floor(vocab * r() ** 2));
  ids.set(outOfRange.slice(0, n));
  return ids;
}

// [tokens, vocab, cols]: widths not a multiple of 4 (output quads straddle rows), vocabularies
// smaller and larger than N, a 32000-row vocabulary at N = 2048.
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [7, 5, 3],
  [300, 37, 66],
  [2048, 512, 64],
  [2048, 32000, 5],
];

describe('embedding', () => {
  for (const [tokens, vocab, cols] of SHAPES) {
    it(`forward and backward with N ${tokens}, V ${vocab}, C ${cols}`, async () => {
      const rt = await gpu();
      const ids = tokenIds(tokens, vocab, tokens + vocab, tokens > 2 ? [vocab, 0xffffffff] : []);
      const table = randn(vocab * cols, vocab + cols);
      const tIds = rt.upload(ids, [tokens], 'u32');
      const out = embeddingForward(rt, tIds, rt.upload(table, [vocab, cols]));
      expect(out.shape).toEqual([tokens, cols]);
      expectClose(await out.read(), embeddingForwardRef(ids, table, vocab, cols), 0, 0, 'rows');

      // Accumulates onto an existing gradient (the tied classifier's, in a model).
      const dOut = randn(tokens * cols, tokens * cols + 1);
      const initial = randn(vocab * cols, 99);
      const dTable = rt.upload(initial, [vocab, cols]);
      expect(embeddingBackward(rt, rt.upload(dOut, [tokens, cols]), tIds, dTable)).toBe(dTable);
      const got = await dTable.read();
      expectClose(got, embeddingBackwardRef(dOut, ids, vocab, cols, initial), 1e-5, 1e-5, 'dtable');

      // Deterministic: the same inputs give the same bits.
      const again = rt.upload(initial, [vocab, cols]);
      embeddingBackward(rt, rt.upload(dOut, [tokens, cols]), tIds, again);
      expect(Array.from(await again.read())).toEqual(Array.from(got));
    });
  }

  it('the CPU backward matches finite differences of the CPU forward', () => {
    const [vocab, cols] = [4, 3];
    const ids = Uint32Array.from([2, 0, 2, 7, 2, 1]);
    const table = Float64Array.from(randn(vocab * cols, 51));
    const proj = randn(ids.length * cols, 52);
    const numeric = finiteDiff((t) => projectionLoss(embeddingForwardRef(ids, t, vocab, cols), proj), table);
    expectClose(embeddingBackwardRef(proj, ids, vocab, cols), numeric, 1e-8, 1e-6, 'dtable vs finite differences');
  });

  it('rejects bad inputs', async () => {
    const rt = await gpu();
    const table = rt.zeros([10, 4]);
    expect(() => embeddingForward(rt, rt.zeros([3], 'f32'), table)).toThrow(/embedding: ids .* must be u32/);
    expect(() => embeddingForward(rt, rt.zeros([3], 'u32'), rt.zeros([40]))).toThrow(RangeError);
    expect(() => embeddingBackward(rt, rt.zeros([3, 5]), rt.zeros([3], 'u32'), table)).toThrow(/embedding backward: dOut \[3, 5\]/);
  });
});
