// The training loop on the real stories260K model with LoRA: a killed run resumes to the same weights
// as an uninterrupted one (with LoRA dropout, so the RNG state must be restored), validation picks
// the best step, and early stopping restores the best weights.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import type { LoraConfig } from '../../src/model/lora.ts';
import type { Runtime } from '../../src/gpu/index.ts';
import type { TokenBatch } from '../../src/data/batch.ts';
import { evaluateLoss } from '../../src/train/step.ts';
import { epochRandom, shuffledSteps, train, type MetricRecord, type TrainArgs } from '../../src/train/trainer.ts';
import { MemoryCheckpointStorage } from '../../src/train/checkpoint.ts';
import { FolderCheckpointStorage } from '../../src/train/checkpoint-fs.ts';

const GSM8K = new URL('../../../shared/data/gsm8k/train.jsonl', import.meta.url);
const SEQ = 48;
const LORA: LoraConfig = { rank: 4, alpha: 8, dropout: 0.1, targets: ['q_proj', 'v_proj', 'down_proj'] };

const tok = loadTokenizer();
const lines = readFileSync(GSM8K, 'utf8').split('\n').filter(Boolean);
const weights = loadModel();

/** question -> answer, one example per row, loss on the answer tokens only. */
function gsm8kBatch(items: string[]): TokenBatch {
  const batch = items.length;
  const mb: TokenBatch = { batch, seqLen: SEQ, ids: new Uint32Array(batch * SEQ), targets: new Uint32Array(batch * SEQ), lossMask: new Float32Array(batch * SEQ) };
  items.forEach((line, b) => {
    const { question, answer } = JSON.parse(line) as { question: string; answer: string };
    const prompt = tok.encode(question + '\n').slice(-SEQ / 2);
    const full = [...prompt, ...tok.encode(answer, { bos: false })].slice(0, SEQ + 1);
    for (let i = 0; i + 1 < full.length; i++) {
      mb.ids[b * SEQ + i] = full[i];
      mb.targets[b * SEQ + i] = full[i + 1];
      mb.lossMask[b * SEQ + i] = i + 1 >= prompt.length ? 1 : 0;
    }
  });
  return mb;
}

const trainLines = lines.slice(0, 12);
// 12 examples, 2 per micro-batch, 2 micro-batches per step: 3 steps per epoch.
const trainBatches: TrainArgs['trainBatches'] = (_epoch, random) =>
  shuffledSteps(trainLines, random, { microBatchSize: 2, gradientAccumulation: 2 }, gsm8kBatch);
const validation = [gsm8kBatch(lines.slice(1000, 1004))];

function freshModel(rt: Runtime, loraSeed = 0): LlamaModel {
  const model = LlamaModel.fromWeights(rt, weights);
  model.addLora(LORA, loraSeed);
  return model;
}

async function adapters(model: LlamaModel): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [k, t] of Object.entries(model.adapters)) out[k] = (await t.read()) as Float32Array;
  return out;
}

function maxDiff(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  let worst = 0;
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(a)) for (let i = 0; i < a[k].length; i++) worst = Math.max(worst, Math.abs(a[k][i] - b[k][i]));
  return worst;
}

