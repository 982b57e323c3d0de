// What llama.cpp's convert_hf_to_gguf.py writes for a Hugging Face (rotate-half) model, transcribed for tests,
// independent of the loader: tensor names, the q/k row permutation of 'llama', the architecture metadata, and
// the rope_freqs.weight tensor of Llama 3's RoPE scaling.
import { type LlamaConfig, headDim } from '../../src/model/config.ts';
import type { RopeScaling } from '../../src/model/rope-scaling.ts';
import type { LlamaWeights } from '../../src/model/weights.ts';
import { type GgufDtype, type GgufKv, type GgufTensor, f32, str, u32 } from './gguf-writer.ts';
import { QWEN_LIKE_MERGES, QWEN_LIKE_SPECIALS, byteLevelVocab } from './hf-fixtures.ts';

/** LlamaModel.permute, transcribed from its numpy:
 *  w.reshape(n_head, 2, rows // n_head // 2, cols).swapaxes(1, 2).reshape(rows, cols) */
export function llamaCppPermute(w: Float32Array, nHead: number, cols: number): Float32Array {
  const rows = w.length / cols, half = rows / nHead / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = h * 2 * half + j * half + i; // index (h, j, i) before swapaxes
        const dst = h * half * 2 + i * 2 + j; //   index (h, i, j) after
        out.set(w.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return out;
}

const LAYER_NAMES: Record<string, string> = {
  attnNorm: 'attn_norm.weight', wq: 'attn_q.weight', wk: 'attn_k.weight', wv: 'attn_v.weight', bq: 'attn_q.bias', bk: 'attn_k.bias',
  bv: 'attn_v.bias', qNorm: 'attn_q_norm.weight', kNorm: 'attn_k_norm.weight', wo: 'attn_output.weight', ffnNorm: 'ffn_norm.weight',
  w1: 'ffn_gate.weight', w2: 'ffn_down.weight', w3: 'ffn_up.weight',
};

/** gguf-py's tensor name of one of our weights. */
export function ggufName(name: string): string {
  const m = /^layers\.(\d+)\.(\w+)$/.exec(name);
  if (m) return `blk.${m[1]}.${LAYER_NAMES[m[2]]}`;
  return { tokEmbedding: 'token_embd.weight', finalNorm: 'output_norm.weight', classifier: 'output.weight' }[name]!;
}

/** The <arch>.* keys every converter writes (key/value_length only for an explicit head_dim, as TextModel does). */
export function archKv(arch: string, c: LlamaConfig): Record<string, GgufKv> {
  return {
    'general.architecture': str(arch),
    'general.name': str('test model'),
    [`${arch}.context_length`]: u32(c.maxSeqLen),
    [`${arch}.embedding_length`]: u32(c.dim),
    [`${arch}.block_count`]: u32(c.nLayers),
    [`${arch}.feed_forward_length`]: u32(c.hiddenDim),
    [`${arch}.attention.head_count`]: u32(c.nHeads),
    [`${arch}.attention.head_count_kv`]: u32(c.nKvHeads),
    [`${arch}.attention.layer_norm_rms_epsilon`]: f32(c.normEps),
    [`${arch}.rope.freq_base`]: f32(c.ropeTheta),
    [`${arch}.rope.dimension_count`]: u32(headDim(c)),
    ...(c.headDim === undefined ? {} : { [`${arch}.attention.key_length`]: u32(c.headDim), [`${arch}.attention.value_length`]: u32(c.headDim) }),
  };
}

/** Tensors in GGUF order with the dtype chosen per weight. */
export function tensorsOf(model: LlamaWeights, dtype: (name: string) => GgufDtype = () => 'F32'): GgufTensor[] {
  return Object.keys(model.shapes).map((name) => ({ name: ggufName(name), shape: [...model.shapes[name]], dtype: dtype(name), data: model.tensors[name] }));
}

/**
 * LlamaModel.generate_extra_tensors for rope_type 'llama3', step for step in f32 as torch computes it:
 *   freqs = 1 / base ** (arange(0, dim, 2) / dim); wavelen = 2π / freq;
 *   factor 1 below original / high, `factor` above original / low, 1 / ((1 − smooth) / factor + smooth) between.
 */
export function llamaCppRopeFreqs(c: LlamaConfig, s: Extract<RopeScaling, { type: 'llama3' }>): Float32Array {
  const dim = headDim(c), f = Math.fround;
  const lowWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
  return Float32Array.from({ length: dim / 2 }, (_, i) => {
    const freq = f(1 / f(f(c.ropeTheta) ** f((2 * i) / dim)));
    const wavelen = f((2 * Math.PI) / freq);
    if (wavelen < highWavelen) return 1;
    if (wavelen > lowWavelen) return s.factor;
    const smooth = f((f(s.originalMaxPositionEmbeddings / wavelen) - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor));
    return 1 / ((1 - smooth) / s.factor + smooth);
  });
}

/**
 * The GGUF tensors and RoPE / window metadata llama.cpp writes for the HF (rotate-half) weights `hf` of
 * architecture `arch`: 'llama' q/k rows permuted to interleaved, linear scaling as rope.scaling.*, llama3 as
 * rope_freqs.weight, Mistral's window as attention.sliding_window.
 */
export function convertedLikeLlamaCpp(hf: LlamaWeights, arch: string): { kv: Record<string, GgufKv>; tensors: GgufTensor[] } {
  const c = hf.config;
  const tensors = { ...hf.tensors };
  if (arch === 'llama') {
    for (let l = 0; l < c.nLayers; l++) {
      tensors[`layers.${l}.wq`] = llamaCppPermute(hf.tensors[`layers.${l}.wq`], c.nHeads, c.dim);
      tensors[`layers.${l}.wk`] = llamaCppPermute(hf.tensors[`layers.${l}.wk`], c.nKvHeads, c.dim);
    }
  }
  const kv = archKv(arch, c);
  const extra: GgufTensor[] = [];
  const s = c.ropeScaling;
  if (s?.type === 'linear') Object.assign(kv, { [`${arch}.rope.scaling.type`]: str('linear'), [`${arch}.rope.scaling.factor`]: f32(s.factor) });
  if (s?.type === 'llama3') extra.push({ name: 'rope_freqs.weight', shape: [headDim(c) / 2], dtype: 'F32', data: llamaCppRopeFreqs(c, s) });
  if (c.slidingWindow !== undefined) kv[`${arch}.attention.sliding_window`] = u32(c.slidingWindow);
  return { kv, tensors: [...extra, ...tensorsOf({ ...hf, tensors })] };
}

/** The Qwen-like byte-level BPE vocabulary of hf-fixtures.ts as tokenizer.ggml.* ('gpt2'), its specials as control tokens. */
export function bpeTokenizerKv(): Record<string, GgufKv> {
  const { tokens, merges, specialIds } = byteLevelVocab(QWEN_LIKE_MERGES, QWEN_LIKE_SPECIALS);
  const specials = new Set(Object.values(specialIds));
  return {
    'tokenizer.ggml.model': str('gpt2'),
    'tokenizer.ggml.pre': str('qwen2'),
    'tokenizer.ggml.tokens': { type: 'strings', value: tokens },
    'tokenizer.ggml.token_type': { type: 'i32s', value: tokens.map((_, i) => (specials.has(i) ? 3 : 1)) },
    'tokenizer.ggml.merges': { type: 'strings', value: merges },
    'tokenizer.ggml.eos_token_id': u32(specialIds['<|im_end|>']),
  };
}
