// Online XTF: KN re-scored at every step from the current model's p = exp(−loss), RI / TR flags fixed at the
// initial scoring, only label tokens train. Hand-worked micro-batches for both rule sets (no GPU), then a
// real run on stories260K in which the mask follows the model as it learns.
import { describe, expect, it } from 'vitest';
import { batchOf, type TokenBatch } from '../../src/data/batch.ts';
import { exampleRecord } from '../../src/data/records.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { finetune, finetuneConfig } from '../../src/train/finetune.ts';
import { xtfOptions } from '../../src/xtf/options.ts';
import { scoreExamples } from '../../src/xtf/score.ts';
import { scoredToTraining } from '../../src/xtf/to-training.ts';
import type { Attribute, ScoredExample } from '../../src/xtf/types.ts';
import { onlineXtfIdentity, onlineXtfSelector } from '../../src/xtf/xtf-online.ts';
import { gpu } from '../helpers/gpu.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';

type Scored = Pick<ScoredExample, 'id' | 'tokens' | 'label' | 'flags'>;

/** A scored example: `label` as 0/1 per token, `flags` by token position. */
function scored(id: string, tokens: number[], label: number[], flags: Record<number, Attribute[]> = {}): Scored {
  return { id, tokens, label: label.map((l) => l === 1), flags: tokens.map((_, j) => flags[j] ?? []) };
}

/** The trainer's micro-batch of the examples (padding mode, padId 0), every label token trained. */
const batch = (...exs: Scored[]): TokenBatch => batchOf(exs.map((e) => ({ id: e.id, tokens: e.tokens, lossMask: e.label, truncated: 0 })), 0);

/** Per-position losses of a micro-batch from the current p of each predicted token: p[row][j] is the
 *  probability of token j of the row (predicted at position j − 1); unlisted positions get p = 1 (loss 0). */
function losses(mb: TokenBatch, p: Record<number, number>[]): Float32Array {
  const out = new Float32Array(mb.batch * mb.seqLen);
  p.forEach((row, r) => {
    for (const [j, v] of Object.entries(row)) out[r * mb.seqLen + Number(j) - 1] = -Math.log(v);
  });
  return out;
}

const decisions = () => {
  const seen: string[] = [];
  return { seen, onToken: (id: string, j: number, kept: boolean, flags: readonly Attribute[]) => seen.push(`${id}${j}${kept ? '+' : '-' + flags.join(',')}`) };
};

