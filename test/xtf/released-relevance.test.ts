// The released task-relevance rule (src/xtf/released-relevance.ts) on the real stories260K model: final
// hidden states against the f64 CPU reference, similarities against a CPU cosine from those reference
// states, the stripped-text keying (first id of a key stands for it), and the domain-word errors.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/compare.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';
import { llamaReferenceForward } from '../reference/llama.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { MATH_DOMAIN_WORDS } from '../../src/xtf/domain-words.ts';
import {
  ReleasedRelevanceError,
  cosineSimilarity,
  finalHiddenStates,
  pythonStrip,
  releasedRelevance,
  releasedTypeKey,
} from '../../src/xtf/released-relevance.ts';

describe('released task relevance', () => {
  const weights = loadModel();
  const tok = loadTokenizer();
  const dim = weights.config.dim;
  const model = async () => LlamaModel.fromWeights(await gpu(), weights);

  /** f64 reference final hidden states of a sequence run alone, [T][dim]. */
  const refHidden = (ids: readonly number[]) => llamaReferenceForward(weights, ids, { finalHidden: true }).finalHidden!;
  /** Reference domain vector: per word the mean over its positions, then the mean over words. */
  function refDomain(words: readonly string[]): Float64Array {
    const v = new Float64Array(dim);
    const used = words.map((w) => tok.encode(w, { bos: false, eos: false })).filter((ids) => ids.length > 0);
    for (const ids of used) for (const row of refHidden(ids)) row.forEach((x, d) => (v[d] += x / ids.length / used.length));
    return v;
  }
  const refSimilarity = (id: number, domain: Float64Array) => cosineSimilarity(refHidden([id])[0], domain);

  it('the forward option finalHidden gives the final RMSNorm output, with or without logits; training forwards refuse it', async () => {
    const m = await model();
    const rt = m.rt;
    const seq = tok.encode('Once upon a time, there was a cat.', { bos: true });
    const ids = rt.upload(Uint32Array.from(seq), [1, seq.length], 'u32', 'ids');
    const fwd = m.forward(ids, { finalHidden: true });
    expect(fwd.finalHidden!.shape).toEqual([seq.length, dim]);
    expectClose(await fwd.finalHidden!.read(), refHidden(seq).flatMap((r) => Array.from(r)), 1e-4, 1e-4, 'final hidden');
    m.releaseForward(fwd);
    expect(fwd.finalHidden!.isReleased).toBe(true);
    const plain = m.forward(ids);
    expect(plain.finalHidden).toBeUndefined();
    m.releaseForward(plain);
    expect(() => m.forward(ids, { train: true, finalHidden: true })).toThrow(RangeError);
    // Without the classifier: the same hidden state, no logits; a forward with neither is refused.
    const hidden = m.forward(ids, { finalHidden: true, logits: false });
    expect(hidden.logits).toBeNull();
    expectClose(await hidden.finalHidden.read(), refHidden(seq).flatMap((r) => Array.from(r)), 1e-4, 1e-4, 'final hidden, no logits');
    m.releaseForward(hidden);
    expect(() => m.forward(ids, { logits: false })).toThrow(/logits: false/);
    ids.release();
    m.release();
  });

  it('single tokens and right-padded words run alone match the f64 reference hidden states', async () => {
    const m = await model();
    const tokens = [1, 2, 13, 31, 37, 280, 313, 436, 475, 511];
    const words = ['maths', 'cat', '1', 'dermatology', '+'].map((w) => tok.encode(w, { bos: false, eos: false }));
    const seqs = [...tokens.map((id) => [id]), ...words];
    const seen: number[] = [];
    // batch size 3: several batches, words of different lengths padded together
    await finalHiddenStates(m, seqs, 3, (i, rows) => {
      seen.push(i);
      expect(rows.length).toBe(seqs[i].length * dim);
      expectClose(rows, refHidden(seqs[i]).flatMap((r) => Array.from(r)), 1e-4, 1e-4, `sequence ${i} [${seqs[i]}]`);
    });
    expect(seen).toEqual(seqs.map((_, i) => i));
    await expect(finalHiddenStates(m, [[]], 3, () => {})).rejects.toThrow(RangeError);
    await expect(finalHiddenStates(m, [[512]], 3, () => {})).rejects.toThrow(RangeError);
    m.release();
  });

  it('similarities match a CPU cosine from the reference hidden states, whatever the batch size', async () => {
    const m = await model();
    const tokenIds = [1, 280, 294, 475, 52, 496, 13, 426, 313, 436, 300, 410, 280];
    const r = await releasedRelevance(m, tok, { tokenIds, domainWords: MATH_DOMAIN_WORDS, batchSize: 4 });
    const domain = refDomain(MATH_DOMAIN_WORDS);
    expectClose(r.domainVector, domain, 1e-4, 1e-4, 'domain vector');
    expect(r.domainWords).toEqual([...MATH_DOMAIN_WORDS]);
    expect(r.skippedWords).toEqual([]);
    expect(r.similarity.length).toBe(weights.config.vocabSize);
    for (const t of r.types) {
      expect(t.ids[0]).toBe(t.id);
      expect(t.key).toBe(releasedTypeKey(tok, t.id));
      expectClose([t.similarity], [refSimilarity(t.id, domain)], 1e-5, 0, `similarity of type ${JSON.stringify(t.key)}`);
      for (const id of t.ids) expect(r.similarity[id]).toBe(t.similarity);
    }
    // ids not given have no similarity
    expect(r.similarity[3]).toBeNaN();
    const sims = r.types.map((t) => t.similarity);
    expect(Math.max(...sims) - Math.min(...sims)).toBeGreaterThan(0.05); // not a degenerate case

    const one = await releasedRelevance(m, tok, { tokenIds, domainWords: MATH_DOMAIN_WORDS, batchSize: 1 });
    const big = await releasedRelevance(m, tok, { tokenIds, domainWords: MATH_DOMAIN_WORDS });
    for (const other of [one, big]) {
      expect(other.types.map((t) => [t.key, t.id, t.ids])).toEqual(r.types.map((t) => [t.key, t.id, t.ids]));
      expectClose(other.types.map((t) => t.similarity), sims, 1e-6, 0, 'similarities across batch sizes');
    }
    m.release();
  });

  it('types are keyed by decoded text stripped as Python strips it; the first id of a key stands for all of them', async () => {
    expect(pythonStrip(' \t\n\x1c\x1f\x85\u00a0\u3000x y\u2028 ')).toBe('x y');
    expect(pythonStrip('\ufeffx\ufeff')).toBe('\ufeffx\ufeff'); // not Python whitespace (JS trim() strips it)
    expect(releasedTypeKey(tok, 313)).toBe('"'); // ' "'
    expect(releasedTypeKey(tok, 436)).toBe('"');
    expect(releasedTypeKey(tok, 37)).toBe('"'); // the byte token <0x22>
    for (const id of [1, 2, 13, 31, 410, 498, 511]) expect(releasedTypeKey(tok, id)).toBe(''); // BOS, EOS, "\n", 0x1C, " ", NBSP, U+200A

    const m = await model();
    const domain = refDomain(MATH_DOMAIN_WORDS);
    const a = await releasedRelevance(m, tok, { tokenIds: [436, 37, 313, 436, 1, 13, 31], domainWords: MATH_DOMAIN_WORDS });
    expect(a.types.map((t) => [t.key, t.id, t.ids])).toEqual([['"', 436, [436, 37, 313]], ['', 1, [1, 13, 31]]]);
    const b = await releasedRelevance(m, tok, { tokenIds: [313, 436, 13, 1], domainWords: MATH_DOMAIN_WORDS });
    expect(b.types.map((t) => [t.key, t.id, t.ids])).toEqual([['"', 313, [313, 436]], ['', 13, [13, 1]]]);
    // The ids' own vectors differ, so which id represents the type matters.
    expect(Math.abs(refSimilarity(436, domain) - refSimilarity(313, domain))).toBeGreaterThan(1e-3);
    expect(Math.abs(refSimilarity(1, domain) - refSimilarity(13, domain))).toBeGreaterThan(1e-3);
    for (const id of [436, 37, 313]) expectClose([a.similarity[id]], [refSimilarity(436, domain)], 1e-5, 0, `a: id ${id}`);
    for (const id of [1, 13, 31]) expectClose([a.similarity[id]], [refSimilarity(1, domain)], 1e-5, 0, `a: id ${id}`);
    for (const id of [313, 436]) expectClose([b.similarity[id]], [refSimilarity(313, domain)], 1e-5, 0, `b: id ${id}`);
    for (const id of [13, 1]) expectClose([b.similarity[id]], [refSimilarity(13, domain)], 1e-5, 0, `b: id ${id}`);
    m.release();
  });

  it('words that encode to nothing are skipped; an empty or all-empty list is a typed error naming the words', async () => {
    const m = await model();
    const r = await releasedRelevance(m, tok, { tokenIds: [280], domainWords: ['', 'cat', ''] });
    expect(r.domainWords).toEqual(['cat']);
    expect(r.skippedWords).toEqual(['', '']);
    expectClose(r.domainVector, refDomain(['cat']), 1e-4, 1e-4, 'domain vector of "cat" alone');

    const empty = await releasedRelevance(m, tok, { tokenIds: [280], domainWords: [] }).catch((e: unknown) => e);
    expect(empty).toBeInstanceOf(ReleasedRelevanceError);
    expect((empty as ReleasedRelevanceError).words).toEqual([]);
    expect((empty as Error).message).toMatch(/empty/);

    const none = await releasedRelevance(m, tok, { tokenIds: [280], domainWords: ['', ''] }).catch((e: unknown) => e);
    expect(none).toBeInstanceOf(ReleasedRelevanceError);
    expect((none as ReleasedRelevanceError).words).toEqual(['', '']);
    expect((none as Error).message).toContain('"", ""');

    await expect(releasedRelevance(m, tok, { tokenIds: [512], domainWords: ['cat'] })).rejects.toThrow(RangeError);
    await expect(releasedRelevance(m, tok, { tokenIds: [1.5], domainWords: ['cat'] })).rejects.toThrow(RangeError);
    await expect(releasedRelevance(m, tok, { tokenIds: [280], domainWords: ['cat'], batchSize: 0 })).rejects.toThrow(RangeError);
    m.release();
  });
});
