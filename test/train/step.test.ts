// Training math end to end on the real model: held-out loss falls, gradient accumulation equals one
// big batch, an all-zero mask trains nothing, and the memory report matches what the pool measured.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/compare.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { AdamW } from '../../src/train/optimizer.ts';
import type { TokenBatch } from '../../src/data/batch.ts';
import { evaluateLoss, trainStep } from '../../src/train/step.ts';
import { memoryReport } from '../../src/model/memory.ts';
import type { Tokenizer } from '../../src/model/tokenizer.ts';

const GSM8K = new URL('../../../shared/data/gsm8k/train.jsonl', import.meta.url);

/** question -> answer examples packed one per row: loss only on the answer tokens. */
function gsm8kBatch(tok: Tokenizer, lines: string[], seqLen: number): TokenBatch {
  const batch = lines.length;
  const mb: TokenBatch = { batch, seqLen, ids: new Uint32Array(batch * seqLen), targets: new Uint32Array(batch * seqLen), lossMask: new Float32Array(batch * seqLen) };
  lines.forEach((line, b) => {
    const { question, answer } = JSON.parse(line) as { question: string; answer: string };
    const prompt = tok.encode(question + '\n');
    const full = [...prompt, ...tok.encode(answer, { bos: false })].slice(0, seqLen + 1);
    for (let i = 0; i + 1 < full.length; i++) {
      mb.ids[b * seqLen + i] = full[i];
      mb.targets[b * seqLen + i] = full[i + 1];
      mb.lossMask[b * seqLen + i] = i + 1 >= prompt.length ? 1 : 0;
    }
  });
  return mb;
}

function sliceBatch(mb: TokenBatch, from: number, to: number): TokenBatch {
  const s = mb.seqLen;
  return { batch: to - from, seqLen: s, ids: mb.ids.slice(from * s, to * s), targets: mb.targets.slice(from * s, to * s), lossMask: mb.lossMask.slice(from * s, to * s) };
}

describe('training steps on stories260K', () => {
  const tok = loadTokenizer();
  const lines = readFileSync(GSM8K, 'utf8').split('\n').filter(Boolean);
  const train = gsm8kBatch(tok, lines.slice(0, 8), 96);
  const heldOut = gsm8kBatch(tok, lines.slice(1000, 1016), 96);

  it('LoRA training lowers the held-out loss on GSM8K answers', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    model.addLora({ rank: 8, alpha: 16, dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] }, 0);
    const opt = new AdamW(rt, model.trainable('lora'), { weightDecay: 0 });
    const before = await evaluateLoss(model, [heldOut]);
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      const r = trainStep(model, opt, [sliceBatch(train, 0, 4), sliceBatch(train, 4, 8)], 'lora', 3e-3);
      losses.push((await r.loss.read())[0]);
      r.loss.release();
    }
    const after = await evaluateLoss(model, [heldOut]);
    console.log(`held-out loss ${before.toFixed(4)} -> ${after.toFixed(4)}; train loss ${losses[0].toFixed(4)} -> ${losses.at(-1)!.toFixed(4)}`);
    expect(losses.at(-1)!).toBeLessThan(losses[0] * 0.9);
    expect(after).toBeLessThan(before - 0.05);
    opt.release();
    model.release();
  });

  it('two micro-batches give the same update as one batch (loss normalised over the whole step)', async () => {
    const rt = await gpu();
    const results: Float32Array[] = [];
    for (const split of [false, true]) {
      const model = LlamaModel.fromWeights(rt, loadModel());
      model.addLora({ rank: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj', 'down_proj'] }, 3);
      const opt = new AdamW(rt, model.trainable('lora'));
      // Unequal halves (3 + 5 rows) with different token counts: a per-micro-batch mean would differ.
      const batches = split ? [sliceBatch(train, 0, 3), sliceBatch(train, 3, 8)] : [train];
      trainStep(model, opt, batches, 'lora', 1e-2);
      trainStep(model, opt, batches, 'lora', 1e-2);
      results.push((await model.adapters['layers.2.q_proj.lora_B'].read()) as Float32Array);
      opt.release();
      model.release();
    }
    expect(results[0].some((x) => x !== 0)).toBe(true);
    expectClose(results[1], results[0], 1e-6, 1e-3, 'lora_B after two steps');
  });

  it('an all-zero token mask leaves the parameters unchanged', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    const before = (await model.params['layers.0.wq'].read()) as Float32Array;
    const opt = new AdamW(rt, model.trainable('full'), { weightDecay: 0 });
    const masked = { ...train, lossMask: new Float32Array(train.lossMask.length) };
    const r = trainStep(model, opt, [masked], 'full', 1e-2);
    expect((await r.loss.read())[0]).toBe(0);
    expect((await r.gradNorm.read())[0]).toBe(0);
    expect(Array.from((await model.params['layers.0.wq'].read()) as Float32Array)).toEqual(Array.from(before));
    opt.release();
    model.release();
  });

  it('the memory report is close to the measured peak of a LoRA step', async () => {
    const rt = await gpu();
    await rt.sync();
    rt.pool.trim();
    const base = rt.memory().inUseBytes;
    rt.pool.resetPeak();
    const model = LlamaModel.fromWeights(rt, loadModel());
    const lora = { rank: 8, alpha: 16, dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const };
    model.addLora({ ...lora, targets: [...lora.targets] }, 0);
    const opt = new AdamW(rt, model.trainable('lora'));
    trainStep(model, opt, [train], 'lora', 1e-3);
    await rt.sync();
    const measured = rt.memory().peakInUseBytes - base;
    const planned = memoryReport(model.config, { batch: train.batch, seqLen: train.seqLen, mode: 'lora' }, { ...lora, targets: [...lora.targets] }).peakBytes;
    console.log(`memory: planned ${planned} B, measured peak ${measured} B`);
    // The plan must not under-estimate by more than the pool's size-class rounding, nor be far above.
    expect(planned).toBeGreaterThan(measured * 0.85);
    expect(planned).toBeLessThan(measured * 1.6);
    opt.release();
    model.release();
  });
});
