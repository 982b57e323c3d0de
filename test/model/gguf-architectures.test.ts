// The GGUF loader against the Hugging Face loader: each architecture option, written once as an HF folder and
// once as llama.cpp's converter would write the same weights (gguf-convert.ts: permuted 'llama' q/k rows,
// key_length, rope_freqs.weight, attn_q_norm / attn_k_norm, sliding_window), must give the same logits on the
// f64 reference, and the GGUF-loaded Llama-3-scaled model the same on the GPU.
import { describe, expect, it } from 'vitest';
import { type LlamaConfig, headDim } from '../../src/model/config.ts';
import { UnsupportedModelError, CheckpointFormatError } from '../../src/model/errors.ts';
import { loadGguf } from '../../src/model/gguf.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { loadHfFolder } from '../../src/model/hf.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { ropeInverseFrequencies } from '../../src/model/rope-scaling.ts';
import { HfTokenizer } from '../../src/model/tokenizer-hf.ts';
import type { LlamaWeights } from '../../src/model/weights.ts';
import { expectClose } from '../helpers/compare.ts';
import { gpu } from '../helpers/gpu.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { llamaReferenceForward } from '../reference/llama.ts';
import { bpeTokenizerKv, convertedLikeLlamaCpp, llamaCppRopeFreqs } from './gguf-convert.ts';
import { f32, str, u32, writeGguf } from './gguf-writer.ts';
import { memoryFolder, qwenLikeTokenizer } from './hf-fixtures.ts';

const VOCAB = 300;
const llama3 = { type: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 };

// As in architectures-gpu.test.ts: heads of 16 at theta 100 have pairs in each of llama3's three bands.
const variants: { name: string; arch: string; cfg: Partial<LlamaConfig> }[] = [
  { name: 'Qwen3 (attn_q_norm / attn_k_norm, key_length 16 over dim 32)', arch: 'qwen3',
    cfg: { architecture: 'qwen3', dim: 32, nHeads: 4, nKvHeads: 2, headDim: 16, qkNorm: true, normEps: 1e-6, ropeTheta: 1e6 } },
  { name: 'Llama 3 RoPE scaling (rope_freqs.weight)', arch: 'llama', cfg: { dim: 32, nHeads: 2, nKvHeads: 1, ropeTheta: 100, ropeScaling: llama3 } },
  { name: 'Llama 3 RoPE scaling with key_length 16 over dim 48', arch: 'llama',
    cfg: { dim: 48, nHeads: 2, nKvHeads: 1, headDim: 16, ropeTheta: 100, ropeScaling: llama3, tiedEmbeddings: false } },
  { name: 'linear RoPE scaling (rope.scaling.type linear)', arch: 'llama', cfg: { dim: 32, nHeads: 2, nKvHeads: 1, ropeTheta: 100, ropeScaling: { type: 'linear', factor: 4 } } },
  { name: 'explicit key_length (4 heads of 16 over dim 32)', arch: 'llama', cfg: { dim: 32, nHeads: 4, nKvHeads: 2, headDim: 16 } },
  { name: 'Qwen2 (q/k/v biases)', arch: 'qwen2', cfg: { architecture: 'qwen2', attentionBias: true, normEps: 1e-6, ropeTheta: 1e6 } },
  { name: "Mistral (llama with attention.sliding_window)", arch: 'llama', cfg: { architecture: 'mistral', slidingWindow: 12, tiedEmbeddings: false } },
];

/** The HF model written as a folder and loaded back (what the GGUF must agree with). */
async function viaHfFolder(weights: LlamaWeights): Promise<LlamaWeights> {
  const tok = qwenLikeTokenizer();
  const files = hfFolderFiles(weights, new HfTokenizer(tok.tokenizerJson, tok.tokenizerConfig));
  const loaded = await loadHfFolder(memoryFolder(files), 'hf folder');
  expect(loaded.config).toEqual(weights.config);
  return loaded.weights;
}

const logitsOf = (w: LlamaWeights, tokens: number[]) => llamaReferenceForward(w, tokens).logits.flatMap((row) => Array.from(row));
const tokens = [1, 5, 9, 2, 30, 7, 7, 11, 3, 36, 290, 64];

