// One LoRA step (rank 8, all seven targets) of models shaped like real ones, with random weights (the real
// ones are not on this machine), at batch 1 x 256 and each base dtype: the memory plan of every shape, the
// largest single buffer (a browser's maxStorageBufferBindingSize must hold it), which GPU budget each fits,
// and, where the model is small enough to run here, a measured step (time and peak GPU memory in use).
//   npm run bench:step -- --shape NAME|all [--base-dtype f32|f16|q8|q4|all] [--plan-only] [--seq-len 256] [--batch 1]
//   npm run bench:step -- --list
// A step is measured only for shapes named by --shape (not with 'all', which plans every shape), of at most
// MEASURE_MAX_PARAMS parameters, and without --plan-only: random f32 weights of a larger model would not
// fit this machine's memory (or its patience).
import { parseArgs } from 'node:util';
import { Runtime } from '../src/gpu/index.ts';
import { BASE_DTYPES, parseBaseDtype, type BaseDtype } from '../src/model/base-dtype.ts';
import { headDim, type LlamaConfig } from '../src/model/config.ts';
import { hfConfigToLlama } from '../src/model/hf-config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { LORA_TARGETS, type LoraConfig } from '../src/model/lora.ts';
import { checkMemoryPlan, memoryReport, type MemoryPlan } from '../src/model/memory.ts';
import { seededRandom } from '../src/model/random.ts';
import { llamaWeightShapes, shapeSize } from '../src/model/weights.ts';
import { packedBytes } from '../src/ops/matmul-packed.ts';
import { AdamW } from '../src/train/optimizer.ts';
import { trainStep } from '../src/train/step.ts';
import { randomLlamaWeights } from './random-weights.ts';

