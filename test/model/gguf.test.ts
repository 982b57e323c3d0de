import { describe, expect, it } from 'vitest';
import { loadGguf } from '../../src/model/gguf.ts';
import { withRopeLayout } from '../../src/model/hf.ts';
import { f16ToF32, f32ToF16, bf16ToF32, f32ToBf16 } from '../../src/model/dtypes.ts';
import { CheckpointFormatError, UnsupportedModelError } from '../../src/model/errors.ts';
import { HfTokenizer } from '../../src/model/tokenizer-hf.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { nextTokenLogProbs } from '../reference/llama.ts';
import { loadModel, loadTokenizer, reference } from './stories260k.ts';
import { type GgufDtype, type GgufKv, str, u32, writeGguf } from './gguf-writer.ts';
import { archKv, llamaCppPermute, tensorsOf } from './gguf-convert.ts';
import { type QuantType, firstDifference, quantize } from './ggml-quantize.ts';
import { QWEN_LIKE_MERGES, QWEN_LIKE_SPECIALS, byteLevelVocab } from './hf-fixtures.ts';

/** The scored llama2.c vocabulary as GGUF's tokenizer.ggml.* ('llama' = SentencePiece). */
function spmTokenizerKv(): Record<string, GgufKv> {
  const tok = loadTokenizer();
  const texts = Array.from({ length: tok.vocabSize }, (_, i) => (i === 1 ? '<s>' : i === 2 ? '</s>' : tok.piece(i).replaceAll(' ', '\u2581')));
  const types = texts.map((_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  return {
    'tokenizer.ggml.model': str('llama'),
    'tokenizer.ggml.tokens': { type: 'strings', value: texts },
    'tokenizer.ggml.scores': { type: 'f32s', value: Array.from(tok.scores) },
    'tokenizer.ggml.token_type': { type: 'i32s', value: types },
    'tokenizer.ggml.bos_token_id': u32(1),
    'tokenizer.ggml.eos_token_id': u32(2),
    'tokenizer.ggml.unknown_token_id': u32(0),
  };
}

/** Largest |log-prob| change (over the vocabulary) that quantising the k-quant test's model may cause:
 *  measured 0.51 with its seed (most of it Q4_0 / Q4_K noise in the tail of the distribution). */
const QUANT_DRIFT = 1;

describe('GGUF', () => {
  it('reads llama.cpp\'s llama layout: q/k rows permuted back to interleaved, SentencePiece tokenizer', async () => {
    const original = loadModel(); // llama2.c, interleaved
    // What llama.cpp's converter writes for the HF (rotate-half) export of this model.
    const hf = withRopeLayout(original, 'half');
    const c = original.config;
    const tensors = { ...hf.tensors };
    for (let l = 0; l < c.nLayers; l++) {
      tensors[`layers.${l}.wq`] = llamaCppPermute(hf.tensors[`layers.${l}.wq`], c.nHeads, c.dim);
      tensors[`layers.${l}.wk`] = llamaCppPermute(hf.tensors[`layers.${l}.wk`], c.nKvHeads, c.dim);
    }
    const bytes = writeGguf({ ...archKv('llama', c), ...spmTokenizerKv() }, tensorsOf({ ...hf, tensors }));
    const m = await loadGguf(bytes, 'stories260K.gguf');

    expect(m.config).toEqual(c); // interleaved, tied (no output.weight), eps and theta as stored
    for (const name of Object.keys(original.shapes)) expect(m.weights.tensors[name], name).toEqual(original.tensors[name]);
    for (const ref of reference.cases) {
      expect(m.tokenizer.encode(ref.text)).toEqual(ref.tokens);
      expect(m.tokenizer.decode(ref.tokens)).toBe(ref.text);
    }
    expect([m.tokenizer.bosId, m.tokenizer.eosId, m.tokenizer.piece(1), m.tokenizer.piece(300)]).toEqual([1, 2, '<s>', loadTokenizer().piece(300)]);
    const logProbs = nextTokenLogProbs(m.weights, reference.cases[2].tokens);
    logProbs.forEach((lp, i) => expect(Math.abs(lp - reference.cases[2].next_token_logprobs[i])).toBeLessThan(1e-4));
    expect(m.metadata['general.name']).toBe('test model');
  });

  it('dequantises f32, f16, bf16 and q8_0 and maps a qwen2 config with its byte-level BPE tokenizer', async () => {
    const config = tinyConfig({ architecture: 'qwen2', dim: 64, hiddenDim: 96, nHeads: 4, nKvHeads: 2, vocabSize: 300, maxSeqLen: 128,
      normEps: 1e-6, ropeTheta: 1e6, ropeLayout: 'half', attentionBias: true, tiedEmbeddings: false });
    const model = randomWeights(config, 5);
    const dtypeOf = (name: string): GgufDtype =>
      name === 'tokEmbedding' || name.endsWith('.w1') ? 'Q8_0' : name.endsWith('.wq') ? 'F16' : name.endsWith('.w2') ? 'BF16' : 'F32';
    const { tokens, merges } = byteLevelVocab(QWEN_LIKE_MERGES, QWEN_LIKE_SPECIALS);
    const kv: Record<string, GgufKv> = {
      ...archKv('qwen2', config),
      'tokenizer.ggml.model': str('gpt2'),
      'tokenizer.ggml.pre': str('qwen2'),
      'tokenizer.ggml.tokens': { type: 'strings', value: tokens },
      'tokenizer.ggml.token_type': { type: 'i32s', value: tokens.map((_, i) => (i >= 265 ? 3 : 1)) },
      'tokenizer.ggml.merges': { type: 'strings', value: merges },
      'tokenizer.ggml.bos_token_id': u32(265),
      'tokenizer.ggml.eos_token_id': u32(267),
      'tokenizer.ggml.add_bos_token': { type: 'bool', value: false },
      'tokenizer.chat_template': str('{{ messages }}'),
    };
    const bytes = writeGguf(kv, tensorsOf(model, dtypeOf), 64);
    // Also through a Blob, as a browser File would come.
    const m = await loadGguf(new Blob([bytes]), 'tiny-qwen.gguf');

    expect(m.config).toEqual(config);
    const w = m.weights.tensors;
    expect(w.tokEmbedding).toEqual(quantize('Q8_0', model.tensors.tokEmbedding).values);
    expect(w['layers.1.w1']).toEqual(quantize('Q8_0', model.tensors['layers.1.w1']).values);
    // q8_0 keeps each value within half a quantisation step (d / 2, d = max|x| / 127 per 32 values).
    const maxAbs = model.tensors.tokEmbedding.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    model.tensors.tokEmbedding.forEach((v, i) => expect(Math.abs(w.tokEmbedding[i] - v)).toBeLessThanOrEqual((maxAbs / 127) * 0.5 + 1e-3));
    expect(w['layers.0.wq']).toEqual(Float32Array.from(model.tensors['layers.0.wq'], (v) => f16ToF32(f32ToF16(v))));
    expect(w['layers.0.w2']).toEqual(Float32Array.from(model.tensors['layers.0.w2'], (v) => bf16ToF32(f32ToBf16(v))));
    for (const name of ['layers.1.bq', 'layers.0.bv', 'layers.1.wo', 'classifier', 'finalNorm']) expect(w[name], name).toEqual(model.tensors[name]);

    const tok = m.tokenizer as HfTokenizer;
    expect(tok).toBeInstanceOf(HfTokenizer);
    expect([tok.bosId, tok.eosId, tok.addBos, tok.chatTemplate]).toEqual([265, 267, false, '{{ messages }}']);
    expect(tok.encode('hello world')).toEqual([259, 264]);
    expect(tok.encode('<|im_start|>hello<|im_end|>')).toEqual([266, 259, 267]);
    expect(tok.decode(tok.encode('hello wörld 42!'))).toBe('hello wörld 42!');
  });

  it('loads k-quant and Q4_0 tensors as the f32 weights they dequantise to', async () => {
    // Rows of 256 and 512 (dim 256, hiddenDim 512): whole 256-value super-blocks; every type on some matrix.
    const config = tinyConfig({ dim: 256, hiddenDim: 512, nHeads: 4, nKvHeads: 2, vocabSize: loadTokenizer().vocabSize, tiedEmbeddings: false });
    const model = randomWeights(config, 11);
    // Weights of a trained model's size (std 0.4 / 8 = 0.05, about 1 / sqrt(dim)), so the logits are not so
    // peaked that the tail's log-probs swing with any change at all.
    for (const name of Object.keys(model.shapes)) if (model.shapes[name].length === 2) model.tensors[name] = model.tensors[name].map((v) => v / 8);
    const types: QuantType[] = ['Q4_K', 'Q5_K', 'Q6_K', 'Q4_0', 'Q8_0'];
    const matrices = Object.keys(model.shapes).filter((n) => model.shapes[n].length === 2);
    const quantOf = (name: string): QuantType | undefined => (matrices.includes(name) ? types[matrices.indexOf(name) % types.length] : undefined);
    const dtypeOf = (name: string): GgufDtype => quantOf(name) ?? 'F32';
    const dequantised: Record<string, Float32Array> = {};
    for (const name of Object.keys(model.shapes)) {
      const type = quantOf(name);
      dequantised[name] = type ? quantize(type, model.tensors[name]).values : model.tensors[name];
    }
    const kv = { ...archKv('llama', config), ...spmTokenizerKv() };
    const quantFile = writeGguf(kv, tensorsOf(model, dtypeOf));
    const q = await loadGguf(quantFile, 'tiny-k-quants.gguf');
    const f = await loadGguf(writeGguf(kv, tensorsOf({ ...model, tensors: dequantised })), 'tiny-dequantised-f32.gguf');

    expect(q.config).toEqual(config);
    expect(new Set(matrices.map(dtypeOf))).toEqual(new Set(types));
    for (const name of Object.keys(model.shapes)) expect(firstDifference(q.weights.tensors[name], dequantised[name]), `${name} (${dtypeOf(name)})`).toBeUndefined();
    const tokens = reference.cases[2].tokens;
    const quantLogProbs = nextTokenLogProbs(q.weights, tokens);
    const f32LogProbs = nextTokenLogProbs(f.weights, tokens);
    quantLogProbs.forEach((lp, i) => expect(lp).toBe(f32LogProbs[i]));
    // And near the unquantised model (a decoder that put values in the wrong places would not be).
    const originalLogProbs = nextTokenLogProbs(model, tokens);
    const drift = Math.max(...quantLogProbs.map((lp, i) => Math.abs(lp - originalLogProbs[i])));
    expect(drift).toBeLessThan(QUANT_DRIFT);

    // A file cut short inside the last tensor names it and its type.
    const err = await loadGguf(quantFile.subarray(0, quantFile.length - 100), 'cut.gguf').catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect(err.message).toMatch(new RegExp(`^cut\\.gguf: tensor output\\.weight \\(${dtypeOf('classifier')} \\[${config.vocabSize}, 256\\]\\) needs bytes [\\d,]+\\.\\.[\\d,]+, but the file ends at [\\d,]+; it is truncated$`));
  });

  it('names what it cannot read', async () => {
    const config = tinyConfig({ dim: 32, hiddenDim: 64 });
    const model = randomWeights(config, 3);
    const kv = { ...archKv('llama', config), ...spmTokenizerKv() };
    const load = (bytes: Uint8Array) => loadGguf(bytes, 'bad.gguf');

    await expect(load(writeGguf({ ...kv, 'general.architecture': str('gemma') }, tensorsOf(model))))
      .rejects.toThrow(new UnsupportedModelError('bad.gguf', "GGUF architecture 'gemma' is not supported; supported: llama, qwen2, qwen3"));
    const refused = await load(writeGguf(kv, tensorsOf(model, (n) => (n === 'layers.1.w3' ? 'Q2_K' : 'F32')))).catch((e) => e);
    expect(refused).toBeInstanceOf(UnsupportedModelError);
    expect(refused.message).toBe('bad.gguf: tensor blk.1.ffn_up.weight is Q2_K; supported tensor types: Q4_0, Q4_K, Q5_K, Q6_K, Q8_0, F16, BF16, F32 ' +
      '(re-quantise the model with llama-quantize to one of them, e.g. Q4_K_M or Q8_0)');
    await expect(load(writeGguf({ ...kv, 'tokenizer.ggml.model': str('bert') }, tensorsOf(model))))
      .rejects.toThrow("GGUF tokenizer type 'bert' is not supported yet; supported: llama (SentencePiece), gpt2 (byte-level BPE)");
    await expect(load(writeGguf({ ...kv, 'tokenizer.ggml.model': str('gpt2'), 'tokenizer.ggml.pre': str('deepseek-llm'), 'tokenizer.ggml.merges': { type: 'strings', value: [] } }, tensorsOf(model))))
      .rejects.toThrow("GGUF byte-level BPE pre-tokenizer 'deepseek-llm' is not supported yet");
    await expect(load(writeGguf({ ...kv, 'llama.rope.scaling.type': str('yarn') }, tensorsOf(model)))).rejects.toThrow(new UnsupportedModelError('bad.gguf',
      "RoPE scaling 'yarn' (llama.rope.scaling.type) is not supported; supported: none, linear, and Llama 3's as llama.cpp writes it (the rope_freqs.weight tensor)"));
    await expect(load(writeGguf(kv, tensorsOf(model).filter((t) => t.name !== 'blk.0.attn_k.weight'))))
      .rejects.toThrow('bad.gguf: tensor blk.0.attn_k.weight (shape [16, 32]) is missing');
    await expect(load(writeGguf(kv, tensorsOf(model).map((t) => (t.name === 'output_norm.weight' ? { ...t, shape: [16, 2] } : t)))))
      .rejects.toThrow('bad.gguf: tensor output_norm.weight has shape [16, 2], expected [32]');

    const whole = writeGguf(kv, tensorsOf(model));
    const err = await load(whole.subarray(0, whole.length - 100)).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect(err.message).toMatch(/^bad\.gguf: tensor output_norm\.weight \(F32 \[32\]\) needs bytes [\d,]+\.\.[\d,]+, but the file ends at [\d,]+; it is truncated$/);
    // Rows of 32 values in 256-value Q4_K blocks: 1,024 values are 4 whole blocks, but no row is one.
    const partRows = tensorsOf(model).map((t) => (t.name === 'blk.0.attn_q.weight' ? { ...t, dtype: 'Q4_K' as const, bytes: new Uint8Array(4 * 144) } : t));
    const rowsErr = await load(writeGguf(kv, partRows)).catch((e) => e);
    expect(rowsErr).toBeInstanceOf(CheckpointFormatError);
    expect(rowsErr.message).toBe('bad.gguf: tensor blk.0.attn_q.weight: Q4_K rows of 32 values are not whole 256-value blocks');
    const partBlock = tensorsOf(model).map((t) => (t.name === 'output_norm.weight' ? { ...t, dtype: 'Q6_K' as const, bytes: new Uint8Array(210) } : t));
    await expect(load(writeGguf(kv, partBlock))).rejects.toThrow('bad.gguf: tensor output_norm.weight: Q6_K rows of 32 values are not whole 256-value blocks');
    await expect(load(new TextEncoder().encode('not a gguf file at all'))).rejects.toThrow(/^bad\.gguf: not a readable GGUF file: .*magic/);
  });
});
