// Every architecture option on the GPU against the f64 CPU reference, each from a tiny random-weight model
// written as a Hugging Face folder and loaded back: logits, KV-cached decoding, and the gradients of full
// fine-tuning and of LoRA (all seven targets) against finite differences of the reference's loss.
import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../../src/model/config.ts';
import { SequenceTooLongError } from '../../src/model/config.ts';
import { decodeStep, generateIds } from '../../src/model/generate.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { loadHfFolder } from '../../src/model/hf.ts';
import { newKvCache, releaseKvCache } from '../../src/model/kv-cache.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { LORA_TARGETS, type LoraConfig } from '../../src/model/lora.ts';
import { HfTokenizer } from '../../src/model/tokenizer-hf.ts';
import type { LlamaWeights } from '../../src/model/weights.ts';
import { expectClose } from '../helpers/compare.ts';
import { gpu } from '../helpers/gpu.ts';
import { randn, rng } from '../helpers/random.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { llamaReferenceForward } from '../reference/llama.ts';
import { batchOf, checkAgainstFiniteDifferences, cpuLoss, gpuGradients, perturbAdapter, perturbWeight } from './gradient-check.ts';
import { memoryFolder, qwenLikeTokenizer } from './hf-fixtures.ts';

const VOCAB = 300;
const llama3 = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 };

// Heads of 16 (two of them, or explicit head_dim) so that scaled RoPE has pairs in every band: with theta
// 100 the wavelengths 2π·100^(i/8) run from 6 to 350 positions, across llama3's bands at 16 and 64.
const variants: { name: string; cfg: Partial<LlamaConfig> }[] = [
  { name: 'Llama-3 RoPE scaling', cfg: { dim: 32, nHeads: 2, nKvHeads: 1, ropeTheta: 100, ropeScaling: llama3 } },
  { name: 'linear RoPE scaling', cfg: { dim: 32, nHeads: 2, nKvHeads: 1, ropeTheta: 100, ropeScaling: { type: 'linear', factor: 4 }, tiedEmbeddings: false } },
  { name: 'explicit head_dim (4 heads of 16 over dim 32)', cfg: { dim: 32, nHeads: 4, nKvHeads: 2, headDim: 16 } },
  { name: 'Qwen3 (q/k norms, head_dim 16 over dim 32)', cfg: { architecture: 'qwen3', dim: 32, nHeads: 4, nKvHeads: 2, headDim: 16, qkNorm: true, normEps: 1e-6 } },
  { name: 'Qwen2 (q/k/v biases)', cfg: { architecture: 'qwen2', attentionBias: true, normEps: 1e-6, ropeTheta: 1e6 } },
  { name: 'Mistral (sliding window longer than the sequences)', cfg: { architecture: 'mistral', slidingWindow: 12, tiedEmbeddings: false } },
];

/** The config's random model written as a Hugging Face folder and loaded back. */
async function viaHfFolder(config: LlamaConfig, seed: number): Promise<LlamaWeights> {
  const weights = randomWeights(config, seed);
  const tok = qwenLikeTokenizer();
  const files = hfFolderFiles(weights, new HfTokenizer(tok.tokenizerJson, tok.tokenizerConfig));
  const loaded = await loadHfFolder(memoryFolder(files), config.architecture);
  expect(loaded.config).toEqual(config);
  for (const name of Object.keys(weights.shapes)) expect(loaded.weights.tensors[name], name).toEqual(weights.tensors[name]);
  return loaded.weights;
}

const seq = [1, 5, 9, 2, 30, 7, 7, 11, 3, 36];
// Prompt tokens carry no loss, one label token is masked, the rest count.
const tokenWeights = [0, 0, 1, 1, 0, 1, 1, 1, 1];

