// GPU model gradients against finite differences of the f64 CPU reference's loss, shared by
// llama-gpu.test.ts (the base variants) and the architecture tests.
import type { Runtime } from '../../src/gpu/index.ts';
import type { LlamaModel, TrainableSet } from '../../src/model/llama.ts';
import { LORA_TARGET_WEIGHT, loraScale, type LoraConfig } from '../../src/model/lora.ts';
import type { LlamaWeights } from '../../src/model/weights.ts';
import { crossEntropyForwardBackward } from '../../src/ops/cross-entropy.ts';
import { rng } from '../helpers/random.ts';
import { llamaReferenceForward, logSoftmax } from '../reference/llama.ts';

/** Right-pad sequences into a [B, T] u32 batch. */
export function batchOf(rt: Runtime, seqs: number[][]): { ids: ReturnType<Runtime['upload']>; T: number } {
  const T = Math.max(...seqs.map((s) => s.length));
  const data = new Uint32Array(seqs.length * T);
  seqs.forEach((s, b) => data.set(s, b * T));
  return { ids: rt.upload(data, [seqs.length, T], 'u32', 'ids'), T };
}

/** Σ w·CE / Σw on the CPU in f64 (targets = next tokens). */
export function cpuLoss(weights: LlamaWeights, seq: number[], tokenWeights: number[]): number {
  const logits = llamaReferenceForward(weights, seq).logits;
  let sum = 0;
  let wsum = 0;
  for (let i = 0; i + 1 < seq.length; i++) {
    sum += tokenWeights[i] * -logSoftmax(logits[i])[seq[i + 1]];
    wsum += tokenWeights[i];
  }
  return sum / wsum;
}

/** The GPU gradients of the same loss for the trainable set, read back by name. */
export async function gpuGradients(model: LlamaModel, seq: number[], tokenWeights: number[], set: TrainableSet): Promise<Record<string, Float32Array>> {
  const rt = model.rt;
  const T = seq.length;
  const ids = rt.upload(new Uint32Array(seq), [1, T], 'u32');
  const targets = rt.upload(new Uint32Array([...seq.slice(1), 0]), [T], 'u32');
  const w = rt.upload(new Float32Array([...tokenWeights, 0]), [T]);
  const trainable = model.trainable(set);
  const grads = Object.fromEntries(Object.entries(trainable).map(([n, t]) => [n, rt.zeros(t.shape, 'f32', `d ${n}`)]));
  const fwd = model.forward(ids, { train: true });
  const ce = crossEntropyForwardBackward(rt, fwd.logits, targets, w, tokenWeights.reduce((a, b) => a + b, 0));
  model.backward(fwd, ce.dLogits, set, grads);
  const host: Record<string, Float32Array> = {};
  for (const [n, g] of Object.entries(grads)) {
    host[n] = (await g.read()) as Float32Array;
    g.release();
  }
  for (const t of [ids, targets, w, ce.dLogits, fwd.logits]) t.release();
  return host;
}

/** Central differences of the f64 CPU loss at `entriesPerTensor` random entries of each gradient; throws on a mismatch. */
export function checkAgainstFiniteDifferences(
  grads: Record<string, Float32Array>,
  perturb: (name: string, index: number, delta: number) => LlamaWeights,
  loss: (w: LlamaWeights) => number,
  entriesPerTensor: number,
): number {
  const h = 1e-3;
  const r = rng(11);
  let checked = 0;
  for (const [name, g] of Object.entries(grads)) {
    for (let e = 0; e < entriesPerTensor; e++) {
      const i = Math.floor(r() * g.length);
      const fd = (loss(perturb(name, i, h)) - loss(perturb(name, i, -h))) / (2 * h);
      const tol = 2e-4 + 2e-3 * Math.abs(fd);
      if (Math.abs(g[i] - fd) > tol) throw new Error(`d loss / d ${name}[${i}]: GPU ${g[i]}, finite differences ${fd}`);
      checked++;
    }
  }
  return checked;
}

/** The weights with one entry of one base tensor moved by delta. */
export function perturbWeight(weights: LlamaWeights): (name: string, i: number, delta: number) => LlamaWeights {
  return (name, i, delta) => {
    const t = Float32Array.from(weights.tensors[name]);
    t[i] += delta;
    return { ...weights, tensors: { ...weights.tensors, [name]: t } };
  };
}

/** The merged weights with one entry of one adapter tensor moved by delta (host copies by adapter name). */
export function perturbAdapter(weights: LlamaWeights, lora: LoraConfig, adapters: Record<string, Float32Array>): (name: string, i: number, delta: number) => LlamaWeights {
  return (name, i, delta) => {
    const t = Float32Array.from(adapters[name]);
    t[i] += delta;
    return mergedLora(weights, lora, { ...adapters, [name]: t });
  };
}

/** The base weights with W += (alpha/r)·B·A merged in for every adapter (host copies by adapter name). */
export function mergedLora(weights: LlamaWeights, lora: LoraConfig, adapters: Record<string, Float32Array>): LlamaWeights {
  const tensors = { ...weights.tensors };
  for (let l = 0; l < weights.config.nLayers; l++) {
    for (const target of lora.targets) {
      const wName = `layers.${l}.${LORA_TARGET_WEIGHT[target]}`;
      const A = adapters[`layers.${l}.${target}.lora_A`], B = adapters[`layers.${l}.${target}.lora_B`];
      const [out, inF] = weights.shapes[wName];
      const W = Float32Array.from(weights.tensors[wName]);
      for (let o = 0; o < out; o++) {
        for (let i = 0; i < inF; i++) {
          let s = 0;
          for (let r = 0; r < lora.rank; r++) s += B[o * lora.rank + r] * A[r * inF + i];
          W[o * inF + i] += loraScale(lora) * s;
        }
      }
      tensors[wName] = W;
    }
  }
  return { ...weights, tensors };
}
