// `npm run bench:train`: tokens/s of a LoRA training step (rank 8 on every projection, batch 8 x 256)
// and of a forward pass, for stories260K (real weights) and a stories15M-shaped random model, beside
// the same models in PyTorch on the CPU (bench/torch_llama.py, run from here). Last line: one JSON object.
//   npm run bench:train [-- --steps 5 --profile]
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Runtime } from '../src/gpu/index.ts';
import { parseLlama2cCheckpoint } from '../src/model/llama2c.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { LORA_DEFAULTS } from '../src/model/lora.ts';
import { describeKernelChoices } from '../src/ops/kernel-choice.ts';
import type { LlamaWeights } from '../src/model/weights.ts';
import { AdamW } from '../src/train/optimizer.ts';
import type { TokenBatch } from '../src/data/batch.ts';
import { trainStep } from '../src/train/step.ts';
import { seededRandom } from '../src/model/random.ts';
import { randomLlamaWeights, STORIES15M_SHAPE } from './random-weights.ts';
import { describePeer, runTorchPeer } from './torch-peer.ts';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '4' },
    batch: { type: 'string', default: '8' },
    'seq-len': { type: 'string', default: '256' },
    profile: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
  },
});
const steps = Number(args.steps);
const batch = Number(args.batch);
const seqLen = Number(args['seq-len']);
const CHECKPOINT = new URL('../../shared/models/stories260K/stories260K.bin', import.meta.url);
const lora = { ...LORA_DEFAULTS, rank: 8, alpha: 16 };

function randomBatch(vocab: number): TokenBatch {
  const random = seededRandom(7);
  const n = batch * seqLen;
  const ids = Uint32Array.from({ length: n }, () => Math.floor(random() * vocab));
  const targets = Uint32Array.from({ length: n }, () => Math.floor(random() * vocab));
  return { batch, seqLen, ids, targets, lossMask: new Float32Array(n).fill(1) };
}

interface Result {
  train_tokens_per_s: number;
  forward_tokens_per_s: number;
  pytorch_train_tokens_per_s: number | null;
  pytorch_forward_tokens_per_s: number | null;
  peak_bytes: number;
}

async function measure(rt: Runtime, name: string, weights: LlamaWeights, torchArgs: string[]): Promise<Result> {
  const tokens = batch * seqLen;
  rt.pool.trim();
  rt.pool.resetPeak();
  const model = LlamaModel.fromWeights(rt, weights);
  model.addLora(lora, 0);
  const opt = new AdamW(rt, model.trainable('lora'));
  const mb = randomBatch(weights.config.vocabSize);
  const step = async () => {
    const r = trainStep(model, opt, [mb], 'lora', 1e-4);
    await r.loss.read(); // the trainer reads the loss every step to log it
    r.loss.release();
  };
  await step(); // compiles every pipeline
  let t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const train = (steps * tokens) / ((performance.now() - t0) / 1000);

  const ids = rt.upload(mb.ids, [batch, seqLen], 'u32', 'ids');
  const forward = async () => {
    const fwd = model.forward(ids);
    await rt.sync();
    model.releaseForward(fwd);
  };
  await forward();
  t0 = performance.now();
  for (let i = 0; i < steps; i++) await forward();
  const fwdRate = (steps * tokens) / ((performance.now() - t0) / 1000);
  const peak = rt.memory().peakInUseBytes;

  if (args.profile) {
    rt.startProfiling();
    trainStep(model, opt, [mb], 'lora', 1e-4).loss.release();
    const times = await rt.stopProfiling();
    const total = times.reduce((s, t) => s + t.totalMs, 0);
    console.log(`\n${name}: GPU time of one LoRA step by kernel (total ${total.toFixed(0)} ms)`);
    for (const t of times.slice(0, 14)) console.log(`  ${t.kernel.padEnd(40)} ${String(t.calls).padStart(5)} calls ${t.totalMs.toFixed(1).padStart(9)} ms ${((100 * t.totalMs) / total).toFixed(1).padStart(5)}%`);
  }
  ids.release();
  opt.release();
  model.release();

  let torch: { train_tokens_per_s: number; forward_tokens_per_s: number } | null = null;
  if (!args['no-torch']) {
    const peer = runTorchPeer<{ train_tokens_per_s: number; forward_tokens_per_s: number }>([...torchArgs, '--batch', String(batch), '--seq-len', String(seqLen), '--rank', '8', '--steps', String(steps)]);
    console.log(describePeer(peer));
    if (peer.ok) torch = peer.value;
  }
  return {
    train_tokens_per_s: Math.round(train),
    forward_tokens_per_s: Math.round(fwdRate),
    pytorch_train_tokens_per_s: torch ? Math.round(torch.train_tokens_per_s) : null,
    pytorch_forward_tokens_per_s: torch ? Math.round(torch.forward_tokens_per_s) : null,
    peak_bytes: peak,
  };
}

const rt = await Runtime.create();
console.log(`adapter: ${rt.report.summary}; LoRA rank ${lora.rank} on ${lora.targets.join(',')}; batch ${batch} x ${seqLen}; ${steps} timed steps`);
console.log(describeKernelChoices(rt));
const results: Record<string, Result> = {};
if (existsSync(CHECKPOINT)) {
  const weights = parseLlama2cCheckpoint(readFileSync(CHECKPOINT), { name: 'stories260K.bin' });
  results.stories260K = await measure(rt, 'stories260K', weights, ['--checkpoint', CHECKPOINT.pathname]);
}
const s = STORIES15M_SHAPE;
results.stories15M_shape = await measure(rt, 'stories15M_shape', randomLlamaWeights(s), ['--shape', [s.dim, s.hiddenDim, s.nLayers, s.nHeads, s.nKvHeads, s.vocabSize].join(',')]);
rt.destroy();

console.log('\nmodel              train tok/s  PyTorch  ratio   forward tok/s  PyTorch  ratio   peak MiB');
for (const [name, r] of Object.entries(results)) {
  const ratio = (a: number, b: number | null) => (b ? `${(a / b).toFixed(2)}x` : '-');
  console.log(
    `${name.padEnd(18)} ${String(r.train_tokens_per_s).padStart(11)} ${String(r.pytorch_train_tokens_per_s ?? '-').padStart(8)} ${ratio(r.train_tokens_per_s, r.pytorch_train_tokens_per_s).padStart(6)}` +
      `   ${String(r.forward_tokens_per_s).padStart(13)} ${String(r.pytorch_forward_tokens_per_s ?? '-').padStart(8)} ${ratio(r.forward_tokens_per_s, r.pytorch_forward_tokens_per_s).padStart(6)}   ${(r.peak_bytes / 2 ** 20).toFixed(1).padStart(8)}`,
  );
}
console.log(JSON.stringify({ ...results, adapter: rt.report.summary, batch, seq_len: seqLen, lora_rank: lora.rank }));
