// The memory plan and weight shapes of real checkpoints' configs with the newer architecture options,
// read from their config.json fields: parameter counts worked out by hand from the layer shapes.
import { describe, expect, it } from 'vitest';
import { hfConfigToLlama } from '../../src/model/hf-config.ts';
import { loraParameterCount, memoryReport } from '../../src/model/memory.ts';
import { LORA_DEFAULTS } from '../../src/model/lora.ts';
import { llamaWeightShapes, shapeSize } from '../../src/model/weights.ts';

const parameters = (shapes: Record<string, readonly number[]>) => Object.values(shapes).reduce((s, shape) => s + shapeSize(shape), 0);

// Qwen3-0.6B's config.json (the fields that shape the model).
const qwen3 = hfConfigToLlama({
  architectures: ['Qwen3ForCausalLM'], hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16,
  num_key_value_heads: 8, head_dim: 128, vocab_size: 151936, max_position_embeddings: 40960, rms_norm_eps: 1e-6, rope_theta: 1000000,
  rope_scaling: null, attention_bias: false, tie_word_embeddings: true, use_sliding_window: false, sliding_window: null,
});
// Llama-3.2-1B's config.json.
const llama32 = hfConfigToLlama({
  architectures: ['LlamaForCausalLM'], hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
  num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000,
  rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
  tie_word_embeddings: true, attention_bias: false, mlp_bias: false,
});

describe('weights and memory plans of Qwen3-0.6B and Llama-3.2-1B', () => {
  it('Qwen3-0.6B: q_proj 1024 -> 2048 (16 heads of 128), o_proj back, q/k norms of 128: 596,049,920 parameters', () => {
    const shapes = llamaWeightShapes(qwen3);
    expect(shapes['layers.0.wq']).toEqual([2048, 1024]);
    expect(shapes['layers.0.wk']).toEqual([1024, 1024]);
    expect(shapes['layers.0.wo']).toEqual([1024, 2048]);
    expect(shapes['layers.27.qNorm']).toEqual([128]);
    // Per layer: q 2048·1024 + k, v 1024·1024 each + o 1024·2048 + MLP 3·1024·3072 + norms 2·1024 + q/k norms 2·128
    //   = 2,097,152 + 2,097,152 + 2,097,152 + 9,437,184 + 2,048 + 256 = 15,730,944; × 28 = 440,466,432.
    // Embedding (tied) 151,936·1024 = 155,582,464; final norm 1,024.
    expect(parameters(shapes)).toBe(440_466_432 + 155_582_464 + 1_024);
    // LoRA r = 8 on all seven: 8·(in + out) per projection = 8·(3072 + 2048 + 2048 + 3072 + 3·4096) = 180,224 per layer.
    expect(loraParameterCount(qwen3, LORA_DEFAULTS)).toBe(28 * 180_224);
  });

  it('Llama-3.2-1B: 1,235,814,400 parameters with Llama-3 RoPE scaling read', () => {
    expect(llama32.ropeScaling).toEqual({ type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(llama32.headDim).toBeUndefined(); // 64 = 2048 / 32: the same model as no head_dim
    // Per layer: q, o 2048² each + k, v 512·2048 each + MLP 3·2048·8192 + norms 2·2048 = 60,821,504; × 16 = 973,144,064.
    // Embedding (tied) 128,256·2048 = 262,668,288; final norm 2,048.
    expect(parameters(llamaWeightShapes(llama32))).toBe(973_144_064 + 262_668_288 + 2_048);
  });

  it('the plan counts the weights, and what the q/k norms keep for backward: their inputs and an rstd per head', () => {
    const plan = { batch: 1, seqLen: 256, mode: 'lora' as const };
    const withNorms = memoryReport(qwen3, plan, LORA_DEFAULTS);
    const without = memoryReport({ ...qwen3, qkNorm: undefined }, plan, LORA_DEFAULTS);
    expect(withNorms.weightsBytes).toBe(4 * 596_049_920);
    expect(without.weightsBytes).toBe(4 * (596_049_920 - 28 * 256));
    // Per layer and token: the pre-norm q (2048) and k (1024), and one rstd per query (16) and key (8) head.
    expect(withNorms.activationBytes - without.activationBytes).toBe(4 * 28 * 256 * (2048 + 1024 + 16 + 8));
    // Backward of one layer: one more q- and k-sized gradient alive through the norms.
    expect(withNorms.transientBytes - without.transientBytes).toBe(4 * 256 * (2048 + 1024));
  });
});
