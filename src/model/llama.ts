// The Llama decoder on the GPU: explicit forward and backward per layer (llm.c style), no autograd
// tape. Training keeps each layer's activations in a SavedLayer; inference releases them at once.
// Decoding with a KV cache (kv-cache.ts, generate.ts's decodeStep) runs the layers through layerStep.
//
//   x0 = E[ids]
//   per layer:  h = rmsnorm(x) ; q,k,v = rope(h·Wqᵀ), rope(h·Wkᵀ), h·Wvᵀ ; a = attention(q,k,v)
//               x2 = x + a·Woᵀ ; g = rmsnorm(x2) ; x' = x2 + (silu(g·W1ᵀ) ⊙ g·W3ᵀ)·W2ᵀ
//   logits = rmsnorm(xL)·Cᵀ   (C = E when the embeddings are tied)
import type { Runtime, Tensor } from '../gpu/index.ts';
import { addForward } from '../ops/elementwise.ts';
import { attentionBackward, attentionForward, attentionReceived, type AttentionForwardResult } from '../ops/attention.ts';
import { embeddingBackward, embeddingForward } from '../ops/embedding.ts';
import { matmul } from '../ops/matmul.ts';
import { rmsnormBackward, rmsnormForward, type RmsNormForward } from '../ops/rmsnorm.ts';
import { ropeBackward, ropeForward, ropeTable, type RopeTable } from '../ops/rope.ts';
import { swigluBackward, swigluForward } from '../ops/swiglu.ts';
import { headDim, type LlamaConfig } from './config.ts';
import { linearBackward, linearForward, releaseLinearSaved, type LinearParams, type LinearSaved } from './linear.ts';
import { LORA_TARGET_WEIGHT, kaimingUniform, loraScale, validateLoraConfig, type LoraConfig, type LoraTarget } from './lora.ts';
import { seededRandom } from './random.ts';
import { llamaWeightShapes, type LlamaWeights } from './weights.ts';

/** What a training step updates: only the adapters, or every parameter. */
export type TrainableSet = 'lora' | 'full';

export interface ForwardOptions {
  /** Keep the activations backward needs. */
  train?: boolean;
  /** Compute the attention each key position receives, per layer and head (XTF reasoning importance). */
  attentionReceived?: {
    /** [B, T] weight of each query row (e.g. 1 on label positions only); default all ones. */
    queryWeights?: Tensor;
    /** Layers to report; default all. */
    layers?: number[];
  };
  /**
   * Also return the final hidden state, the final RMSNorm's output that the classifier reads (what Hugging
   * Face reports as the last of `hidden_states`), as ForwardResult.finalHidden. Inference forwards only
   * (not with `train`); releaseForward frees it.
   */
  finalHidden?: boolean;
}

interface SavedLayer {
  x: Tensor;
  attnNorm: RmsNormForward;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  attn: AttentionForwardResult;
  x2: Tensor;
  ffnNorm: RmsNormForward;
  gate: Tensor;
  up: Tensor;
  act: Tensor;
  linear: Record<'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w3' | 'w2', LinearSaved>;
}

export interface ForwardResult {
  /** [B·T, vocab] */
  logits: Tensor;
  batch: number;
  seqLen: number;
  /** Per requested layer: [B, H, T], attention received summed over later (weighted) queries. */
  attentionReceived: Map<number, Tensor>;
  /** [B·T, dim] the final RMSNorm's output; present only when ForwardOptions.finalHidden asked for it. */
  finalHidden?: Tensor;
  /** Present after a `train: true` forward; consumed by backward(). */
  saved: { ids: Tensor; layers: SavedLayer[]; xFinal: Tensor; finalNorm: RmsNormForward } | null;
}

/**
 * A layer inside incremental decoding (layerStep). startPos: the first row's position (RoPE), default 0.
 * attend: replaces self-attention over the step's own rotated q [B, T, nHeads, headDim], k and v [B, T,
 * nKvHeads, headDim] (kv-cache.ts appends k, v and attends over the cache); the layer releases all four.
 */
export interface LayerStepOptions {
  startPos?: number;
  attend?: (q: Tensor, k: Tensor, v: Tensor) => AttentionForwardResult;
}

