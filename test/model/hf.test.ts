import { describe, expect, it } from 'vitest';
import { hfConfigToLlama, hfTensorName, loadHfFolder, halfToInterleaved, interleavedToHalf, llamaToHfConfig } from '../../src/model/hf.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { type TensorToWrite, parseSafetensors, safetensorToF32, writeSafetensors } from '../../src/model/safetensors.ts';
import { HfTokenizer, llama2cToHfTokenizer } from '../../src/model/tokenizer-hf.ts';
import { ModelConfigError, UnsupportedModelError, WeightMismatchError } from '../../src/model/errors.ts';
import { headDim, kvDim, qDim } from '../../src/model/config.ts';
import { f16ToF32, f32ToF16 } from '../../src/model/dtypes.ts';
import { tinyConfig, randomWeights } from '../helpers/tiny-llama.ts';
import { llamaReferenceForward } from '../reference/llama.ts';
import { loadTokenizer } from './stories260k.ts';
import { json, memoryFolder, qwenLikeTokenizer } from './hf-fixtures.ts';

const storiesHfTokenizer = () => {
  const { tokenizerJson, tokenizerConfig } = llama2cToHfTokenizer(loadTokenizer());
  return new HfTokenizer(tokenizerJson, tokenizerConfig);
};

/** Rewrites model.safetensors of an exported folder. */
function editTensors(files: Record<string, Uint8Array>, edit: (t: Record<string, TensorToWrite>) => void): Record<string, Uint8Array> {
  const parsed = parseSafetensors(files['model.safetensors']);
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of parsed.tensors) tensors[name] = { shape: t.shape, data: safetensorToF32(t), dtype: t.dtype as 'F32' };
  edit(tensors);
  return { ...files, 'model.safetensors': writeSafetensors(tensors) };
}

function withConfig(files: Record<string, Uint8Array>, patch: Record<string, unknown>): Record<string, Uint8Array> {
  const config = JSON.parse(new TextDecoder().decode(files['config.json']));
  return { ...files, 'config.json': json({ ...config, ...patch }) };
}