// The fields of each model's config.json that shape it. Checked against the Hub's config.json files for
// DeepSeek-R1-Distill-Qwen-1.5B / 14B, SmolLM2-360M, Llama-3.2-1B / 3B and Qwen3-0.6B, and against public
// copies of the config (or the model's printed layer shapes) for Qwen2.5-0.5B, SmolLM2-135M, Mistral-7B-v0.1,
// Llama-3.1-8B and R1-Distill-Qwen-7B (Qwen2.5-7B's shapes: 3584 wide, 18944 FFN, 4 KV heads of 128). Read through hfConfigToLlama, the loader's own path,
// so an unsupported field would be refused here as it would be for the real folder.
const LLAMA3_SCALING = (factor: number) => ({ factor, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' });
const CONFIGS: Record<string, Record<string, unknown>> = {
  // The seven models of the XTF paper.
  'deepseek-r1-distill-qwen-1.5b': {
    architectures: ['Qwen2ForCausalLM'], hidden_size: 1536, intermediate_size: 8960, num_hidden_layers: 28, num_attention_heads: 12, num_key_value_heads: 2,
    vocab_size: 151936, max_position_embeddings: 131072, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, use_sliding_window: false, sliding_window: null,
  },
  'deepseek-r1-distill-qwen-7b': {
    architectures: ['Qwen2ForCausalLM'], hidden_size: 3584, intermediate_size: 18944, num_hidden_layers: 28, num_attention_heads: 28, num_key_value_heads: 4,
    vocab_size: 152064, max_position_embeddings: 131072, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false, use_sliding_window: false, sliding_window: null,
  },
  'deepseek-r1-distill-qwen-14b': {
    architectures: ['Qwen2ForCausalLM'], hidden_size: 5120, intermediate_size: 13824, num_hidden_layers: 48, num_attention_heads: 40, num_key_value_heads: 8,
    vocab_size: 152064, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 1000000, tie_word_embeddings: false, use_sliding_window: false, sliding_window: null,
  },
  'mistral-7b-v0.1': {
    architectures: ['MistralForCausalLM'], hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8,
    vocab_size: 32000, max_position_embeddings: 32768, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, sliding_window: 4096,
  },
  'llama-3.1-8b': {
    architectures: ['LlamaForCausalLM'], hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8,
    vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000, rope_scaling: LLAMA3_SCALING(8), tie_word_embeddings: false,
  },
  'llama-3.2-1b': {
    architectures: ['LlamaForCausalLM'], hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64,
    vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000, rope_scaling: LLAMA3_SCALING(32), tie_word_embeddings: true,
  },
  'llama-3.2-3b': {
    architectures: ['LlamaForCausalLM'], hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 28, num_attention_heads: 24, num_key_value_heads: 8, head_dim: 128,
    vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000, rope_scaling: LLAMA3_SCALING(32), tie_word_embeddings: true,
  },
  // Small models people fine-tune in a browser.
  'smollm2-135m': {
    architectures: ['LlamaForCausalLM'], hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3,
    vocab_size: 49152, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true,
  },
  'smollm2-360m': {
    architectures: ['LlamaForCausalLM'], hidden_size: 960, intermediate_size: 2560, num_hidden_layers: 32, num_attention_heads: 15, num_key_value_heads: 5,
    vocab_size: 49152, max_position_embeddings: 8192, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true,
  },
  'qwen2.5-0.5b': {
    architectures: ['Qwen2ForCausalLM'], hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2,
    vocab_size: 151936, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, use_sliding_window: false,
  },
  'qwen3-0.6b': {
    architectures: ['Qwen3ForCausalLM'], hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128,
    vocab_size: 151936, max_position_embeddings: 40960, rms_norm_eps: 1e-6, rope_theta: 1000000, attention_bias: false, tie_word_embeddings: true, use_sliding_window: false, sliding_window: null,
  },
};
/** Shapes this machine (24 GiB) may run a step of: random f32 weights live on the host (5 GB for Llama-3.2-1B,
 *  the largest allowed, the target) and, on a software GPU, again in its memory in their base dtype. */
const MEASURE_MAX_PARAMS = 1.3e9;
const BUDGETS_GIB = [2, 4, 8];
const GiB = 2 ** 30;

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: 'all' },
    'base-dtype': { type: 'string', default: 'all' },
    'plan-only': { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
    'seq-len': { type: 'string', default: '256' },
    batch: { type: 'string', default: '1' },
  },
});
if (values.list) {
  console.log(Object.keys(CONFIGS).join('\n'));
  process.exit(0);
}
const seqLen = Number(values['seq-len']);
const batch = Number(values.batch);
if (!(Number.isInteger(seqLen) && seqLen > 0 && Number.isInteger(batch) && batch > 0)) throw new RangeError('--seq-len and --batch must be positive whole numbers');
const shapes = values.shape === 'all' ? Object.keys(CONFIGS) : values.shape!.split(',');
for (const s of shapes) if (!(s in CONFIGS)) throw new RangeError(`--shape must be all or one of ${Object.keys(CONFIGS).join(', ')} (comma-separated), got '${s}'`);
const dtypes: BaseDtype[] = values['base-dtype'] === 'all' ? [...BASE_DTYPES] : values['base-dtype']!.split(',').map((d) => {
  const choice = parseBaseDtype(d);
  if (choice === 'auto') throw new RangeError("--base-dtype auto needs a checkpoint; a random-weight bench names f32, f16, q8, q4 or all");
  return choice;
});
const lora: LoraConfig = { rank: 8, alpha: 16, dropout: 0, targets: [...LORA_TARGETS] };
const plan: MemoryPlan = { batch, seqLen, mode: 'lora' };

interface Row { shape: string; config: LlamaConfig; params: number; dtype: BaseDtype; weights: number; peak: number; largestBuffer: number; stepS?: number; measuredPeak?: number; note?: string }

/** The largest single GPU buffer: a weight in its storage type, or the largest activation (the logits). */
function largestBuffer(config: LlamaConfig, dtype: BaseDtype, activationBytes: number): number {
  let largest = activationBytes;
  for (const shape of Object.values(llamaWeightShapes(config))) {
    const bytes = shape.length === 2 && dtype !== 'f32' ? packedBytes(dtype, shape[0], shape[1]) : shapeSize(shape) * 4;
    largest = Math.max(largest, bytes);
  }
  return largest;
}

