import { describe, expect, it } from 'vitest';
import { makeBatches, type TokenBatch } from '../../src/data/batch.ts';
import type { TokenizedRecord } from '../../src/data/tokenize.ts';

const ex = (id: string, tokens: number[], labelFrom: number): TokenizedRecord => ({ id, tokens, lossMask: tokens.map((_, i) => i >= labelFrom), truncated: 0 });
const a = ex('a', [1, 10, 11, 12], 2); // labels 11, 12
const b = ex('b', [1, 20, 21], 1); // labels 20, 21
const c = ex('c', [1, 30, 31, 32, 33], 3);

describe('batching', () => {
  it('pads one example per row with next-token targets and 0/1 weights (TokenBatch-compatible)', () => {
    const batches = makeBatches([a, b, c], { batchSize: 2, padId: 2 });
    const mb: TokenBatch = batches[0];
    expect(batches.map((x) => [x.batch, x.seqLen])).toEqual([[2, 4], [1, 5]]);
    expect([...mb.ids]).toEqual([1, 10, 11, 12, 1, 20, 21, 2]);
    expect([...mb.targets]).toEqual([10, 11, 12, 2, 20, 21, 2, 2]);
    expect([...mb.lossMask]).toEqual([0, 1, 1, 0, 1, 1, 0, 0]);
    expect(batches[0].rows).toEqual([['a'], ['b']]);
  });

  it('pads to a fixed seqLen and refuses longer examples', () => {
    const [x] = makeBatches([b], { batchSize: 4, seqLen: 6, padId: 0 });
    expect(x.ids.length).toBe(6);
    expect([...x.lossMask]).toEqual([1, 1, 0, 0, 0, 0]);
    expect(() => makeBatches([c], { batchSize: 1, seqLen: 4, padId: 0 })).toThrow(/truncate with maxLength first/);
  });

  it('packs several examples per row without loss across the boundary', () => {
    const batches: TokenBatch[] = makeBatches([a, b, c], { batchSize: 2, seqLen: 8, padId: 0, mode: 'pack' });
    expect(batches).toHaveLength(1);
    expect(batches[0].rows).toEqual([['a', 'b'], ['c']]);
    const { ids, targets, lossMask } = batches[0];
    expect([...ids.slice(0, 8)]).toEqual([1, 10, 11, 12, 1, 20, 21, 0]);
    expect([...targets.slice(0, 8)]).toEqual([10, 11, 12, 0, 20, 21, 0, 0]);
    expect([...lossMask.slice(0, 8)]).toEqual([0, 1, 1, 0, 1, 1, 0, 0]);
    expect([...lossMask.slice(8)]).toEqual([0, 0, 1, 1, 0, 0, 0, 0]);
    expect(() => makeBatches([a], { batchSize: 1, padId: 0, mode: 'pack' })).toThrow(/needs seqLen/);
  });
});
