// One LoRA step of a model shaped like a real one (random weights: the real ones are not on this
// machine) at batch 1 x 256: prints the memory plan, checks it against the device, runs the step and
// reports its time and the measured peak. Shapes: the config.json of SmolLM2-135M and Qwen2.5-0.5B.
//   npm run bench:step [-- --shape smollm2-135m|qwen2.5-0.5b --seq-len 256 --batch 1]
import { parseArgs } from 'node:util';
import { Runtime, formatBytes } from '../src/gpu/index.ts';
import { llamaConfig } from '../src/model/config.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { LORA_DEFAULTS } from '../src/model/lora.ts';
import { seededRandom } from '../src/model/random.ts';
import { randomLlamaWeights } from './random-weights.ts';
import { checkMemoryPlan, formatMemoryReport, memoryReport } from '../src/model/memory.ts';
import { AdamW } from '../src/train/optimizer.ts';
import { trainStep } from '../src/train/step.ts';

const { values } = parseArgs({ options: { shape: { type: 'string', default: 'smollm2-135m' }, 'seq-len': { type: 'string', default: '256' }, batch: { type: 'string', default: '1' } } });
const seqLen = Number(values['seq-len']);
const batch = Number(values.batch);
const SHAPES = {
  // SmolLM2-135M: hidden 576, intermediate 1536, 30 layers, 9 heads, 3 kv heads, vocab 49152, tied embeddings.
  'smollm2-135m': llamaConfig({ architecture: 'llama', dim: 576, hiddenDim: 1536, nLayers: 30, nHeads: 9, nKvHeads: 3, vocabSize: 49152, maxSeqLen: 8192, ropeTheta: 100000, ropeLayout: 'half' }),
  // Qwen2.5-0.5B: hidden 896, intermediate 4864, 24 layers, 14 heads, 2 kv heads, vocab 151936, q/k/v biases, tied embeddings.
  'qwen2.5-0.5b': llamaConfig({ architecture: 'qwen2', dim: 896, hiddenDim: 4864, nLayers: 24, nHeads: 14, nKvHeads: 2, vocabSize: 151936, maxSeqLen: 32768, ropeTheta: 1000000, ropeLayout: 'half', attentionBias: true, normEps: 1e-6 }),
};
if (!(values.shape! in SHAPES)) throw new RangeError(`--shape must be one of ${Object.keys(SHAPES).join(', ')}, got '${values.shape}'`);
const config = SHAPES[values.shape as keyof typeof SHAPES];
console.log(`${values.shape}-shaped model (random weights), LoRA step at ${batch} x ${seqLen}`);
const lora = { ...LORA_DEFAULTS, rank: 8, alpha: 16 };
const plan = { batch, seqLen, mode: 'lora' as const };
const report = memoryReport(config, plan, lora);
console.log(formatMemoryReport(report, plan));

const rt = await Runtime.create();
checkMemoryPlan(rt, report, plan);
const random = seededRandom(2);
const model = LlamaModel.fromWeights(rt, randomLlamaWeights(config));
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
for (const label of ['first step (compiles pipelines)', 'second step']) {
  const t0 = performance.now();
  const r = trainStep(model, opt, [mb], 'lora', 1e-4);
  const loss = (await r.loss.read())[0];
  r.loss.release();
  console.log(`${label}: ${((performance.now() - t0) / 1000).toFixed(1)} s, loss ${loss.toFixed(3)} (ln vocab = ${Math.log(config.vocabSize).toFixed(3)})`);
}
console.log(`measured peak GPU memory in use: ${formatBytes(rt.memory().peakInUseBytes)} (plan: ${formatBytes(report.peakBytes)})`);
opt.release();
model.release();
rt.destroy();