describe('GGUF architectures agree with the same weights loaded from a Hugging Face folder', () => {
  for (const [index, v] of variants.entries()) {
    it(v.name, async () => {
      const config = tinyConfig({ vocabSize: VOCAB, maxSeqLen: 128, ropeLayout: 'half', ...v.cfg });
      const hf = await viaHfFolder(randomWeights(config, 70 + index));
      const { kv, tensors } = convertedLikeLlamaCpp(hf, v.arch);
      const m = await loadGguf(writeGguf({ ...kv, ...bpeTokenizerKv() }, tensors), `${v.arch}.gguf`);

      // The config is the HF one but for what GGUF states differently: llama's interleaved rows and llama3 as divisors.
      const { ropeScaling, ...rest } = m.config;
      const { ropeScaling: hfScaling, ...hfRest } = config;
      expect(rest).toEqual({ ...hfRest, ropeLayout: v.arch === 'llama' ? 'interleaved' : 'half' });
      if (hfScaling?.type === 'llama3') {
        expect(ropeScaling?.type).toBe('freq-factors');
        // inv_freq / rope_freqs reproduces the llama3 frequencies (to the f32 the divisors are stored in).
        expectClose(ropeInverseFrequencies(headDim(config), config.ropeTheta, ropeScaling), ropeInverseFrequencies(headDim(config), config.ropeTheta, hfScaling),
          0, 1e-6, 'inverse frequencies');
      } else {
        expect(ropeScaling).toEqual(hfScaling);
      }

      const expected = logitsOf(hf, tokens);
      expectClose(logitsOf(m.weights, tokens), expected, 1e-5, 1e-5, 'logits');
      // The feature matters at these positions: without it the logits move (so agreeing above is not vacuous).
      if (hfScaling) {
        const plain = logitsOf({ ...m.weights, config: { ...m.config, ropeScaling: undefined } }, tokens);
        expect(Math.max(...plain.map((x, i) => Math.abs(x - expected[i])))).toBeGreaterThan(1e-2);
      }
    });
  }

  it('a Llama-3-scaled GGUF runs on the GPU as the f64 reference of its HF twin', async () => {
    const config = tinyConfig({ vocabSize: VOCAB, maxSeqLen: 128, ropeLayout: 'half', ...variants[1].cfg });
    const hf = await viaHfFolder(randomWeights(config, 71));
    const { kv, tensors } = convertedLikeLlamaCpp(hf, 'llama');
    const m = await loadGguf(writeGguf({ ...kv, ...bpeTokenizerKv() }, tensors), 'llama3.gguf');
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, m.weights);
    try {
      const fwd = model.forward(rt.upload(new Uint32Array(tokens), [1, tokens.length], 'u32'));
      const logits = (await fwd.logits.read()) as Float32Array;
      model.releaseForward(fwd);
      expectClose(logits, logitsOf(hf, tokens), 2e-4, 1e-4, 'GPU logits');
    } finally {
      model.release();
    }
  });

  it('rope_freqs.weight beside a linear factor: both divide the frequencies, as ggml applies them', async () => {
    const config = tinyConfig({ vocabSize: VOCAB, dim: 32, nHeads: 2, nKvHeads: 1, ropeTheta: 100, ropeLayout: 'half', ropeScaling: llama3 });
    const hf = randomWeights(config, 80);
    const { kv, tensors } = convertedLikeLlamaCpp(hf, 'llama');
    const m = await loadGguf(writeGguf({ ...kv, ...bpeTokenizerKv(), 'llama.rope.scaling.type': str('linear'), 'llama.rope.scaling.factor': f32(2) }, tensors), 'both.gguf');
    const divisors = llamaCppRopeFreqs(config, llama3);
    expect(m.config.ropeScaling).toEqual({ type: 'freq-factors', factors: Array.from(divisors, (d) => d * 2) });
    // config.json has no form for divisors: exporting such a model names the problem and the way out.
    const tok = qwenLikeTokenizer();
    expect(() => hfFolderFiles(m.weights, new HfTokenizer(tok.tokenizerJson, tok.tokenizerConfig))).toThrow(new UnsupportedModelError('llama config',
      "has RoPE frequency factors (a GGUF's rope_freqs.weight), which config.json cannot state; export from the Hugging Face checkpoint the GGUF was converted from"));
  });

  it('names what it cannot read', async () => {
    const config = tinyConfig({ vocabSize: VOCAB, dim: 32, nHeads: 2, nKvHeads: 1, ropeTheta: 100, ropeLayout: 'half', ropeScaling: llama3 });
    const { kv, tensors } = convertedLikeLlamaCpp(randomWeights(config, 81), 'llama');
    const load = (extra: Record<string, ReturnType<typeof u32>>, t = tensors) => loadGguf(writeGguf({ ...kv, ...bpeTokenizerKv(), ...extra }, t), 'bad.gguf');

    await expect(load({ 'llama.rope.scaling.type': str('yarn'), 'llama.rope.scaling.original_context_length': u32(64) })).rejects.toThrow(new UnsupportedModelError('bad.gguf',
      "RoPE scaling 'yarn' (llama.rope.scaling.type) is not supported; supported: none, linear, and Llama 3's as llama.cpp writes it (the rope_freqs.weight tensor)"));
    const short = tensors.map((t) => (t.name === 'rope_freqs.weight' ? { ...t, shape: [4], data: t.data.subarray(0, 4) } : t));
    const err = await load({}, short).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect(err.message).toBe('bad.gguf: tensor rope_freqs.weight has shape [4], expected [8] (one RoPE frequency divisor per pair of the 16-wide heads)');
    await expect(load({ 'llama.attention.value_length': u32(8) })).rejects.toThrow(new UnsupportedModelError('bad.gguf',
      'llama.attention.value_length is 8, not the head size 16; partial or uneven heads are not supported'));
    await expect(load({ 'llama.rope.dimension_count': u32(8) })).rejects.toThrow(new UnsupportedModelError('bad.gguf',
      'llama.rope.dimension_count is 8, not the head size 16; partial or uneven heads are not supported'));
    // A Qwen3 file without its q/k norms names the first missing one.
    const qwen3 = tinyConfig({ architecture: 'qwen3', vocabSize: VOCAB, dim: 32, nHeads: 4, nKvHeads: 2, headDim: 16, qkNorm: true, ropeLayout: 'half' });
    const q = convertedLikeLlamaCpp(randomWeights(qwen3, 82), 'qwen3');
    await expect(loadGguf(writeGguf({ ...q.kv, ...bpeTokenizerKv() }, q.tensors.filter((t) => !t.name.endsWith('attn_q_norm.weight'))), 'bad.gguf'))
      .rejects.toThrow('bad.gguf: tensor blk.0.attn_q_norm.weight (shape [16]) is missing');
  });
});