const root = mkdtempSync(join(tmpdir(), 'xtf-train-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the training loop on stories260K (LoRA rank 4, dropout 0.1)', () => {
  const options = { steps: 7, lr: 5e-3, warmupSteps: 2, minLrRatio: 0.1, seed: 11, evalEvery: 3, weightDecay: 0.01, restoreBest: false };

  it('a killed run resumes from its checkpoint to exactly the weights of an uninterrupted run', async () => {
    const rt = await gpu();
    // Uninterrupted: 7 steps across three epochs (3 steps each), validated at 3, 6 and the end.
    const straight = freshModel(rt);
    const full = await train({ model: straight, set: 'lora', trainBatches, validationBatches: validation, options });
    const expected = await adapters(straight);
    expect(full.reason).toBe('steps');
    expect(full.metrics.filter((r) => r.type === 'eval').map((r) => r.step)).toEqual([3, 6, 7]);
    const evals = full.metrics.filter((r): r is Extract<MetricRecord, { type: 'eval' }> => r.type === 'eval');
    const bestEval = evals.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    expect(full.best).toEqual({ step: bestEval.step, valLoss: bestEval.valLoss });
    const trainRecords = full.metrics.filter((r) => r.type === 'train');
    expect(trainRecords).toHaveLength(7);
    expect(trainRecords.every((r) => r.type === 'train' && Number.isFinite(r.loss) && r.tokensPerSecond > 0 && r.gradNorm > 0)).toBe(true);

    // Killed: checkpoints every 2 steps, the process dies in step 5 (after the checkpoint of step 4, mid-epoch 1).
    const storage = new FolderCheckpointStorage(join(root, 'resume'));
    const killed = freshModel(rt);
    await expect(train({
      model: killed, set: 'lora', trainBatches, validationBatches: validation, storage, options: { ...options, checkpointEvery: 2 },
      onProgress: (p) => { if (p.step === 5) throw new Error('killed'); },
    })).rejects.toThrow('killed');
    killed.release();

    // A fresh model (different adapter init, overwritten by the checkpoint) continues to step 7.
    const resumedModel = freshModel(rt, 99);
    const resumed = await train({ model: resumedModel, set: 'lora', trainBatches, validationBatches: validation, storage, resume: true, options: { ...options, checkpointEvery: 2 } });
    expect(resumed.resumedFrom).toBe(4);
    expect(resumed.steps).toBe(7);
    expect(resumed.best).toEqual(full.best);
    expect(resumedModel.dropoutStep).toBe(straight.dropoutStep);
    const diff = maxDiff(await adapters(resumedModel), expected);
    console.log(`resume: max |Δ adapter| = ${diff}; best ${JSON.stringify(full.best)}`);
    expect(diff).toBeLessThanOrEqual(1e-6);
    // The losses after the resume are the uninterrupted run's.
    const lossAt = (m: MetricRecord[], step: number) => m.find((r) => r.type === 'train' && r.step === step);
    expect(lossAt(resumed.metrics, 6)).toMatchObject({ loss: (lossAt(full.metrics, 6) as { loss: number }).loss });
    resumedModel.release();

    // The last checkpoint records a finished run: resuming it again trains nothing.
    const again = freshModel(rt, 5);
    const finished = await train({ model: again, set: 'lora', trainBatches, validationBatches: validation, storage, resume: true, options });
    expect(finished).toMatchObject({ steps: 7, reason: 'steps', resumedFrom: 7 });
    expect(finished.metrics.filter((r) => r.type !== 'end')).toEqual([]);
    expect(maxDiff(await adapters(again), expected)).toBe(0);
    // ... and a larger step budget continues it.
    const extended = await train({ model: again, set: 'lora', trainBatches, validationBatches: validation, storage, resume: true, options: { ...options, steps: 8 } });
    expect(extended).toMatchObject({ steps: 8, resumedFrom: 7 });
    expect(extended.metrics.filter((r) => r.type === 'train').map((r) => r.step)).toEqual([8]);
    again.release();
    straight.release();
  });

  it('resuming with a reset dropout counter diverges (the RNG state is part of the checkpoint)', async () => {
    const rt = await gpu();
    const storage = new MemoryCheckpointStorage();
    const first = freshModel(rt);
    await train({ model: first, set: 'lora', trainBatches, storage, options: { ...options, steps: 4, evalEvery: 0 } });
    first.release();
    const saved = (await storage.load('train'))!;
    const runs: Record<string, Float32Array>[] = [];
    for (const resetDropout of [false, true]) {
      const json = { ...(saved.json as Record<string, unknown>), done: null, ...(resetDropout ? { dropoutStep: 0 } : {}) };
      const s = new MemoryCheckpointStorage();
      await s.save('train', { json, tensors: saved.tensors });
      const model = freshModel(rt);
      await train({ model, set: 'lora', trainBatches, storage: s, resume: true, options: { ...options, steps: 5, evalEvery: 0 } });
      runs.push(await adapters(model));
      model.release();
    }
    expect(maxDiff(runs[0], runs[1])).toBeGreaterThan(1e-6);
  });

  it('full fine-tuning resumes exactly too, and an epoch limit ends the run', async () => {
    const rt = await gpu();
    const opts = { epochs: 1, lr: 1e-3, seed: 3, checkpointEvery: 1, restoreBest: false };
    const read = async (m: LlamaModel) => ({ wq: (await m.params['layers.1.wq'].read()) as Float32Array, emb: (await m.params.tokEmbedding.read()) as Float32Array });
    const straight = LlamaModel.fromWeights(rt, weights);
    const run = await train({ model: straight, set: 'full', trainBatches, options: opts });
    expect(run).toMatchObject({ steps: 3, epoch: 1, reason: 'epochs' });
    const expected = await read(straight);
    straight.release();
    const storage = new MemoryCheckpointStorage();
    const killed = LlamaModel.fromWeights(rt, weights);
    await expect(train({ model: killed, set: 'full', trainBatches, storage, options: opts, onProgress: (p) => { if (p.step === 3) throw new Error('killed'); } })).rejects.toThrow('killed');
    killed.release();
    const resumed = LlamaModel.fromWeights(rt, weights);
    expect(await train({ model: resumed, set: 'full', trainBatches, storage, resume: true, options: opts })).toMatchObject({ steps: 3, reason: 'epochs', resumedFrom: 2 });
    expect(maxDiff(await read(resumed), expected)).toBeLessThanOrEqual(1e-6);
    resumed.release();
  });

  it('online token selection sees the current model\'s per-token losses and trains only what it keeps', async () => {
    const rt = await gpu();
    const model = freshModel(rt);
    const before = await adapters(model);
    const seen: { lossMask: Float32Array; loss: Float32Array }[] = [];
    // Keeps nothing: the step's losses are those of the untouched model, and nothing trains.
    const run = await train({
      model, set: 'lora', trainBatches, options: { ...options, steps: 2, weightDecay: 0 },
      selectTokens: (mbs, losses) => {
        mbs.forEach((mb, i) => seen.push({ lossMask: mb.lossMask, loss: losses[i] }));
        return mbs.map((mb) => ({ ...mb, lossMask: new Float32Array(mb.lossMask.length) }));
      },
    });
    expect(seen).toHaveLength(4); // 2 steps x 2 micro-batches
    expect(maxDiff(await adapters(model), before)).toBe(0);
    expect(run.metrics.filter((r) => r.type === 'train').map((r) => r.trainedTokens)).toEqual([0, 0]);
    // The losses handed over are the model's own: their weighted mean is the micro-batch's loss.
    const first = [...trainBatches(0, epochRandom(options.seed, 0))][0][0];
    const { lossMask: weights, loss } = seen[0];
    let sum = 0, n = 0;
    weights.forEach((w, i) => { sum += w * loss[i]; n += w; });
    expect(Array.from(first.lossMask)).toEqual(Array.from(weights));
    expect(sum / n).toBeCloseTo(await evaluateLoss(model, [first]), 5);
    model.release();
  });

  it('early stopping after `patience` validations without improvement restores the best weights', async () => {
    const rt = await gpu();
    const model = freshModel(rt);
    // minDelta is huge: only the first validation (step 1) counts as an improvement, so it stops at step 3.
    const run = await train({ model, set: 'lora', trainBatches, validationBatches: validation, options: { ...options, steps: 20, evalEvery: 1, patience: 2, minDelta: 1e9, restoreBest: true } });
    expect(run.reason).toBe('early-stop');
    expect(run.steps).toBe(3);
    expect(run.best!.step).toBe(1);
    expect(await evaluateLoss(model, validation)).toBeCloseTo(run.best!.valLoss, 6);
    const ends = run.metrics.filter((r) => r.type === 'end');
    expect(ends).toEqual([{ type: 'end', step: 3, epoch: 0, reason: 'early-stop', bestStep: 1, bestValLoss: run.best!.valLoss }]);
    model.release();
  });
});