async function measure(rt: Runtime, config: LlamaConfig, dtype: BaseDtype, row: Row): Promise<void> {
  checkMemoryPlan(rt, memoryReport(config, plan, lora, dtype), plan);
  const random = seededRandom(2);
  const model = LlamaModel.fromWeights(rt, randomLlamaWeights(config), { baseDtype: dtype });
  model.addLora(lora, 0);
  const opt = new AdamW(rt, model.trainable('lora'));
  const n = batch * seqLen;
  const mb = {
    batch,
    seqLen,
    ids: Uint32Array.from({ length: n }, () => Math.floor(random() * config.vocabSize)),
    targets: Uint32Array.from({ length: n }, () => Math.floor(random() * config.vocabSize)),
    lossMask: new Float32Array(n).fill(1),
  };
  await rt.sync();
  rt.pool.resetPeak();
  // The first step compiles the pipelines; the second is the one timed.
  for (const timed of [false, true]) {
    const t0 = performance.now();
    const r = trainStep(model, opt, [mb], 'lora', 1e-4);
    const loss = (await r.loss.read())[0];
    r.loss.release();
    if (!Number.isFinite(loss)) throw new Error(`${row.shape} ${dtype}: the step's loss is ${loss}`);
    if (timed) row.stepS = (performance.now() - t0) / 1000;
  }
  row.measuredPeak = rt.memory().peakInUseBytes;
  opt.release();
  model.release();
}

const rows: Row[] = [];
const rt = values['plan-only'] || values.shape === 'all' ? null : await Runtime.create();
if (rt) console.error(`device: ${rt.report.summary}`);
for (const shape of shapes) {
  const config = hfConfigToLlama(CONFIGS[shape], `${shape} config.json`);
  const params = Object.values(llamaWeightShapes(config)).reduce((s, x) => s + shapeSize(x), 0);
  for (const dtype of dtypes) {
    const r = memoryReport(config, plan, lora, dtype);
    const row: Row = { shape, config, params, dtype, weights: r.weightsBytes, peak: r.peakBytes, largestBuffer: largestBuffer(config, dtype, r.largestTensorBytes) };
    if (rt) {
      if (params > MEASURE_MAX_PARAMS) row.note = 'plan only (too large to run here)';
      else {
        console.error(`measuring ${shape} ${dtype} ...`);
        try {
          await measure(rt, config, dtype, row);
        } catch (e) {
          row.note = `not measured: ${(e as Error).message.split('\n')[0]}`;
        }
      }
    }
    rows.push(row);
  }
}
rt?.destroy();

const gib = (b: number) => (b / GiB).toFixed(2);
console.log(`\nLoRA rank ${lora.rank} on ${lora.targets.length} targets, AdamW, batch ${batch} x ${seqLen} tokens, random weights; sizes in GiB (2^30 bytes)\n`);
const header = ['model', 'params', 'head', 'base', 'weights', 'plan peak', 'largest buffer', ...(rt ? ['step (s)', 'measured peak', 'note'] : [])];
const table = rows.map((r) => [
  r.shape, `${(r.params / 1e9).toFixed(2)}B`, String(headDim(r.config)), r.dtype, gib(r.weights), gib(r.peak), gib(r.largestBuffer),
  ...(rt ? [r.stepS === undefined ? '' : r.stepS.toFixed(1), r.measuredPeak === undefined ? '' : gib(r.measuredPeak), r.note ?? ''] : []),
]);
console.log(markdownTable(header, table));

// Which base dtypes fit each budget: the planned peak at most the budget. The most precise one is listed first.
console.log(`\nfits a GPU budget of (planned peak <= budget):\n`);
const fit = shapes.map((shape) => [shape, ...BUDGETS_GIB.map((b) => {
  const ok = rows.filter((r) => r.shape === shape && r.peak <= b * GiB).map((r) => r.dtype);
  return ok.length ? ok.join(', ') : '-';
})]);
console.log(markdownTable(['model', ...BUDGETS_GIB.map((b) => `${b} GiB`)], fit));

function markdownTable(head: string[], body: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