describe('Hugging Face config.json', () => {
  const base = {
    architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, num_attention_heads: 8,
    num_key_value_heads: 4, vocab_size: 512, max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: true,
  };

  it('maps Llama and Qwen2 fields onto LlamaConfig', () => {
    expect(hfConfigToLlama(base)).toEqual({
      architecture: 'llama', dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, maxSeqLen: 512,
      normEps: 1e-5, ropeTheta: 500000, ropeLayout: 'half', tiedEmbeddings: true, attentionBias: false,
    });
    const qwen = hfConfigToLlama({ ...base, architectures: ['Qwen2ForCausalLM'], num_key_value_heads: undefined, rope_theta: undefined, tie_word_embeddings: false, rms_norm_eps: 1e-6 });
    expect(qwen).toMatchObject({ architecture: 'qwen2', nKvHeads: 8, ropeTheta: 10000, tiedEmbeddings: false, attentionBias: true, normEps: 1e-6 });
    expect(hfConfigToLlama({ ...base, rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 1e6 } }).ropeTheta).toBe(1e6);
    // The exported config maps back to the same model.
    const c = hfConfigToLlama(base);
    expect(hfConfigToLlama(llamaToHfConfig(c))).toEqual(c);
  });

  it('names an unknown architecture and the supported ones', () => {
    expect(() => hfConfigToLlama({ ...base, architectures: ['GemmaForCausalLM'] }, 'm/config.json'))
      .toThrow(new UnsupportedModelError('m/config.json', "architecture 'GemmaForCausalLM' is not supported; supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MistralForCausalLM"));
    expect(() => hfConfigToLlama({ ...base, architectures: undefined })).toThrow(/architecture \(none: "architectures" is missing\) is not supported/);
  });

  it('reads an explicit head_dim (Qwen3-0.6B: 1024 wide, 16 heads of 128) and Qwen3\'s q/k norms', () => {
    const qwen3 = {
      architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16,
      num_key_value_heads: 8, head_dim: 128, vocab_size: 151936, max_position_embeddings: 40960, rms_norm_eps: 1e-6, rope_theta: 1000000,
      rope_scaling: null, attention_bias: false, tie_word_embeddings: true, use_sliding_window: false, sliding_window: null, max_window_layers: 28,
    };
    const c = hfConfigToLlama(qwen3);
    expect(c).toMatchObject({ architecture: 'qwen3', dim: 1024, nHeads: 16, nKvHeads: 8, headDim: 128, qkNorm: true, attentionBias: false, tiedEmbeddings: true });
    expect(c.slidingWindow).toBeUndefined();
    expect([headDim(c), qDim(c), kvDim(c)]).toEqual([128, 2048, 1024]);
    expect(hfConfigToLlama(llamaToHfConfig(c))).toEqual(c);
    // A head_dim equal to hidden_size / num_attention_heads is the same model as none.
    expect(hfConfigToLlama({ ...base, head_dim: 8 })).toEqual(hfConfigToLlama(base));
    expect(hfConfigToLlama({ ...base, head_dim: 16 })).toMatchObject({ headDim: 16 });
    expect(() => hfConfigToLlama({ ...base, head_dim: 15 })).toThrow('headDim (15) must be even');
  });

  it('reads Llama-3 and linear RoPE scaling from rope_scaling and from transformers 5\'s rope_parameters', () => {
    const llama3 = { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const scaling = { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
    const c = hfConfigToLlama({ ...base, rope_scaling: llama3 });
    expect(c.ropeScaling).toEqual(scaling);
    expect(hfConfigToLlama({ ...base, rope_theta: undefined, rope_parameters: { ...llama3, rope_theta: 500000 } })).toEqual(c);
    expect(hfConfigToLlama(llamaToHfConfig(c))).toEqual(c);
    expect(llamaToHfConfig(c).rope_scaling).toEqual(llama3);
    expect(hfConfigToLlama({ ...base, rope_scaling: { type: 'linear', factor: 2 } }).ropeScaling).toEqual({ type: 'linear', factor: 2 });
    expect(() => hfConfigToLlama({ ...base, rope_scaling: { rope_type: 'llama3', factor: 32 } }, 'x/config.json'))
      .toThrow(new ModelConfigError('rope_scaling.low_freq_factor', "must be a number for 'llama3' RoPE scaling, got undefined", 'x/config.json'));
  });

  it('reads Mistral with its sliding window, and none when sliding_window is null', () => {
    const mistral = { ...base, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4096, max_position_embeddings: 32768, head_dim: null };
    const c = hfConfigToLlama(mistral);
    expect(c).toMatchObject({ architecture: 'mistral', slidingWindow: 4096, attentionBias: false, maxSeqLen: 32768 });
    expect(c.headDim).toBeUndefined();
    expect(hfConfigToLlama(llamaToHfConfig(c))).toEqual(c);
    expect(hfConfigToLlama({ ...mistral, sliding_window: null }).slidingWindow).toBeUndefined();
    // Qwen2 states a window it uses only with use_sliding_window.
    expect(hfConfigToLlama({ ...base, architectures: ['Qwen2ForCausalLM'], sliding_window: 4096, use_sliding_window: false }).slidingWindow).toBeUndefined();
  });

  it('refuses what this runtime would compute differently', () => {
    for (const type of ['yarn', 'dynamic', 'longrope']) {
      expect(() => hfConfigToLlama({ ...base, rope_scaling: { rope_type: type, factor: 4 } }, 'y/config.json'))
        .toThrow(new UnsupportedModelError('y/config.json', `RoPE scaling '${type}' is not supported; supported: linear, llama3 (or none)`));
    }
    expect(() => hfConfigToLlama({ ...base, rope_parameters: { rope_type: 'yarn', rope_theta: 1e6, factor: 4 } })).toThrow("RoPE scaling 'yarn' is not supported");
    expect(() => hfConfigToLlama({ ...base, architectures: ['Qwen3ForCausalLM'], use_sliding_window: true })).toThrow('sliding-window attention (use_sliding_window true) is not supported');
    expect(() => hfConfigToLlama({ ...base, hidden_act: 'gelu' })).toThrow("hidden_act 'gelu' is not supported");
    expect(() => hfConfigToLlama({ ...base, hidden_size: '64' })).toThrow(ModelConfigError);
    expect(() => hfConfigToLlama({ ...base, num_attention_heads: 6 })).toThrow('dim (64) must be divisible by nHeads (6)');
    // An explicit head_dim frees the width from dividing by the heads.
    expect(hfConfigToLlama({ ...base, num_attention_heads: 6, num_key_value_heads: 2, head_dim: 16 })).toMatchObject({ nHeads: 6, headDim: 16 });
  });
});

describe('Hugging Face folder', () => {
  const config = tinyConfig({ vocabSize: 512, ropeLayout: 'half', tiedEmbeddings: false });
  const model = randomWeights(config, 7);
  const tokenizer = storiesHfTokenizer();

  it('loads model.safetensors, tensor names and tokenizer', async () => {
    const files = hfFolderFiles(model, tokenizer);
    const names = [...parseSafetensors(files['model.safetensors']).tensors.keys()];
    expect(names).toContain('model.layers.1.self_attn.q_proj.weight');
    expect(names).toContain('lm_head.weight');
    expect(names.length).toBe(Object.keys(model.shapes).length);
    const loaded = await loadHfFolder(memoryFolder(files), 'tiny');
    expect(loaded.config).toEqual(config);
    for (const name of Object.keys(model.shapes)) expect(loaded.weights.tensors[name], name).toEqual(model.tensors[name]);
    expect(loaded.tokenizer.encode('Once upon a time')).toEqual(loadTokenizer().encode('Once upon a time'));
    expect([loaded.tokenizer.bosId, loaded.tokenizer.eosId, loaded.tokenizer.addBos]).toEqual([1, 2, true]);
  });

  it('loads a sharded folder (model.safetensors.index.json) with f16 and bf16 shards', async () => {
    const single = parseSafetensors(hfFolderFiles(model, tokenizer)['model.safetensors']);
    const shards: Record<string, Record<string, TensorToWrite>> = { 'model-00001-of-00002.safetensors': {}, 'model-00002-of-00002.safetensors': {} };
    const weightMap: Record<string, string> = {};
    for (const [name, t] of single.tensors) {
      const shard = name.includes('layers.1.') || name === 'lm_head.weight' ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
      shards[shard][name] = { shape: t.shape, data: safetensorToF32(t), dtype: shard.includes('00001') ? 'F16' : 'BF16' };
      weightMap[name] = shard;
    }
    const files: Record<string, Uint8Array> = {
      ...hfFolderFiles(model, tokenizer),
      'model.safetensors.index.json': json({ metadata: { total_size: 0 }, weight_map: weightMap }),
    };
    delete files['model.safetensors'];
    for (const [name, tensors] of Object.entries(shards)) files[name] = writeSafetensors(tensors);
    const reads: string[] = [];
    const loaded = await loadHfFolder(memoryFolder(files, reads), 'sharded');
    expect(reads).toEqual(expect.arrayContaining(['model.safetensors', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']));
    const f16 = (v: Float32Array) => Float32Array.from(v, (x) => f16ToF32(f32ToF16(x)));
    expect(loaded.weights.tensors['layers.0.wq']).toEqual(f16(model.tensors['layers.0.wq']));
    const bf16 = loaded.weights.tensors['layers.1.w2'];
    model.tensors['layers.1.w2'].forEach((v, i) => expect(Math.abs(bf16[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8));

    delete files['model-00002-of-00002.safetensors'];
    await expect(loadHfFolder(memoryFolder(files), 'sharded')).rejects.toThrow('sharded/model-00002-of-00002.safetensors: missing: named by model.safetensors.index.json');
  });

  it('names a missing or mis-shaped tensor with both shapes', async () => {
    const files = hfFolderFiles(model, tokenizer);
    const missing = editTensors(files, (t) => delete t['model.layers.1.mlp.up_proj.weight']);
    const err = await loadHfFolder(memoryFolder(missing), 'tiny').catch((e) => e);
    expect(err).toBeInstanceOf(WeightMismatchError);
    expect(err.message).toBe('tiny/model.safetensors: tensor model.layers.1.mlp.up_proj.weight (shape [28, 16]) is missing');
    const wrong = editTensors(files, (t) => (t['model.layers.0.self_attn.k_proj.weight'] = { shape: [16, 16], data: new Float32Array(256) }));
    await expect(loadHfFolder(memoryFolder(wrong), 'tiny')).rejects.toThrow('tiny/model.safetensors: tensor model.layers.0.self_attn.k_proj.weight has shape [16, 16], expected [8, 16]');
    const untiedWithoutHead = withConfig(editTensors(files, (t) => delete t['lm_head.weight']), {});
    await expect(loadHfFolder(memoryFolder(untiedWithoutHead), 'tiny')).rejects.toThrow('tensor lm_head.weight (shape [512, 16]) is missing');
    // Tied: lm_head.weight is not needed, and an extra one is ignored.
    const tied = await loadHfFolder(memoryFolder(withConfig(files, { tie_word_embeddings: true })), 'tiny');
    expect(tied.weights.tensors.classifier).toBeUndefined();
    await expect(loadHfFolder(memoryFolder({ ...files, 'config.json': undefined as never }), 'empty')).rejects.toThrow('empty/config.json: missing');
    const noWeights = { ...files };
    delete noWeights['model.safetensors'];
    await expect(loadHfFolder(memoryFolder(noWeights), 'x')).rejects.toThrow('neither model.safetensors nor model.safetensors.index.json is in the folder');
  });

  it('loads a Qwen2 folder: q/k/v biases, tied embeddings, a tokenizer without BOS', async () => {
    const qwenConfig = tinyConfig({ architecture: 'qwen2', vocabSize: 300, ropeLayout: 'half', attentionBias: true, tiedEmbeddings: true, normEps: 1e-6, ropeTheta: 1e6 });
    const qwen = randomWeights(qwenConfig, 11);
    const tok = qwenLikeTokenizer();
    const files = hfFolderFiles(qwen, new HfTokenizer(tok.tokenizerJson, tok.tokenizerConfig));
    const hfConfig = JSON.parse(new TextDecoder().decode(files['config.json']));
    expect(hfConfig.architectures).toEqual(['Qwen2ForCausalLM']);
    const names = [...parseSafetensors(files['model.safetensors']).tensors.keys()];
    expect(names).toContain('model.layers.0.self_attn.q_proj.bias');
    expect(names).not.toContain('lm_head.weight');

    // Qwen's own config.json: bos_token_id / eos_token_id = <|endoftext|>, tokenizer_config names only EOS.
    const loaded = await loadHfFolder(memoryFolder(withConfig(files, { bos_token_id: 256 + 9, eos_token_id: 256 + 9 })), 'qwen');
    expect(loaded.config).toEqual(qwenConfig);
    expect(loaded.weights.tensors['layers.1.bk']).toEqual(qwen.tensors['layers.1.bk']);
    const t = loaded.tokenizer;
    expect([t.bosId, t.eosId, t.addBos, t.vocabSize]).toEqual([265, 267, false, 268]);
    expect(t.chatTemplate).toContain('<|im_start|>');
    const ids = t.encode('hello world');
    expect(ids).toEqual([256 + 3, 256 + 8]); // "hello", "Ġworld"; no BOS by default
    expect(t.encode('hello world', { bos: true, eos: true })).toEqual([265, 259, 264, 267]);
    expect(t.encode('<|im_start|>hi')).toEqual([266, 'h'.charCodeAt(0), 'i'.charCodeAt(0)]); // byte-level ids = byte values here
    expect(t.decode(ids)).toBe('hello world');
    expect(t.decode([266, ...t.encode(' wörld 42')])).toBe('<|im_start|> wörld 42');
    expect(t.piece(264)).toBe('Ġworld');
    // The forward pass runs with the biases.
    const { logits } = llamaReferenceForward(loaded.weights, ids);
    expect(logits[1].every(Number.isFinite)).toBe(true);
  });

  it('loads a Qwen3 folder: explicit head_dim, q_norm / k_norm per layer, shapes checked against head_dim', async () => {
    const qwen3Config = tinyConfig({ architecture: 'qwen3', vocabSize: 300, ropeLayout: 'half', headDim: 8, qkNorm: true, normEps: 1e-6, ropeTheta: 1e6 });
    const qwen3 = randomWeights(qwen3Config, 12);
    const tok = qwenLikeTokenizer();
    const files = hfFolderFiles(qwen3, new HfTokenizer(tok.tokenizerJson, tok.tokenizerConfig));
    const hfConfig = JSON.parse(new TextDecoder().decode(files['config.json']));
    expect(hfConfig).toMatchObject({ architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', head_dim: 8, hidden_size: 16, num_attention_heads: 4, attention_bias: false });
    const st = parseSafetensors(files['model.safetensors']).tensors;
    expect(st.get('model.layers.1.self_attn.q_norm.weight')?.shape).toEqual([8]);
    expect(st.get('model.layers.0.self_attn.q_proj.weight')?.shape).toEqual([32, 16]);
    expect(st.get('model.layers.0.self_attn.o_proj.weight')?.shape).toEqual([16, 32]);
    const loaded = await loadHfFolder(memoryFolder(files), 'qwen3');
    expect(loaded.config).toEqual(qwen3Config);
    for (const name of Object.keys(qwen3.shapes)) expect(loaded.weights.tensors[name], name).toEqual(qwen3.tensors[name]);
    const noNorm = editTensors(files, (t) => delete t['model.layers.1.self_attn.k_norm.weight']);
    await expect(loadHfFolder(memoryFolder(noNorm), 'qwen3')).rejects.toThrow('tensor model.layers.1.self_attn.k_norm.weight (shape [8]) is missing');
    // The same tensors under a Llama config: q_norm / k_norm are not part of that model.
    await expect(loadHfFolder(memoryFolder(withConfig(files, { architectures: ['LlamaForCausalLM'] })), 'qwen3')).rejects.toThrow(/not used by the model the config describes: model\.layers\.0\.self_attn\.k_norm\.weight, model\.layers\.0\.self_attn\.q_norm\.weight/);
  });

  it('handles SmolLM-style (Digits + ByteLevel regex) and Llama-3-style (Split regex, ignore_merges) tokenizer.json', () => {
    const { tokenizerJson } = qwenLikeTokenizer();
    const smol = new HfTokenizer({
      ...tokenizerJson,
      normalizer: null,
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true }] },
      post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<|endoftext|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [],
        special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [265], tokens: ['<|endoftext|>'] } } },
    }, { bos_token: '<|endoftext|>', eos_token: '<|im_end|>' });
    // hello, Ġ, 4, 2: digits are isolated before the byte-level split; BOS comes from the post-processor.
    expect(smol.encode('hello 42')).toEqual([265, 259, 32, 52, 50]);
    expect(smol.addBos).toBe(true);
    expect(smol.decode(smol.encode('hello 42'))).toBe('hello 42');

    const llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const llama3 = new HfTokenizer({
      ...tokenizerJson,
      normalizer: null,
      pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: llama3Regex }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false }] },
      model: { ...tokenizerJson.model, ignore_merges: true },
    }, { bos_token: '<|im_start|>', eos_token: '<|im_end|>', add_bos_token: true });
    expect(llama3.encode('hello world 1234')).toEqual([266, 259, 264, 32, 49, 50, 51, 52]);
  });

  it('says so when the folder has neither tokenizer.json nor tokenizer.model', async () => {
    const files = hfFolderFiles(model, tokenizer);
    delete files['tokenizer.json'];
    await expect(loadHfFolder(memoryFolder(files), 'tiny')).rejects.toThrow(new UnsupportedModelError('tiny', 'has no tokenizer: neither tokenizer.json nor tokenizer.model'));
  });
});