describe('architecture options on the GPU against the f64 reference', () => {
  for (const [index, v] of variants.entries()) {
    const config = tinyConfig({ vocabSize: VOCAB, ropeLayout: 'half', ...v.cfg });

    it(`logits and KV-cached decoding: ${v.name}`, async () => {
      const rt = await gpu();
      const weights = await viaHfFolder(config, 40 + index);
      const model = LlamaModel.fromWeights(rt, weights);
      const r = rng(3);
      const seqs = [Array.from({ length: 9 }, () => Math.floor(r() * VOCAB)), Array.from({ length: 6 }, () => Math.floor(r() * VOCAB))];
      const { ids, T } = batchOf(rt, seqs);
      const fwd = model.forward(ids);
      const logits = (await fwd.logits.read()) as Float32Array;
      model.releaseForward(fwd);
      seqs.forEach((s, b) => {
        const ref = llamaReferenceForward(weights, s).logits;
        expectClose(logits.subarray(b * T * VOCAB, (b * T + s.length) * VOCAB), ref.flatMap((row) => Array.from(row)), 2e-4, 1e-4, `batch ${b} logits`);
      });
      // Prefill 4 positions, then one at a time (RoPE from the cache's start position).
      const cache = newKvCache(model, 12);
      let seen = 0;
      for (const chunk of [seqs[0].slice(0, 4), ...seqs[0].slice(4).map((t) => [t])]) {
        const step = await decodeStep(model, rt.upload(new Uint32Array(chunk), [1, chunk.length], 'u32'), cache).read();
        seen += chunk.length;
        expectClose(step, llamaReferenceForward(weights, seqs[0].slice(0, seen)).logits[seen - 1], 2e-4, 1e-4, `decoded logits after ${seen} tokens`);
      }
      releaseKvCache(cache);
      model.release();
    });

    it(`full fine-tuning gradients of every parameter match finite differences: ${v.name}`, async () => {
      const rt = await gpu();
      const weights = await viaHfFolder(config, 50 + index);
      const model = LlamaModel.fromWeights(rt, weights);
      const grads = await gpuGradients(model, seq, tokenWeights, 'full');
      expect(Object.keys(grads).sort()).toEqual(Object.keys(weights.tensors).sort());
      if (config.qkNorm) expect(Object.keys(grads)).toEqual(expect.arrayContaining(['layers.0.qNorm', 'layers.1.kNorm']));
      const checked = checkAgainstFiniteDifferences(grads, perturbWeight(weights), (w) => cpuLoss(w, seq, tokenWeights), 3);
      expect(checked).toBe(3 * Object.keys(grads).length);
      model.release();
    });

    it(`LoRA gradients (all seven targets) match finite differences of the merged model: ${v.name}`, async () => {
      const rt = await gpu();
      const weights = await viaHfFolder(config, 60 + index);
      const model = LlamaModel.fromWeights(rt, weights);
      const lora: LoraConfig = { rank: 3, alpha: 6, dropout: 0, targets: [...LORA_TARGETS] };
      model.addLora(lora, 4);
      // A fresh adapter has B = 0 (so dA = 0): give B random values to exercise every path.
      const adapterHost: Record<string, Float32Array> = {};
      let seed = 100;
      for (const [name, t] of Object.entries(model.adapters)) {
        if (name.endsWith('lora_B')) rt.write(t, randn(t.size, seed++, 0.3));
        adapterHost[name] = (await t.read()) as Float32Array;
      }
      // q_proj's adapter maps dim -> nHeads·headDim, o_proj's back.
      expect(model.adapters['layers.0.q_proj.lora_B'].shape).toEqual([weights.shapes['layers.0.wq'][0], 3]);
      expect(model.adapters['layers.0.o_proj.lora_A'].shape).toEqual([3, weights.shapes['layers.0.wo'][1]]);
      const grads = await gpuGradients(model, seq, tokenWeights, 'lora');
      const perturb = perturbAdapter(weights, lora, adapterHost);
      const checked = checkAgainstFiniteDifferences(grads, perturb, (w) => cpuLoss(w, seq, tokenWeights), 2);
      expect(checked).toBe(2 * 2 * 7 * 2);
      model.release();
    });
  }

  it('the scalings matter at these positions: the reference without them gives other logits', () => {
    for (const v of variants.filter((x) => x.cfg.ropeScaling)) {
      const config = tinyConfig({ vocabSize: VOCAB, ropeLayout: 'half', ...v.cfg });
      const weights = randomWeights(config, 1);
      const plain = { ...weights, config: { ...config, ropeScaling: undefined } };
      const a = llamaReferenceForward(weights, seq).logits, b = llamaReferenceForward(plain, seq).logits;
      expect(Math.max(...a.flatMap((row, t) => Array.from(row, (x, j) => Math.abs(x - b[t][j]))))).toBeGreaterThan(1e-2);
    }
  });

  it('Mistral: a sequence longer than the sliding window is refused naming the window; generation ends at it', async () => {
    const rt = await gpu();
    const config = tinyConfig({ architecture: 'mistral', vocabSize: VOCAB, ropeLayout: 'half', slidingWindow: 6, maxSeqLen: 64 });
    const model = LlamaModel.fromWeights(rt, randomWeights(config, 7));
    const seven = rt.upload(new Uint32Array(7), [1, 7], 'u32');
    expect(() => model.forward(seven)).toThrow(SequenceTooLongError);
    expect(() => model.forward(seven)).toThrow("forward: 7 positions exceed the model's sliding window of 6 (sliding_window)");
    model.releaseForward(model.forward(rt.upload(new Uint32Array(6), [1, 6], 'u32'))); // the window itself runs
    const cache = newKvCache(model, 10);
    decodeStep(model, rt.upload(new Uint32Array(5), [1, 5], 'u32'), cache).release();
    decodeStep(model, rt.upload(new Uint32Array(1), [1, 1], 'u32'), cache).release();
    expect(() => decodeStep(model, rt.upload(new Uint32Array(1), [1, 1], 'u32'), cache)).toThrow(/decode: 7 positions exceed the model's sliding window of 6/);
    releaseKvCache(cache);
    const g = await generateIds(model, [1, 2, 3, 4], { maxTokens: 10, temperature: 0 });
    // Positions 0 .. 5 run; the token chosen at position 5 ends the sequence (it is never fed back).
    expect([g.generated.length, g.finishReason]).toEqual([3, 'length']);
    await expect(generateIds(model, [1, 2, 3, 4, 5, 6, 7], { maxTokens: 1, temperature: 0 })).rejects.toThrow(SequenceTooLongError);
    model.release();
  });
});