export class LlamaModel {
  readonly headDim: number;
  readonly rope: RopeTable;
  /** Adapter tensors by name `layers.{i}.{target}.lora_A|lora_B` (PEFT's target names). */
  readonly adapters: Record<string, Tensor> = {};
  lora: LoraConfig | null = null;
  /** Training forwards so far: with the seed, it draws every LoRA dropout mask (resumable runs restore it). */
  dropoutStep = 0;
  dropoutSeed = 0;

  private constructor(
    readonly rt: Runtime,
    readonly config: LlamaConfig,
    /** Base weights by the names of src/model/weights.ts. */
    readonly params: Record<string, Tensor>,
  ) {
    this.headDim = headDim(config);
    this.rope = ropeTable(rt, this.headDim, config.ropeTheta);
  }

  /** Upload host weights (from any loader) to the GPU. */
  static fromWeights(rt: Runtime, weights: LlamaWeights): LlamaModel {
    const shapes = llamaWeightShapes(weights.config);
    const params: Record<string, Tensor> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      const data = weights.tensors[name];
      if (!data) throw new RangeError(`weights: tensor '${name}' [${shape.join(', ')}] is missing`);
      params[name] = rt.upload(data, shape, 'f32', name);
    }
    return new LlamaModel(rt, weights.config, params);
  }

  /** Attach fresh adapters (A Kaiming-uniform, B zero: the model's output is unchanged). */
  addLora(config: LoraConfig, seed = 0): void {
    validateLoraConfig(config);
    this.removeLora();
    const random = seededRandom(seed);
    for (let i = 0; i < this.config.nLayers; i++) {
      for (const target of config.targets) {
        const [out, inFeatures] = this.params[`layers.${i}.${LORA_TARGET_WEIGHT[target]}`].shape;
        const name = `layers.${i}.${target}`;
        this.adapters[`${name}.lora_A`] = this.rt.upload(kaimingUniform(config.rank, inFeatures, random), [config.rank, inFeatures], 'f32', `${name}.lora_A`);
        this.adapters[`${name}.lora_B`] = this.rt.zeros([out, config.rank], 'f32', `${name}.lora_B`);
      }
    }
    this.lora = config;
  }

  removeLora(): void {
    for (const [name, t] of Object.entries(this.adapters)) {
      t.release();
      delete this.adapters[name];
    }
    this.lora = null;
  }

  /** The tensors an optimiser updates for the given set. */
  trainable(set: TrainableSet): Record<string, Tensor> {
    if (set === 'full') return { ...this.params };
    if (!this.lora) throw new Error('trainable("lora"): the model has no adapters; call addLora() first');
    return { ...this.adapters };
  }

  forward(ids: Tensor, options: ForwardOptions = {}): ForwardResult {
    const c = this.config;
    const [batch, seqLen] = ids.shape;
    if (ids.shape.length !== 2 || ids.dtype !== 'u32') throw new RangeError(`forward: ids ${ids} must be u32 [batch, seqLen]`);
    if (seqLen > c.maxSeqLen) throw new RangeError(`forward: sequence length ${seqLen} exceeds the model's maxSeqLen ${c.maxSeqLen}`);
    const rt = this.rt;
    const n = batch * seqLen;
    const train = options.train ?? false;
    if (train && options.finalHidden) throw new RangeError('forward: finalHidden is for inference forwards, not with { train: true }');
    if (train) this.dropoutStep++;
    const wantReceived = options.attentionReceived;
    const receivedLayers = new Set(wantReceived?.layers ?? (wantReceived ? [...Array(c.nLayers).keys()] : []));
    const received = new Map<number, Tensor>();
    const layers: SavedLayer[] = [];

    let x = embeddingForward(rt, ids.view([n]), this.params.tokEmbedding).view([n, c.dim]);
    for (let l = 0; l < c.nLayers; l++) {
      const s = this.layerForward(l, x, batch, seqLen, train);
      if (receivedLayers.has(l)) {
        received.set(l, attentionReceived(rt, s.saved.q, s.saved.k, s.saved.attn.logSumExp, { queryWeights: wantReceived?.queryWeights }));
      }
      const next = s.xOut;
      if (train) layers.push(s.saved);
      else {
        releaseSaved(s.saved);
        s.saved.x.release();
      }
      x = next;
    }
    const finalNorm = rmsnormForward(rt, x, this.params.finalNorm, c.normEps);
    const logits = matmul(rt, finalNorm.y, this.classifier(), { transB: true });
    if (!train) {
      if (!options.finalHidden) finalNorm.y.release();
      finalNorm.rstd.release();
      x.release();
    }
    return {
      logits,
      batch,
      seqLen,
      attentionReceived: received,
      ...(options.finalHidden ? { finalHidden: finalNorm.y } : {}),
      saved: train ? { ids, layers, xFinal: x, finalNorm } : null,
    };
  }

  /**
   * Backpropagate d_logits (as the fused cross-entropy leaves them, in place of the logits) and ADD
   * the gradients of the trainable set into `grads` (same names as `trainable(set)`). Releases the
   * forward's activations.
   */
  backward(fwd: ForwardResult, dLogits: Tensor, set: TrainableSet, grads: Record<string, Tensor>): void {
    const saved = fwd.saved;
    if (!saved) throw new Error('backward: the forward pass ran without { train: true }');
    const rt = this.rt;
    const c = this.config;
    const full = set === 'full';
    const n = fwd.batch * fwd.seqLen;

    let dX = matmul(rt, dLogits, this.classifier());
    if (full) matmul(rt, dLogits, saved.finalNorm.y, { transA: true, accumulateInto: grads[c.tiedEmbeddings ? 'tokEmbedding' : 'classifier'] });
    const fn = rmsnormBackward(rt, dX, saved.xFinal, this.params.finalNorm, saved.finalNorm.rstd, { weightGrad: full, accumulateInto: grads.finalNorm });
    dX.release();
    dX = fn.dX;
    releaseAll(saved.finalNorm.y, saved.finalNorm.rstd, saved.xFinal);

    for (let l = c.nLayers - 1; l >= 0; l--) {
      // The first layer's input gradient only feeds the embedding, which LoRA leaves frozen.
      const needDx = l > 0 || full;
      const dIn = this.layerBackward(l, saved.layers[l], dX, fwd.batch, fwd.seqLen, set, grads, needDx);
      dX.release();
      releaseSaved(saved.layers[l]);
      saved.layers[l].x.release();
      if (!dIn) break;
      dX = dIn;
    }
    if (full) {
      embeddingBackward(rt, dX.view([n, c.dim]), saved.ids.view([n]), grads.tokEmbedding);
      dX.release();
    }
    fwd.saved = null;
  }

  /** Free a forward result's tensors (logits, attention received, final hidden state, and any saved activations). */
  releaseForward(fwd: ForwardResult): void {
    fwd.logits.release();
    fwd.finalHidden?.release();
    for (const t of fwd.attentionReceived.values()) t.release();
    if (fwd.saved) {
      for (const s of fwd.saved.layers) {
        releaseSaved(s);
        s.x.release();
      }
      releaseAll(fwd.saved.finalNorm.y, fwd.saved.finalNorm.rstd, fwd.saved.xFinal);
      fwd.saved = null;
    }
  }

  /** Release every GPU tensor of the model. */
  release(): void {
    this.removeLora();
    for (const t of Object.values(this.params)) t.release();
    this.rope.frequencies.release();
  }

  /** The output projection [vocab, dim]: the token embedding when the embeddings are tied. */
  classifier(): Tensor {
    return this.config.tiedEmbeddings ? this.params.tokEmbedding : this.params.classifier;
  }

  /**
   * Layer `l`'s inference forward, for incremental decoding (generate.ts's decodeStep): x [B·T, dim] in,
   * the layer's output residual out; x and the layer's activations are released. See LayerStepOptions.
   */
  layerStep(l: number, x: Tensor, batch: number, seqLen: number, options: LayerStepOptions = {}): Tensor {
    const s = this.layerForward(l, x, batch, seqLen, false, options);
    releaseSaved(s.saved);
    x.release();
    return s.xOut;
  }

  private linear(l: number, weight: 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w3' | 'w2'): LinearParams {
    const p = `layers.${l}.`;
    const bias = weight === 'wq' ? 'bq' : weight === 'wk' ? 'bk' : weight === 'wv' ? 'bv' : null;
    const target = loraTargetOf(weight);
    const a = this.lora && target ? this.adapters[`${p}${target}.lora_A`] : undefined;
    return {
      weight: this.params[p + weight],
      bias: bias && this.config.attentionBias ? this.params[p + bias] : undefined,
      lora: a ? { a, b: this.adapters[`${p}${target}.lora_B`], scale: loraScale(this.lora!), dropout: this.lora!.dropout } : undefined,
    };
  }

  private layerForward(
    l: number,
    x: Tensor,
    batch: number,
    seqLen: number,
    train: boolean,
    step: LayerStepOptions = {},
  ): { saved: SavedLayer; xOut: Tensor } {
    const rt = this.rt;
    const c = this.config;
    const p = `layers.${l}.`;
    const n = batch * seqLen;
    const ropeOptions = { layout: c.ropeLayout, startPos: step.startPos ?? 0 };
    // A distinct dropout mask per training forward, layer and projection.
    const seed = (w: number) => mixSeed(this.dropoutSeed, this.dropoutStep, l, w);
    const attnNorm = rmsnormForward(rt, x, this.params[p + 'attnNorm'], c.normEps);
    const qLin = linearForward(rt, attnNorm.y, this.linear(l, 'wq'), train, seed(0));
    const kLin = linearForward(rt, attnNorm.y, this.linear(l, 'wk'), train, seed(1));
    const vLin = linearForward(rt, attnNorm.y, this.linear(l, 'wv'), train, seed(2));
    const q = ropeForward(rt, qLin.y.view([batch, seqLen, c.nHeads, this.headDim]), this.rope, ropeOptions);
    const k = ropeForward(rt, kLin.y.view([batch, seqLen, c.nKvHeads, this.headDim]), this.rope, ropeOptions);
    qLin.y.release();
    kLin.y.release();
    const v = vLin.y.view([batch, seqLen, c.nKvHeads, this.headDim]);
    const attn = step.attend ? step.attend(q, k, v) : attentionForward(rt, q, k, v);
    const oLin = linearForward(rt, attn.out.view([n, c.dim]), this.linear(l, 'wo'), train, seed(3));
    const x2 = addForward(rt, x, oLin.y);
    oLin.y.release();
    const ffnNorm = rmsnormForward(rt, x2, this.params[p + 'ffnNorm'], c.normEps);
    const gateLin = linearForward(rt, ffnNorm.y, this.linear(l, 'w1'), train, seed(4));
    const upLin = linearForward(rt, ffnNorm.y, this.linear(l, 'w3'), train, seed(5));
    const act = swigluForward(rt, gateLin.y, upLin.y);
    const downLin = linearForward(rt, act, this.linear(l, 'w2'), train, seed(6));
    const xOut = addForward(rt, x2, downLin.y);
    downLin.y.release();
    const none: LinearSaved = { x, xa: null, xDropped: null, dropoutSeed: 0 };
    return {
      xOut,
      saved: {
        x,
        attnNorm,
        q,
        k,
        v,
        attn,
        x2,
        ffnNorm,
        gate: gateLin.y,
        up: upLin.y,
        act,
        linear: {
          wq: qLin.saved ?? none,
          wk: kLin.saved ?? none,
          wv: vLin.saved ?? none,
          wo: oLin.saved ?? none,
          w1: gateLin.saved ?? none,
          w3: upLin.saved ?? none,
          w2: downLin.saved ?? none,
        },
      },
    };
  }

  /** dOut: gradient of the layer's output residual. Returns the gradient of its input (or null). */
  private layerBackward(
    l: number,
    s: SavedLayer,
    dOut: Tensor,
    batch: number,
    seqLen: number,
    set: TrainableSet,
    grads: Record<string, Tensor>,
    needDx: boolean,
  ): Tensor | null {
    const rt = this.rt;
    const c = this.config;
    const p = `layers.${l}.`;
    const n = batch * seqLen;
    const full = set === 'full';
    const ropeOptions = { layout: c.ropeLayout };
    const g = (weight: 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w3' | 'w2') => {
      if (full) {
        const bias = { wq: 'bq', wk: 'bk', wv: 'bv' }[weight as 'wq'];
        return { weight: grads[p + weight], bias: bias && c.attentionBias ? grads[p + bias] : undefined };
      }
      const target = loraTargetOf(weight);
      if (!this.lora || !target || !this.lora.targets.includes(target)) return {};
      return { loraA: grads[`${p}${target}.lora_A`], loraB: grads[`${p}${target}.lora_B`] };
    };

    // FFN: x' = x2 + W2·(silu(W1 g) ⊙ W3 g), g = rmsnorm(x2)
    const dAct = rt.empty([n, c.hiddenDim], 'f32', 'd act');
    linearBackward(rt, dOut, this.linear(l, 'w2'), s.linear.w2, g('w2'), dAct);
    const { dGate, dUp } = swigluBackward(rt, dAct, s.gate, s.up);
    dAct.release();
    const dFfnIn = rt.empty([n, c.dim], 'f32', 'd ffn norm out');
    linearBackward(rt, dGate, this.linear(l, 'w1'), s.linear.w1, g('w1'), dFfnIn);
    linearBackward(rt, dUp, this.linear(l, 'w3'), s.linear.w3, g('w3'), dFfnIn, true);
    releaseAll(dGate, dUp);
    const ffn = rmsnormBackward(rt, dFfnIn, s.x2, this.params[p + 'ffnNorm'], s.ffnNorm.rstd, { weightGrad: full, accumulateInto: grads[p + 'ffnNorm'] });
    dFfnIn.release();
    const dX2 = addForward(rt, dOut, ffn.dX);
    ffn.dX.release();

    // Attention: x2 = x + Wo·attention(rope(Wq h), rope(Wk h), Wv h), h = rmsnorm(x)
    const dAttn = rt.empty([n, c.dim], 'f32', 'd attention out');
    linearBackward(rt, dX2, this.linear(l, 'wo'), s.linear.wo, g('wo'), dAttn);
    const { dQ, dK, dV } = attentionBackward(rt, s.q, s.k, s.v, s.attn, dAttn.view([batch, seqLen, c.nHeads, this.headDim]));
    dAttn.release();
    const dQLin = ropeBackward(rt, dQ, this.rope, ropeOptions);
    const dKLin = ropeBackward(rt, dK, this.rope, ropeOptions);
    releaseAll(dQ, dK);
    const dH = rt.empty([n, c.dim], 'f32', 'd attention norm out');
    linearBackward(rt, dQLin.view([n, c.dim]), this.linear(l, 'wq'), s.linear.wq, g('wq'), dH);
    linearBackward(rt, dKLin.view([n, c.dim / (c.nHeads / c.nKvHeads)]), this.linear(l, 'wk'), s.linear.wk, g('wk'), dH, true);
    linearBackward(rt, dV.view([n, c.dim / (c.nHeads / c.nKvHeads)]), this.linear(l, 'wv'), s.linear.wv, g('wv'), dH, true);
    releaseAll(dQLin, dKLin, dV);
    if (!needDx && !full) {
      releaseAll(dH, dX2);
      return null;
    }
    const attn = rmsnormBackward(rt, dH, s.x, this.params[p + 'attnNorm'], s.attnNorm.rstd, { weightGrad: full, accumulateInto: grads[p + 'attnNorm'] });
    dH.release();
    const dX = addForward(rt, dX2, attn.dX);
    releaseAll(attn.dX, dX2);
    return dX;
  }
}

function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const x of parts) h = Math.imul(h ^ (x >>> 0), 0x85ebca6b) ^ (h >>> 13);
  return h >>> 0;
}

function loraTargetOf(weight: string): LoraTarget | null {
  for (const [target, w] of Object.entries(LORA_TARGET_WEIGHT)) if (w === weight) return target as LoraTarget;
  return null;
}

function releaseAll(...tensors: (Tensor | null | undefined)[]): void {
  for (const t of tensors) t?.release();
}

/** Everything a SavedLayer owns except its input x (the previous layer's output, released by the caller). */
function releaseSaved(s: SavedLayer): void {
  releaseAll(s.attnNorm.y, s.attnNorm.rstd, s.q, s.k, s.v, s.attn.out, s.attn.logSumExp, s.x2, s.ffnNorm.y, s.ffnNorm.rstd, s.gate, s.up, s.act);
  for (const saved of Object.values(s.linear)) releaseLinearSaved(saved);
}
