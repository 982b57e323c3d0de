// Online SLM (Rho-1): the step's label tokens ranked together by excess loss (current − reference), the
// top share kept; tokens without a reference loss kept unranked; every decision reported.
import { describe, expect, it } from 'vitest';
import type { TokenBatch } from '../../src/data/batch.ts';
import { onlineSlmSelector } from '../../src/xtf/slm-online.ts';

/** One micro-batch of `rows` examples, seqLen 4, label weights as given (position t predicts token t + 1). */
function rowBatch(ids: string[], weights: number[]): TokenBatch {
  const n = ids.length * 4;
  return { batch: ids.length, seqLen: 4, ids: new Uint32Array(n), targets: new Uint32Array(n), lossMask: Float32Array.from(weights), rows: ids.map((id) => [id]) };
}

describe('online SLM selector', () => {
  // Reference loss per token position (index = token); position t of a row is scored against token t + 1.
  const referenceLoss = new Map<string, (number | null)[]>([
    ['a', [null, null, 1, 1, 1]],
    ['b', [null, 0.5, 0.5, null, 0.5]],
    ['c', [null, 2, 2, 2, 2]],
  ]);
  const step = [rowBatch(['a', 'b'], [0, 1, 1, 1, 1, 1, 1, 0]), rowBatch(['c'], [1, 1, 1, 1])];
  // Current losses: excess = current − reference at each label position.
  const current = [Float32Array.from([9, 1.5, 4, 1.2, 0.6, 3, 9, 9]), Float32Array.from([2.1, 5, 2, 2.5])];

  it('keeps the top share of the whole step by excess loss, and keeps tokens with no reference loss', () => {
    const decisions: string[] = [];
    const select = onlineSlmSelector({ referenceLoss, keepFraction: 0.5, onToken: (id, position, kept) => decisions.push(`${id}${position}${kept ? '+' : '-'}`) });
    const out = select(step, current);
    // Excess: a@2 0.5, a@3 3, a@4 0.2 | b@1 0.1, b@2 2.5, (b@3 no reference: kept) | c@1 0.1, c@2 3, c@3 0, c@4 0.5.
    // 9 ranked, keep floor(4.5) = 4: a@3 3, c@2 3, b@2 2.5, then the tie at 0.5 goes to the earliest (a@2).
    expect(Array.from(out[0].lossMask)).toEqual([0, 1, 1, 0, 0, 1, 1, 0]);
    expect(Array.from(out[1].lossMask)).toEqual([0, 1, 0, 0]);
    expect(decisions).toEqual(['a2+', 'a3+', 'a4-', 'b1-', 'b2+', 'b3+', 'c1-', 'c2+', 'c3-', 'c4-']);
    // The inputs are not changed.
    expect(Array.from(step[0].lossMask)).toEqual([0, 1, 1, 1, 1, 1, 1, 0]);
  });

  it('keeps everything at keepFraction 1 and nothing ranked at 0', () => {
    expect(onlineSlmSelector({ referenceLoss, keepFraction: 1 })(step, current).map((mb) => Array.from(mb.lossMask))).toEqual(step.map((mb) => Array.from(mb.lossMask)));
    const none = onlineSlmSelector({ referenceLoss, keepFraction: 0 })(step, current);
    expect(Array.from(none[0].lossMask)).toEqual([0, 0, 0, 0, 0, 0, 1, 0]); // only b@3, which has no reference loss
  });

  it('needs one example per row, with its id', () => {
    const packed = { ...rowBatch(['a'], [0, 1, 1, 0]), rows: [['a', 'b']] };
    expect(() => onlineSlmSelector({ referenceLoss })([packed], [new Float32Array(4)])).toThrow(/one example per row/);
    const { rows: _, ...anonymous } = rowBatch(['a'], [0, 1, 1, 0]);
    expect(() => onlineSlmSelector({ referenceLoss })([anonymous], [new Float32Array(4)])).toThrow(/micro-batch 0/);
  });
});