describe('online XTF, paper rules (KN: p > 1 − kn.threshold)', () => {
  const xtf = xtfOptions({ rules: 'paper' }); // kn.threshold 0.05: KN when p > 0.95
  // a: prompt 0–1, labels 2–5; the initial scoring flagged 2 RI, 3 KN, 4 TR.
  const a = scored('a', [1, 10, 11, 12, 13, 14], [0, 0, 1, 1, 1, 1], { 2: ['ri'], 3: ['kn'], 4: ['tr'] });
  // b: prompt 0, labels 1–3, flagged 1 KN+TR, 3 RI; shorter than a, so its row is padded.
  const b = scored('b', [1, 20, 21, 22], [0, 1, 1, 1], { 1: ['kn', 'tr'], 3: ['ri'] });
  const mb = batch(a, b); // seqLen 6; position t predicts token t + 1
  it('the batch is the trainer\'s: a trains positions 1–4, b positions 0–2', () => {
    expect(Array.from(mb.lossMask)).toEqual([0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0]);
  });

  it('KN follows the current p across the threshold; RI and TR stay; the initial KN flags are dropped', () => {
    const d = decisions();
    const select = onlineXtfSelector({ scored: [a, b], xtf, onToken: d.onToken });
    // Step 1: a3 p 0.94 (kept: its initial KN flag is gone), a4 p 0.99 (KN, and TR fixed); b1 p 0.3 (TR
    // only), b2 p 0.99 (KN), b3 RI.
    const step1 = select([mb], [losses(mb, [{ 1: 0.999, 2: 0.5, 3: 0.94, 4: 0.99, 5: 0.3 }, { 1: 0.3, 2: 0.99, 3: 0.1 }])]);
    expect(Array.from(step1[0].lossMask)).toEqual([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    expect(d.seen).toEqual(['a2-ri', 'a3+', 'a4-kn,tr', 'a5+', 'b1-tr', 'b2-kn', 'b3-ri']);
    // Step 2: the model has learned a3 (0.96 > 0.95: KN) and unlearned a4 (0.5: TR still masks it), b2
    // fell below the threshold (0.9: trains again).
    d.seen.length = 0;
    const step2 = select([mb], [losses(mb, [{ 2: 0.5, 3: 0.96, 4: 0.5, 5: 0.3 }, { 1: 0.3, 2: 0.9, 3: 0.1 }])]);
    expect(Array.from(step2[0].lossMask)).toEqual([0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]);
    expect(d.seen).toEqual(['a2-ri', 'a3-kn', 'a4-tr', 'a5+', 'b1-tr', 'b2+', 'b3-ri']);
    // The inputs are not changed.
    expect(Array.from(mb.lossMask)).toEqual([0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0]);
  });

  it('prompt, last-token and padding positions never train, whatever the incoming mask says', () => {
    const d = decisions();
    // Every position of the batch marked trainable, and every p = 1 (would be KN if it were a label).
    const all = { ...mb, lossMask: new Float32Array(12).fill(1) };
    const out = onlineXtfSelector({ scored: [a, b], xtf: { ...xtf, attributes: { ri: false, kn: false, tr: false } }, onToken: d.onToken })([all], [new Float32Array(12)]);
    // With every attribute off, exactly the label targets train: a's positions 1–4, b's 0–2.
    expect(Array.from(out[0].lossMask)).toEqual([0, 1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0]);
    expect(d.seen).toEqual(['a2+', 'a3+', 'a4+', 'a5+', 'b1+', 'b2+', 'b3+']);
  });

  it('a label token the incoming mask left out stays out and is not reported', () => {
    const d = decisions();
    const some = { ...mb, lossMask: Float32Array.from([0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0]) };
    const out = onlineXtfSelector({ scored: [a, b], xtf, onToken: d.onToken })([some], [losses(mb, [{ 2: 0.5, 3: 0.3, 4: 0.3, 5: 0.3 }, { 1: 0.3, 2: 0.3, 3: 0.1 }])]);
    expect(Array.from(out[0].lossMask)).toEqual([0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]);
    expect(d.seen).toEqual(['a2-ri', 'a4-tr', 'a5+', 'b1-tr', 'b2+', 'b3-ri']);
  });

  it('switched-off attributes take no part: fixed flags of RI / TR, fresh KN', () => {
    const p = [losses(mb, [{ 2: 0.5, 3: 0.96, 4: 0.5, 5: 0.3 }, { 1: 0.3, 2: 0.9, 3: 0.1 }])];
    const knOnly = onlineXtfSelector({ scored: [a, b], xtf: { ...xtf, attributes: { ri: false, kn: true, tr: false } } })([mb], p);
    expect(Array.from(knOnly[0].lossMask)).toEqual([0, 1, 0, 1, 1, 0, 1, 1, 1, 0, 0, 0]);
    const noKn = onlineXtfSelector({ scored: [a, b], xtf: { ...xtf, attributes: { ri: true, kn: false, tr: true } } })([mb], p);
    expect(Array.from(noKn[0].lossMask)).toEqual([0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0]);
  });

  it('a non-finite current loss never flags KN', () => {
    const l = losses(mb, [{ 2: 0.5, 3: 0.99, 4: 0.5, 5: 0.99 }, { 1: 0.3, 2: 0.9, 3: 0.1 }]);
    l[2] = NaN; // a3
    l[4] = -Infinity; // a5 (p would be +Infinity)
    const out = onlineXtfSelector({ scored: [a, b], xtf })([mb], [l]);
    expect(Array.from(out[0].lossMask.slice(0, 6))).toEqual([0, 0, 1, 0, 1, 0]);
  });
});

describe('online XTF, released rules (KN: p > 0.95 and above the answer\'s cap)', () => {
  // caps.kn 0.5 so that a 6-token answer can show the cap: the cap is the answer's sorted p at
  // floor(6 · 0.5) = 3, and only p above both it and 0.95 is masked.
  const xtf = xtfOptions({ rules: 'released', caps: { kn: 0.5 } });
  // c: prompt 0–1, answer 2–7; initially 2 RI, 5 KN (dropped), 7 TR.
  const c = scored('c', [1, 30, 31, 32, 33, 34, 35, 36], [0, 0, 1, 1, 1, 1, 1, 1], { 2: ['ri'], 5: ['kn'], 7: ['tr'] });
  const d3 = scored('d', [1, 40, 41], [0, 1, 1]);
  const mb = batch(c, d3); // seqLen 8
  const step = (pc: Record<number, number>, pd: Record<number, number> = { 1: 0.99, 2: 0.99 }) => [losses(mb, [pc, pd])];

  it('masks only above the cap, and the cap moves with the answer\'s current p', () => {
    const d = decisions();
    const select = onlineXtfSelector({ scored: [c, d3], xtf, onToken: d.onToken });
    // Step 1, sorted p .2 .5 .6 .97 .99 .99: cap .97; c2, c3 (.99) masked; c6 (.97, tied with the cap) kept.
    // d: two tokens, cap = the maximum (floor(2 · 0.5) = 1), so nothing is masked however sure the model is.
    let out = select([mb], step({ 2: 0.99, 3: 0.99, 4: 0.5, 5: 0.6, 6: 0.97, 7: 0.2 }));
    expect(Array.from(out[0].lossMask)).toEqual([0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(d.seen).toEqual(['c2-ri,kn', 'c3-kn', 'c4+', 'c5+', 'c6+', 'c7-tr', 'd1+', 'd2+']);
    // Step 2: c3 fell to .5, c4 rose to .999: sorted .2 .5 .6 .97 .99 .999, cap .97: c2 and c4 masked.
    d.seen.length = 0;
    out = select([mb], step({ 2: 0.99, 3: 0.5, 4: 0.999, 5: 0.6, 6: 0.97, 7: 0.2 }));
    expect(Array.from(out[0].lossMask)).toEqual([0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(d.seen).toEqual(['c2-ri,kn', 'c3+', 'c4-kn', 'c5+', 'c6+', 'c7-tr', 'd1+', 'd2+']);
    // Step 3: the model is equally sure of c2–c6 (.99): the cap is .99 and nothing is above it.
    d.seen.length = 0;
    out = select([mb], step({ 2: 0.99, 3: 0.99, 4: 0.99, 5: 0.99, 6: 0.99, 7: 0.2 }));
    expect(Array.from(out[0].lossMask.slice(0, 8))).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
    // Step 4: above the cap (.4) but not above the floor .95: nothing masked.
    out = select([mb], step({ 2: 0.1, 3: 0.2, 4: 0.3, 5: 0.4, 6: 0.9, 7: 0.94 }));
    expect(Array.from(out[0].lossMask.slice(0, 8))).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
  });

  it('the answer is the example\'s label tokens as a whole, also those the incoming mask leaves out', () => {
    const d = decisions();
    // c2 not trained by the incoming mask: its p (.999) still counts in the answer, so the cap is .99
    // (sorted .2 .5 .6 .99 .99 .999) and c3, c4 at .99 are kept; c2 is not reported.
    const some = { ...mb, lossMask: Float32Array.from(mb.lossMask, (v, at) => (at === 1 ? 0 : v)) };
    const out = onlineXtfSelector({ scored: [c, d3], xtf, onToken: d.onToken })([some], step({ 2: 0.999, 3: 0.99, 4: 0.99, 5: 0.6, 6: 0.5, 7: 0.2 }));
    expect(Array.from(out[0].lossMask.slice(0, 8))).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
    expect(d.seen.slice(0, 5)).toEqual(['c3+', 'c4+', 'c5+', 'c6+', 'c7-tr']);
  });

  it('at the default cap 0.1 an answer of 20 may lose its single surest token', () => {
    const id = 'e', n = 21; // BOS + 20 answer tokens
    const e = scored(id, Array.from({ length: n }, (_, j) => 100 + j), Array.from({ length: n }, (_, j) => (j === 0 ? 0 : 1)));
    const one = batch(e);
    const p: Record<number, number> = {};
    for (let j = 1; j < n; j++) p[j] = 0.96 + j * 0.001; // all above 0.95; sorted index 18 is token 19
    const out = onlineXtfSelector({ scored: [e], xtf: xtfOptions({ rules: 'released' }) })([one], [losses(one, [p])]);
    const masked = Array.from(out[0].lossMask).map((v, t) => (v === 0 && t < n - 1 ? t + 1 : -1)).filter((j) => j >= 0);
    expect(masked).toEqual([20]);
  });
});

describe('online XTF refuses what it cannot match to its scores', () => {
  const xtf = xtfOptions();
  const a = scored('a', [1, 10, 11, 12], [0, 0, 1, 1]);
  const select = onlineXtfSelector({ scored: [a], xtf });
  const mb = batch(a);
  const zero = [new Float32Array(4)];

  it('rows without ids, packed rows and unknown ids', () => {
    const { rows: _, ...anonymous } = mb;
    expect(() => select([anonymous], zero)).toThrow(/micro-batch 0 must hold one example per row with its id/);
    expect(() => select([{ ...mb, rows: [['a', 'b']] }], zero)).toThrow(/one example per row/);
    expect(() => select([{ ...mb, rows: [['z']] }], zero)).toThrow(/example 'z', which the initial scoring does not have/);
  });

  it('rows whose tokens are not the scored ones, or that hold fewer', () => {
    expect(() => select([{ ...mb, ids: Uint32Array.from([1, 10, 99, 12]) }], zero)).toThrow(/differs from its scored tokens at position 2/);
    const longer = scored('a', [1, 10, 11, 12, 13], [0, 0, 1, 1, 1]);
    expect(() => onlineXtfSelector({ scored: [longer], xtf })([mb], zero)).toThrow(/5 tokens as scored but its row holds 4/);
  });

  it('duplicate ids, a loss array of the wrong size, bad options', () => {
    expect(() => onlineXtfSelector({ scored: [a, a], xtf })).toThrow(/'a' appears twice/);
    expect(() => select([mb], [new Float32Array(3)])).toThrow(/1 x 4 but has 3 losses/);
    expect(() => select([mb], [])).toThrow(/1 micro-batches but 0 loss arrays/);
    expect(() => onlineXtfSelector({ scored: [a], xtf: { ...xtf, rules: 'online' as never } })).toThrow(/rules must be/);
    expect(() => onlineXtfSelector({ scored: [a], xtf: { ...xtf, caps: { ...xtf.caps, kn: 2 } } })).toThrow(/caps.kn/);
  });

  it('the resume identity names the rules and changes with the fixed flags', () => {
    const id = onlineXtfIdentity({ scored: [a], xtf });
    expect(id).toMatch(/^rules released, kn-max 0.1, attributes ri\+kn\+tr, fixed flags fnv1a [0-9a-f]{8}$/);
    expect(onlineXtfIdentity({ scored: [a], xtf: xtfOptions({ rules: 'paper' }) })).toMatch(/^rules paper, kn-threshold 0.05, attributes ri\+kn\+tr, fixed flags /);
    expect(onlineXtfIdentity({ scored: [scored('a', [1, 10, 11, 12], [0, 0, 1, 1], { 3: ['kn'] })], xtf })).toBe(id); // KN is not fixed
    expect(onlineXtfIdentity({ scored: [scored('a', [1, 10, 11, 12], [0, 0, 1, 1], { 3: ['tr'] })], xtf })).not.toBe(id);
  });
});

describe('online XTF on stories260K: the mask follows the model as it learns', () => {
  it('re-scores KN every step (its share grows as the stories are learnt) while RI / TR stay fixed', async () => {
    const tok = loadTokenizer();
    const model = LlamaModel.fromWeights(await gpu(), loadModel());
    const stories = [
      ['Once upon a time', ' there was a little girl named Lily. She liked to play in the park with her dog.'],
      ['One day', ' Tom went to the store with his mom. He saw a big red ball and wanted it very much.'],
      ['The sun was', ' bright and warm. Sue and Ben went to the beach to build a castle in the sand.'],
      ['There was a', ' small bird in a tree. The bird sang a happy song every morning for the kids.'],
    ];
    const xtf = xtfOptions({ rules: 'paper' });
    const { scored: initial } = await scoreExamples(model, tok, stories.map(([prompt, completion], i) => exampleRecord({ id: `s${i}`, prompt, completion })), { xtf });
    const fixed = new Map(initial.map((ex) => [ex.id, ex.flags.map((f) => f.filter((a) => a !== 'kn').join(','))]));
    const steps: { seen: number; kn: number; masked: string[] }[] = [];
    const select = onlineXtfSelector({
      scored: initial,
      xtf,
      onToken: (id, j, kept, flags) => {
        const s = steps[steps.length - 1];
        s.seen++;
        if (flags.includes('kn')) s.kn++;
        if (!kept) s.masked.push(`${id}@${j}`);
        // The fixed attributes are exactly the initial scoring's.
        expect(flags.filter((a) => a !== 'kn').join(',')).toBe(fixed.get(id)![j]);
        expect(kept).toBe(flags.length === 0);
      },
    });
    await finetune({
      model,
      config: finetuneConfig({ method: 'full', steps: 8, lr: 3e-3, warmupSteps: 0, batchSize: 4, validationFraction: 0, evalEvery: 0, restoreBest: false }),
      examples: initial.map((ex) => scoredToTraining({ ...ex, lossMask: ex.label.map((l) => (l ? 1 : 0)) })),
      padId: tok.eosId,
      selectTokens: (mbs, current) => {
        steps.push({ seen: 0, kn: 0, masked: [] });
        return select(mbs, current);
      },
    });
    model.release();
    expect(steps).toHaveLength(8);
    const share = steps.map((s) => s.kn / s.seen);
    // Every step sees every label token once (one step = the whole data); the model learns the stories,
    // so more of them pass p > 0.95: the KN share grows and the mask changes.
    expect(new Set(steps.map((s) => s.seen)).size).toBe(1);
    expect(share[share.length - 1]).toBeGreaterThan(share[0] + 0.1);
    expect(new Set(steps.map((s) => s.masked.sort().join(' '))).size).toBeGreaterThan(2);
  }, 60_000);
});
