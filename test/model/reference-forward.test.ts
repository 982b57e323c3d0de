import { describe, expect, it } from 'vitest';
import { loadModel, loadTokenizer, reference } from './stories260k.ts';
import { emptyKvCache, greedyGenerate, llamaReferenceForward, nextTokenLogProbs } from '../reference/llama.ts';

describe('f64 reference forward on stories260K vs llama2.c golden outputs', () => {
  const model = loadModel();
  const tok = loadTokenizer();

  it('reproduces every next-token log-probability within 1e-4', () => {
    let worst = 0;
    for (const [i, c] of reference.cases.entries()) {
      const logProbs = nextTokenLogProbs(model, c.tokens);
      expect(logProbs.length).toBe(c.next_token_logprobs.length);
      logProbs.forEach((lp, pos) => {
        const diff = Math.abs(lp - c.next_token_logprobs[pos]);
        worst = Math.max(worst, diff);
        expect(diff, `case ${i} position ${pos}: ${lp} vs ${c.next_token_logprobs[pos]}`).toBeLessThan(1e-4);
      });
    }
    console.log(`max |log-prob - llama2.c| = ${worst.toExponential(2)}`);
  });

  it('reproduces the greedy continuation of "Once upon a time" exactly', () => {
    const { prompt, steps, text } = reference.greedy;
    const promptIds = tok.encode(prompt);
    // run.c's generate(): `steps` forward passes from position 0 (prompt positions included), stop at BOS,
    // print each token's piece through safe_printf (drops lone unprintable bytes), then a newline.
    const ids = greedyGenerate(model, promptIds, steps + 1 - promptIds.length, tok.bosId);
    const printed: Uint8Array[] = [];
    for (let i = 1; i < ids.length; i++) {
      const bytes = tok.tokenBytes(ids[i - 1], ids[i]);
      const b = bytes[0];
      if (bytes.length === 1 && !((b >= 0x20 && b < 0x7f) || (b >= 0x09 && b <= 0x0d))) continue;
      printed.push(bytes);
    }
    const output = new TextDecoder().decode(Uint8Array.from(printed.flatMap((p) => [...p]))) + '\n';
    expect(output).toBe(text);
    expect(tok.decode(ids) + '\n').toBe(text);
  });

  it('returns causal attention probabilities per layer and head', () => {
    const tokens = reference.cases[0].tokens.slice(0, 12);
    const { logits, attention } = llamaReferenceForward(model, tokens, { attention: true });
    const T = tokens.length, c = model.config;
    expect(logits.length).toBe(T);
    expect(attention!.length).toBe(c.nLayers);
    for (const probs of attention!) {
      expect(probs.length).toBe(c.nHeads * T * T);
      for (let h = 0; h < c.nHeads; h++) {
        for (let q = 0; q < T; q++) {
          const row = probs.subarray((h * T + q) * T, (h * T + q + 1) * T);
          expect(row.slice(q + 1).every((p) => p === 0)).toBe(true);
          expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
        }
      }
    }
  });

  it('gives the same logits and attention with a KV cache as by full recompute', () => {
    const tokens = reference.cases[2].tokens.slice(0, 20);
    const full = llamaReferenceForward(model, tokens, { attention: true });
    const cache = emptyKvCache(model.config);
    llamaReferenceForward(model, tokens.slice(0, 13), { cache });
    const rest = llamaReferenceForward(model, tokens, { cache, attention: true });
    const T = tokens.length, N = T - 13, H = model.config.nHeads;
    expect(rest.logits.length).toBe(N);
    rest.logits.forEach((row, i) => row.forEach((v, j) => expect(Math.abs(v - full.logits[13 + i][j])).toBeLessThan(1e-12)));
    const layer = 3, head = 5, i = 4; // one attention row: computed position 13 + i
    const cachedRow = rest.attention![layer].subarray((head * N + i) * T, (head * N + i + 1) * T);
    const fullRow = full.attention![layer].subarray((head * T + 13 + i) * T, (head * T + 13 + i + 1) * T);
    cachedRow.forEach((p, s) => expect(Math.abs(p - fullRow[s])).toBeLessThan(1e-12));
    expect(cache.keys[0].length).toBe(T);
    expect(H).toBe(rest.attention![0].length / (N * T));
  });

  it('agrees with itself across RoPE layouts, untied classifier and zero q/k/v biases', () => {
    const tokens = reference.cases[0].tokens.slice(0, 10);
    const base = llamaReferenceForward(model, tokens).logits;
    const c = model.config, hd = c.dim / c.nHeads, kv = (c.dim / c.nHeads) * c.nKvHeads;
    // Interleaved -> rotate-half: within each head, row 2i becomes row i and row 2i+1 becomes row i + hd/2.
    const toHalf = (wt: Float32Array) => {
      const out = new Float32Array(wt.length);
      for (let row = 0; row < wt.length / c.dim; row++) {
        const head = Math.floor(row / hd), j = row % hd;
        const to = head * hd + (j % 2 === 0 ? j / 2 : hd / 2 + (j - 1) / 2);
        out.set(wt.subarray(row * c.dim, (row + 1) * c.dim), to * c.dim);
      }
      return out;
    };
    const tensors: Record<string, Float32Array> = { ...model.tensors, classifier: model.tensors.tokEmbedding.slice() };
    for (let l = 0; l < c.nLayers; l++) {
      tensors[`layers.${l}.wq`] = toHalf(model.tensors[`layers.${l}.wq`]);
      tensors[`layers.${l}.wk`] = toHalf(model.tensors[`layers.${l}.wk`]);
      tensors[`layers.${l}.bq`] = new Float32Array(c.dim);
      tensors[`layers.${l}.bk`] = new Float32Array(kv);
      tensors[`layers.${l}.bv`] = new Float32Array(kv);
    }
    const variant = { ...model, tensors, config: { ...c, ropeLayout: 'half' as const, tiedEmbeddings: false, attentionBias: true } };
    const logits = llamaReferenceForward(variant, tokens).logits;
    logits.forEach((row, t) => row.forEach((v, j) => expect(Math.abs(v - base[t][j])).toBeLessThan(1e-10)));
  });
});
