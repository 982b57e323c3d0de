// The gpu.js Llama forward (src/webgl) against the f64 CPU reference, for every architecture option the
// WebGPU model has. Node has no WebGL (headless-gl is not installed), so gpu.js runs the same kernel
// source as JavaScript ('cpu' mode) here; test/browser/demo-fallback.mjs runs it on WebGL2 in Chromium.
import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../../src/model/config.ts';
import { generateTextGpuJs } from '../../src/webgl/generate.ts';
import { GpuJsLlama, PAD_TO } from '../../src/webgl/llama.ts';
import { expectClose } from '../helpers/compare.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { loadModel, loadTokenizer, reference } from '../model/stories260k.ts';
import { greedyGenerate, llamaReferenceForward, logSoftmax } from '../reference/llama.ts';

const VARIANTS: [string, Partial<LlamaConfig>][] = [
  ['llama2.c (interleaved RoPE, tied, GQA)', {}],
  ['Llama on the Hub (half RoPE, untied)', { ropeLayout: 'half', tiedEmbeddings: false }],
  ['Qwen2 (q/k/v biases)', { ropeLayout: 'half', attentionBias: true, nKvHeads: 1 }],
  ['Qwen3 (q/k norms, explicit head size)', { ropeLayout: 'half', qkNorm: true, headDim: 6 }],
  ['Llama 3.2 (llama3 RoPE scaling)', { ropeLayout: 'half', ropeTheta: 500000, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 16 } }],
];

/** Σ_{i > j} w_i P[h, i, j] from the reference's probabilities [H, T, T] of one sequence. */
function referenceReceived(probs: Float64Array, H: number, T: number, w: ArrayLike<number>): Float64Array {
  const out = new Float64Array(H * T);
  for (let h = 0; h < H; h++) for (let j = 0; j < T; j++) for (let i = j + 1; i < T; i++) out[h * T + j] += w[i] * probs[(h * T + i) * T + j];
  return out;
}

describe('gpu.js Llama forward (cpu mode) vs the f64 reference', () => {
  for (const [name, overrides] of VARIANTS) {
    it(`${name}: p(next), attention received, final hidden states and logits of a ragged batch`, async () => {
      const c = tinyConfig(overrides);
      const w = randomWeights(c, 7);
      const model = await GpuJsLlama.fromWeights(w, { mode: 'cpu' });
      expect(model.mode).toBe('cpu');
      // Two sequences, the second shorter (right-padded with 0), neither a multiple of PAD_TO long.
      const seqs = [[1, 5, 7, 9, 2, 30, 11, 4, 19, 3, 22, 8, 6, 14, 27, 12, 33, 2, 10], [3, 8, 1, 30, 22, 5]];
      const T = seqs[0].length;
      expect(T % PAD_TO).not.toBe(0);
      const ids = new Uint32Array(2 * T), targets = new Uint32Array(2 * T), weights = new Float32Array(2 * T);
      seqs.forEach((s, b) => {
        ids.set(s, b * T);
        targets.set(s.slice(1), b * T);
        s.forEach((_, i) => (weights[b * T + i] = i % 3 === 0 ? 0 : 1)); // some queries do not count
      });
      const r = await model.forward(ids, 2, T, { targets, attentionReceived: { layers: [0, 1], queryWeights: weights }, finalHidden: true, logitsOfRows: [T - 1, T + seqs[1].length - 1] });
      seqs.forEach((s, b) => {
        const ref = llamaReferenceForward(w, s, { attention: true, finalHidden: true });
        const p = s.slice(1).map((next, i) => Math.exp(logSoftmax(ref.logits[i])[next]));
        expectClose(r.prob!.subarray(b * T, b * T + s.length - 1), p, 1e-6, 1e-5, `p, sequence ${b}`);
        const hidden = r.finalHidden!.subarray(b * T * c.dim, (b * T + s.length) * c.dim);
        expectClose(hidden, ref.finalHidden!.flatMap((row) => [...row]), 1e-5, 1e-4, `final hidden, sequence ${b}`);
        expectClose(r.logits!.subarray(b * c.vocabSize, (b + 1) * c.vocabSize), ref.logits[s.length - 1], 1e-5, 1e-4, `last logits, sequence ${b}`);
        for (const l of [0, 1]) {
          const got = r.attentionReceived.get(l)!;
          const want = referenceReceived(ref.attention![l], c.nHeads, s.length, weights.subarray(b * T, b * T + s.length));
          for (let h = 0; h < c.nHeads; h++) {
            expectClose(got.subarray((b * c.nHeads + h) * T, (b * c.nHeads + h) * T + s.length), want.subarray(h * s.length, (h + 1) * s.length), 1e-6, 1e-5, `received, layer ${l}, head ${h}`);
          }
        }
      });
      model.release();
    });
  }

  it('refuses a token outside the vocabulary and a sequence longer than the context', async () => {
    const c = tinyConfig();
    const model = await GpuJsLlama.fromWeights(randomWeights(c, 2), { mode: 'cpu' });
    await expect(model.forward(Uint32Array.from([1, c.vocabSize]), 1, 2)).rejects.toThrow(/outside the vocabulary/);
    await expect(model.forward(new Uint32Array(c.maxSeqLen + 1), 1, c.maxSeqLen + 1)).rejects.toThrow(/exceeds the model's maxSeqLen/);
  });

  it("greedy generation on stories260K gives llama2.c's continuation, as the reference's greedy decode does", async () => {
    const weights = loadModel();
    const tok = loadTokenizer();
    const model = await GpuJsLlama.fromWeights(weights, { mode: 'cpu' });
    const { prompt, steps, text } = reference.greedy;
    const promptIds = tok.encode(prompt);
    // 40 of llama2.c's steps (no KV cache here: each step re-runs the sequence).
    const n = 40 - promptIds.length;
    const g = await generateTextGpuJs(model, tok, prompt, { maxTokens: n, temperature: 0, stopTokens: [tok.bosId] });
    expect(g.generated).toHaveLength(n);
    expect(g.generated).toEqual(greedyGenerate(weights, promptIds, n, tok.bosId).slice(promptIds.length));
    expect((text as string).startsWith(g.text)).toBe(true);
    expect(steps).toBeGreaterThan(40);
  });
});