describe('RoPE layout permutation', () => {
  it('maps rows 2i -> i and 2i+1 -> i + hd/2 per head, and back', () => {
    const rows = Float32Array.from({ length: 2 * 8 }, (_, i) => i); // 2 heads of 8, one column
    expect(Array.from(interleavedToHalf(rows, 2, 1))).toEqual([0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15]);
    expect(halfToInterleaved(interleavedToHalf(rows, 2, 1), 2, 1)).toEqual(rows);
    // transformers' convert_llama_weights_to_hf.py permute, transcribed from its torch code:
    //   w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)
    const w = Float32Array.from({ length: 4 * 6 * 3 }, (_, i) => i), nHeads = 4, half = 3, cols = 3; // head size 6
    const hfPermuted = new Float32Array(w.length);
    for (let h = 0; h < nHeads; h++) for (let i = 0; i < half; i++) for (let j = 0; j < 2; j++) {
      const src = h * half * 2 + i * 2 + j, dst = h * 2 * half + j * half + i; // (h, i, j) -> (h, j, i)
      hfPermuted.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
    }
    expect(interleavedToHalf(w, nHeads, cols)).toEqual(hfPermuted);
    expect(hfTensorName('layers.3.w1')).toBe('model.layers.3.mlp.gate_proj.weight');
  });
});
