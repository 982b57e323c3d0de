// The GPU Llama model against the real model's golden outputs and the f64 CPU reference:
// logits for every architecture variant, and gradients (LoRA and full) against finite differences.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/compare.ts';
import { randn, rng } from '../helpers/random.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { loadModel, loadTokenizer, reference } from './stories260k.ts';
import { decodeStep, generateBatch, generateIds, generateText } from '../../src/model/generate.ts';
import { newKvCache, releaseKvCache } from '../../src/model/kv-cache.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { loadHfFolder } from '../../src/model/hf.ts';
import { checkMemoryPlan, formatMemoryReport, memoryReport } from '../../src/model/memory.ts';
import { llamaConfig } from '../../src/model/config.ts';
import { LimitExceededError, OutOfMemoryError } from '../../src/gpu/index.ts';
import { llamaReferenceForward } from '../reference/llama.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { crossEntropyForward, crossEntropyForwardBackward } from '../../src/ops/cross-entropy.ts';
import type { LoraConfig } from '../../src/model/lora.ts';
import { batchOf, checkAgainstFiniteDifferences, cpuLoss, gpuGradients, perturbAdapter, perturbWeight } from './gradient-check.ts';

describe('Llama on the GPU', () => {
  it('reproduces stories260K reference log-probabilities (three texts in one padded batch)', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    const seqs = reference.cases.map((c) => c.tokens);
    const { ids, T } = batchOf(rt, seqs);
    const fwd = model.forward(ids);
    const targets = new Uint32Array(seqs.length * T);
    seqs.forEach((s, b) => targets.set(s.slice(1), b * T));
    const { loss } = crossEntropyForward(rt, fwd.logits, rt.upload(targets, [seqs.length * T], 'u32'));
    const lossHost = await loss.read();
    let worst = 0;
    reference.cases.forEach((c, b) => {
      const got = c.next_token_logprobs.map((_, i) => -lossHost[b * T + i]);
      expectClose(got, c.next_token_logprobs, 1e-4, 0, `case ${b} log-probs`);
      got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - c.next_token_logprobs[i]))));
    });
    expect(worst).toBeLessThan(1e-4);
    model.releaseForward(fwd);
    model.release();
  });

  const variants = [
    { name: 'tied, MHA, interleaved', cfg: { nKvHeads: 4 } },
    { name: 'tied, GQA 2, half', cfg: { nKvHeads: 2, ropeLayout: 'half' as const } },
    { name: 'untied, GQA 4, interleaved', cfg: { nKvHeads: 1, tiedEmbeddings: false } },
    { name: 'untied, GQA 2, q/k/v biases (Qwen2), half', cfg: { nKvHeads: 2, tiedEmbeddings: false, attentionBias: true, ropeLayout: 'half' as const } },
  ];
  for (const v of variants) {
    it(`matches the CPU reference forward: ${v.name}`, async () => {
      const rt = await gpu();
      const weights = randomWeights(tinyConfig(v.cfg), 7);
      const model = LlamaModel.fromWeights(rt, weights);
      const r = rng(3);
      const seqs = [Array.from({ length: 9 }, () => Math.floor(r() * 37)), Array.from({ length: 6 }, () => Math.floor(r() * 37))];
      const { ids, T } = batchOf(rt, seqs);
      const logits = await model.forward(ids).logits.read();
      seqs.forEach((s, b) => {
        const ref = llamaReferenceForward(weights, s).logits;
        const got = Array.from(logits.subarray(b * T * 37, (b * T + s.length) * 37));
        expectClose(got, ref.flatMap((row) => Array.from(row)), 2e-4, 1e-4, `batch ${b} logits`);
      });
      model.release();
    });
  }

  it('outputRows: logits at the rows asked for only, equal to the CPU reference there; refused in training', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ nKvHeads: 2, tiedEmbeddings: false, attentionBias: true }), 11);
    const model = LlamaModel.fromWeights(rt, weights);
    const r = rng(5);
    const seqs = [Array.from({ length: 9 }, () => Math.floor(r() * 37)), Array.from({ length: 6 }, () => Math.floor(r() * 37))];
    const { ids, T } = batchOf(rt, seqs);
    // Rows out of order and from both sequences; padding rows never asked for.
    const wanted: [number, number][] = [[1, 4], [0, 0], [0, 5], [0, 8], [1, 5]];
    const rows = rt.upload(Uint32Array.from(wanted, ([b, i]) => b * T + i), [wanted.length], 'u32');
    const fwd = model.forward(ids, { outputRows: rows, finalHidden: true });
    expect(fwd.logits.shape).toEqual([wanted.length, 37]);
    expect(fwd.finalHidden!.shape[0]).toBe(wanted.length);
    const logits = await fwd.logits.read();
    const refs = seqs.map((s) => llamaReferenceForward(weights, s).logits);
    wanted.forEach(([b, i], k) => expectClose(Array.from(logits.subarray(k * 37, (k + 1) * 37)), Array.from(refs[b][i]), 2e-4, 1e-4, `row ${b}, ${i}`));
    model.releaseForward(fwd);
    expect(() => model.forward(ids, { outputRows: rows, train: true })).toThrow(/outputRows is for inference/);
    model.release();
  });

  const seq = [1, 5, 9, 2, 30, 7, 7, 11, 3, 36];
  // Prompt tokens carry no loss, one label token is masked, the rest count.
  const tokenWeights = [0, 0, 1, 1, 0, 1, 1, 1, 1];

  it('full fine-tuning gradients of every parameter match finite differences (untied, GQA 2, biases)', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ tiedEmbeddings: false, attentionBias: true, ropeLayout: 'half' }), 5);
    const model = LlamaModel.fromWeights(rt, weights);
    const grads = await gpuGradients(model, seq, tokenWeights, 'full');
    expect(Object.keys(grads).length).toBe(Object.keys(weights.tensors).length);
    const perturb = perturbWeight(weights);
    const checked = checkAgainstFiniteDifferences(grads, perturb, (w) => cpuLoss(w, seq, tokenWeights), 3);
    expect(checked).toBe(3 * Object.keys(grads).length);
    model.release();
  });

  it('full fine-tuning of a tied model adds both embedding gradients', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ nKvHeads: 1 }), 9);
    const model = LlamaModel.fromWeights(rt, weights);
    const grads = await gpuGradients(model, seq, tokenWeights, 'full');
    const perturb = perturbWeight(weights);
    // Rows of tokens that occur in the sequence get gradient from the embedding and the classifier.
    const embeddingOnly = { tokEmbedding: grads.tokEmbedding };
    const rows = [5, 7, 30].flatMap((tok) => [tok * 16, tok * 16 + 3]);
    for (const i of rows) {
      const fd = (cpuLoss(perturb('tokEmbedding', i, 1e-3), seq, tokenWeights) - cpuLoss(perturb('tokEmbedding', i, -1e-3), seq, tokenWeights)) / 2e-3;
      expect(Math.abs(embeddingOnly.tokEmbedding[i] - fd)).toBeLessThan(2e-4 + 2e-3 * Math.abs(fd));
    }
    model.release();
  });

  it('LoRA gradients (all seven targets) match finite differences of the merged model', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ nKvHeads: 2 }), 21);
    const model = LlamaModel.fromWeights(rt, weights);
    const lora: LoraConfig = { rank: 3, alpha: 6, dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] };
    model.addLora(lora, 4);
    // A fresh adapter has B = 0 (so dA = 0): give B random values to exercise every path.
    const adapterHost: Record<string, Float32Array> = {};
    let seed = 100;
    for (const [name, t] of Object.entries(model.adapters)) {
      if (name.endsWith('lora_B')) rt.write(t, randn(t.size, seed++, 0.3));
      adapterHost[name] = (await t.read()) as Float32Array;
    }
    const grads = await gpuGradients(model, seq, tokenWeights, 'lora');
    const perturb = perturbAdapter(weights, lora, adapterHost);
    const checked = checkAgainstFiniteDifferences(grads, perturb, (w) => cpuLoss(w, seq, tokenWeights), 2);
    expect(checked).toBe(2 * 2 * 7 * 2);
    model.release();
  });

  it('a fresh LoRA adapter leaves the logits unchanged', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    const ids = rt.upload(new Uint32Array(reference.cases[0].tokens), [1, reference.cases[0].tokens.length], 'u32');
    const before = await model.forward(ids).logits.read();
    model.addLora({ rank: 4, alpha: 8, dropout: 0, targets: ['q_proj', 'v_proj', 'down_proj'] }, 1);
    const after = await model.forward(ids).logits.read();
    expectClose(after, before, 1e-6, 1e-6, 'logits with a zero-B adapter');
    model.release();
  });

  it('greedy KV-cached generation reproduces the 100-step llama2.c continuation exactly', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    const tok = loadTokenizer();
    const { prompt, steps, text } = reference.greedy;
    const promptIds = tok.encode(prompt);
    // llama2.c counts `steps` forward passes from position 0, prompt included, and stops at BOS.
    const g = await generateText(model, tok, prompt, { maxTokens: steps + 1 - promptIds.length, temperature: 0, stopTokens: [tok.bosId] });
    expect(g.text + '\n').toBe(text);
    model.release();
  });

  it('KV-cached decoding gives the same logits as a full forward', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ nKvHeads: 2, ropeLayout: 'half', attentionBias: true }), 13);
    const model = LlamaModel.fromWeights(rt, weights);
    const seq = [3, 8, 1, 30, 22, 5, 17];
    const cache = newKvCache(model, 16);
    // Prefill 4 positions, then one at a time.
    const steps = [seq.slice(0, 4), ...seq.slice(4).map((t) => [t])];
    let seen = 0;
    for (const chunk of steps) {
      const logits = await decodeStep(model, rt.upload(new Uint32Array(chunk), [1, chunk.length], 'u32'), cache).read();
      seen += chunk.length;
      const ref = llamaReferenceForward(weights, seq.slice(0, seen)).logits[seen - 1];
      expectClose(logits, ref, 2e-4, 1e-4, `logits after ${seen} tokens`);
    }
    expect(cache.length).toBe(seq.length);
    model.release();
  });

  it('batched KV-cached decoding of left-padded prompts gives each prompt its own logits', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ nKvHeads: 2, ropeLayout: 'half', attentionBias: true }), 17);
    const model = LlamaModel.fromWeights(rt, weights);
    const prompts = [[3, 8], [1, 30, 22, 5, 17, 9, 2], [4, 4, 11, 6]];
    const width = 7;
    const cache = newKvCache(model, 12, prompts.length, prompts.map((p) => width - p.length));
    const seqs = prompts.map((p) => [...p]);
    let input = prompts.map((p) => [...Array<number>(width - p.length).fill(p[0]), ...p]);
    for (let step = 0; step < 4; step++) {
      const logits = await decodeStep(model, rt.upload(new Uint32Array(input.flat()), [prompts.length, input[0].length], 'u32'), cache).read();
      const vocab = weights.config.vocabSize;
      expect(logits.length).toBe(prompts.length * vocab);
      seqs.forEach((seq, b) => {
        const ref = llamaReferenceForward(weights, seq).logits[seq.length - 1];
        expectClose(logits.subarray(b * vocab, (b + 1) * vocab), ref, 2e-4, 1e-4, `row ${b} after ${seq.length} tokens`);
      });
      input = seqs.map((_, b) => [(7 * step + 5 * b + 1) % vocab]);
      seqs.forEach((seq, b) => seq.push(input[b][0]));
    }
    releaseKvCache(cache);
    expect(() => decodeStep(model, rt.upload(new Uint32Array(2), [2, 1], 'u32'), newKvCache(model, 4, 3))).toThrow(/must be u32 \[3, n\]/);
    expect(() => newKvCache(model, 4, 2, [0, 4])).toThrow(/below the capacity 4/);
    model.release();
  });

  it('batched greedy generation on stories260K gives each prompt what it generates alone', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    const tok = loadTokenizer();
    const prompts = ['Once', 'Lily saw a big red ball in the park. She', 'The cat', 'Tom and his mom went to the store to buy'].map((t) => tok.encode(t));
    const stopWhen = (ids: readonly number[], row: number) => row === 2 && ids.length === 5;
    const options = { maxTokens: 30, temperature: 0, stopTokens: [tok.eosId, tok.bosId] };
    const batch = await generateBatch(model, prompts, { ...options, stopWhen });
    for (const [b, prompt] of prompts.entries()) {
      const alone = await generateIds(model, prompt, { ...options, stopWhen: (ids) => stopWhen(ids, b) });
      expect(batch[b], `prompt ${b}: ${tok.decode(prompt)}`).toEqual(alone);
    }
    expect(batch[2].generated.length).toBe(5);
    expect(batch[2].finishReason).toBe('stop');
    expect(batch[0].generated.length).toBeGreaterThan(5);
    model.release();
  });

  it('seeded sampling is repeatable and stops at the stop token', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    const opts = { maxTokens: 20, temperature: 0.8, topK: 40, topP: 0.9, seed: 42 };
    const a = await generateIds(model, [1, 403], opts);
    const b = await generateIds(model, [1, 403], opts);
    const c = await generateIds(model, [1, 403], { ...opts, seed: 43 });
    expect(a.generated).toEqual(b.generated);
    expect(a.generated.length).toBe(20);
    expect(c.generated).not.toEqual(a.generated);
    const stopped = await generateIds(model, [1, 403], { ...opts, stopTokens: [a.generated[3]] });
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.generated.length).toBeLessThanOrEqual(3);
    model.release();
  });

  it('the converted Hugging Face folder (rotate-half) gives the same log-probs and greedy text on the GPU', async () => {
    const rt = await gpu();
    const files = hfFolderFiles(loadModel(), loadTokenizer());
    const hf = await loadHfFolder(async (name) => files[name] ?? null, 'converted stories260K');
    expect(hf.weights.config.ropeLayout).toBe('half');
    const model = LlamaModel.fromWeights(rt, hf.weights);
    for (const c of reference.cases) {
      expect(hf.tokenizer.encode(c.text)).toEqual(c.tokens);
      const ids = rt.upload(new Uint32Array(c.tokens), [1, c.tokens.length], 'u32');
      const fwd = model.forward(ids);
      const { loss } = crossEntropyForward(rt, fwd.logits, rt.upload(new Uint32Array([...c.tokens.slice(1), 0]), [c.tokens.length], 'u32'));
      const got = Array.from((await loss.read()).subarray(0, c.tokens.length - 1), (x) => -x);
      expectClose(got, c.next_token_logprobs, 1e-4, 0, 'converted folder log-probs');
    }
    const { prompt, steps, text } = reference.greedy;
    const promptIds = hf.tokenizer.encode(prompt);
    const g = await generateText(model, hf.tokenizer, prompt, { maxTokens: steps + 1 - promptIds.length, temperature: 0, stopTokens: [hf.tokenizer.bosId] });
    expect(g.text + '\n').toBe(text);
    model.release();
  });

  it('plans memory for SmolLM2-135M and refuses plans the device cannot hold, before allocating', async () => {
    const rt = await gpu();
    // SmolLM2-135M's config.json shape.
    const smol = llamaConfig({ dim: 576, hiddenDim: 1536, nLayers: 30, nHeads: 9, nKvHeads: 3, vocabSize: 49152, maxSeqLen: 8192, ropeTheta: 100000, ropeLayout: 'half' });
    const lora = { rank: 8, alpha: 16, dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as LoraConfig['targets'] };
    const plan = { batch: 1, seqLen: 256, mode: 'lora' as const };
    const report = memoryReport(smol, plan, lora);
    console.log(formatMemoryReport(report, plan));
    expect(report.weightsBytes).toBe(134_515_008 * 4); // 134.5M parameters, tied embeddings
    // r·(in+out) per projection: q 9216, k 6144, v 6144, o 9216, gate/up/down 16896 each = 81,408 per layer.
    expect(report.adapterBytes).toBe(30 * 81_408 * 4);
    checkMemoryPlan(rt, report, plan); // fits
    const huge = { batch: 64, seqLen: 2048, mode: 'lora' as const };
    expect(() => checkMemoryPlan(rt, memoryReport(smol, huge, lora), huge)).toThrow(LimitExceededError);
    expect(() => checkMemoryPlan(rt, memoryReport(smol, huge, lora), huge)).toThrow(/logits \[131072, 49152\].*Use at most \d+ tokens per micro-batch/);
    expect(() => checkMemoryPlan(rt, report, plan, 100 << 20)).toThrow(OutOfMemoryError);
  });

  it('LoRA dropout: masks repeat per step, eval is unaffected, and gradients match finite differences', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ nKvHeads: 2 }), 31);
    const model = LlamaModel.fromWeights(rt, weights);
    model.addLora({ rank: 3, alpha: 6, dropout: 0.3, targets: ['q_proj', 'v_proj', 'up_proj', 'down_proj'] }, 2);
    for (const [name, t] of Object.entries(model.adapters)) if (name.endsWith('lora_B')) rt.write(t, randn(t.size, name.length, 0.3));
    const T = seq.length;
    const ids = rt.upload(new Uint32Array(seq), [1, T], 'u32');
    const targets = rt.upload(new Uint32Array([...seq.slice(1), 0]), [T], 'u32');
    const w = [...tokenWeights, 0];
    const wsum = w.reduce((a, b) => a + b, 0);
    /** The training-forward loss with the masks of dropout step `step`. */
    const lossAt = async (step: number) => {
      model.dropoutStep = step;
      const fwd = model.forward(ids, { train: true });
      const { loss } = crossEntropyForward(rt, fwd.logits, targets);
      const l = (await loss.read()) as Float32Array;
      model.releaseForward(fwd);
      return l.reduce((s, x, i) => s + w[i] * x, 0) / wsum;
    };
    const evalLogits = async () => (await model.forward(ids).logits.read()) as Float32Array;
    expect(await lossAt(0)).toBe(await lossAt(0));
    expect(await lossAt(0)).not.toBe(await lossAt(1));
    const e1 = await evalLogits();
    await lossAt(5);
    expect(Array.from(await evalLogits())).toEqual(Array.from(e1));

    model.dropoutStep = 0;
    const grads = Object.fromEntries(Object.entries(model.trainable('lora')).map(([n, t]) => [n, rt.zeros(t.shape)]));
    const fwd = model.forward(ids, { train: true });
    const ce = crossEntropyForwardBackward(rt, fwd.logits, targets, rt.upload(new Float32Array(w), [T]), wsum);
    model.backward(fwd, ce.dLogits, 'lora', grads);
    const h = 1e-2;
    for (const name of ['layers.0.q_proj.lora_A', 'layers.1.up_proj.lora_A', 'layers.0.down_proj.lora_B', 'layers.1.v_proj.lora_A']) {
      const g = (await grads[name].read()) as Float32Array;
      const param = model.adapters[name];
      const base = (await param.read()) as Float32Array;
      for (const i of [0, Math.floor(base.length / 2), base.length - 1]) {
        const shifted = (d: number) => { const t = Float32Array.from(base); t[i] += d; return t; };
        rt.write(param, shifted(h));
        const up = await lossAt(0);
        rt.write(param, shifted(-h));
        const down = await lossAt(0);
        rt.write(param, base);
        const fd = (up - down) / (2 * h);
        expect(Math.abs(g[i] - fd), `${name}[${i}]: ${g[i]} vs ${fd}`).toBeLessThan(2e-3 + 0.03 * Math.abs(fd));
      }
    }
    model.release();
  });
});
