// The Llama decoder on the GPU: explicit forward and backward per layer (llm.c style, layer.ts), no
// autograd tape. Training keeps each layer's activations in a SavedLayer; inference releases them at once.
// Decoding with a KV cache (kv-cache.ts, generate.ts's decodeStep) runs the layers through layerStep.
//
//   x0 = E[ids]
//   per layer:  x' = layer(x)   (attention and SwiGLU FFN, see layer.ts)
//   logits = rmsnorm(xL)·Cᵀ   (C = E when the embeddings are tied)
import type { Runtime, Tensor } from '../gpu/index.ts';
import { attentionReceived } from '../ops/attention.ts';
import { embeddingBackward } from '../ops/embedding.ts';
import { matmul } from '../ops/matmul.ts';
import { embedRows, matmulWeight, matmulWeightT, PackedWeight, unpackWeight, type BaseWeight } from '../ops/matmul-packed.ts';
import { rmsnormBackward, type RmsNormForward } from '../ops/rmsnorm.ts';
import { ropeTable, type RopeTable } from '../ops/rope.ts';
import { baseDtypes, refuseFullFineTuning, uploadBaseWeights, type BaseDtype, type BaseDtypeChoice } from './base-dtype.ts';
import { checkSequenceLength, headDim, type LlamaConfig } from './config.ts';
import { layerBackward, layerForward, releaseAll, releaseSaved, type LayerStepOptions, type SavedLayer, type TrainableSet } from './layer.ts';
import { LORA_TARGET_WEIGHT, kaimingUniform, validateLoraConfig, type LoraConfig } from './lora.ts';
import { ropeInverseFrequencies } from './rope-scaling.ts';
import { seededRandom } from './random.ts';
import type { ModelFormat } from './source.ts';
import type { LlamaWeights } from './weights.ts';

export type { LayerStepOptions, TrainableSet } from './layer.ts';

export interface ForwardOptions {
  /** Keep the activations backward needs. */
  train?: boolean;
  /** Compute the attention each key position receives, per layer and head (XTF reasoning importance). */
  attentionReceived?: {
    /** [B, T] weight of each query row (e.g. 1 on label positions only); default all ones. */
    queryWeights?: Tensor;
    /** Layers to report; default all. */
    layers?: number[];
    /** [B] u32: each row's first key asked for; keys before it come back as 0, not computed (see ops/attention.ts). */
    keyStart?: Tensor;
  };
  /**
   * Also return the final hidden state, the final RMSNorm's output that the classifier reads (what Hugging
   * Face reports as the last of `hidden_states`), as ForwardResult.finalHidden. Inference forwards only
   * (not with `train`); releaseForward frees it.
   */
  finalHidden?: boolean;
  /**
   * u32 [R]: the rows of the B·T whose logits (and final hidden state) are wanted; the others are never
   * computed. The last layer runs its output projection and FFN on these rows only (layer.ts), and the
   * logits come back as [R, vocab]. Inference forwards only. XTF scoring reads p at label positions only.
   */
  outputRows?: Tensor;
  /** false: no classifier (a HiddenForwardResult, logits null), for a forward read only for its final hidden
   *  state (released task relevance), where a large vocabulary's classifier would be most of the work. */
  logits?: boolean;
}

export interface ModelLoadOptions {
  /**
   * Storage of the frozen base weights on the GPU (src/model/base-dtype.ts): 'f32' (the default), 'f16', 'q8',
   * 'q4', or 'auto' for the checkpoint's own precision, which needs sourceFormat (LoadedModel.format).
   */
  baseDtype?: BaseDtypeChoice;
  sourceFormat?: ModelFormat;
}

export interface ForwardResult {
  /** [B·T, vocab], or [R, vocab] for ForwardOptions.outputRows. */
  logits: Tensor;
  batch: number;
  seqLen: number;
  /** Per requested layer: [B, H, T], attention received summed over later (weighted) queries. */
  attentionReceived: Map<number, Tensor>;
  /** [B·T, dim] (or [R, dim]) the final RMSNorm's output; present only when ForwardOptions.finalHidden asked for it. */
  finalHidden?: Tensor;
  /** Present after a `train: true` forward; consumed by backward(). */
  saved: { ids: Tensor; layers: SavedLayer[]; xFinal: Tensor; finalNorm: RmsNormForward } | null;
}

/** What a forward with `logits: false` gives: no logits, the final hidden state. */
export type HiddenForwardResult = Omit<ForwardResult, 'logits' | 'finalHidden'> & { logits: null; finalHidden: Tensor };

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
    /** Base weights by the names of src/model/weights.ts; a compact one throws CompactBaseError (see baseWeight). */
    readonly params: Record<string, Tensor>,
    private readonly f32: Record<string, Tensor>,
    /** The compact (f16 / q8 / q4) base weights by name. */
    readonly packed: Record<string, PackedWeight>,
  ) {
    this.headDim = headDim(config);
    this.rope = ropeTable(rt, this.headDim, config.ropeTheta, ropeInverseFrequencies(this.headDim, config.ropeTheta, config.ropeScaling));
  }

  /** Upload host weights (from any loader) to the GPU, each 2-D one in the storage options.baseDtype picks. */
  static fromWeights(rt: Runtime, weights: LlamaWeights, options: ModelLoadOptions = {}): LlamaModel {
    const dtypes = baseDtypes(weights, options.baseDtype ?? 'f32', options.sourceFormat);
    const { params, f32, packed } = uploadBaseWeights(rt, weights, dtypes);
    return new LlamaModel(rt, weights.config, params, f32, packed);
  }

  /** A base weight in whichever storage it has (matmulWeightT / matmulWeight / embedRows read both). */
  baseWeight(name: string): BaseWeight {
    const w = this.packed[name] ?? this.f32[name];
    if (!w) throw new RangeError(`baseWeight: the model has no weight '${name}'`);
    return w;
  }

  /** The storage type of every 2-D base weight. */
  baseDtypes(): Record<string, BaseDtype> {
    const out: Record<string, BaseDtype> = {};
    for (const [name, t] of Object.entries(this.f32)) if (t.shape.length === 2) out[name] = 'f32';
    for (const [name, w] of Object.entries(this.packed)) out[name] = w.format;
    return out;
  }

  /** A new f32 copy of a base weight (the caller releases it): export, merges, and other f32-only paths. */
  unpackedWeight(name: string): Tensor {
    const w = this.baseWeight(name);
    if (w instanceof PackedWeight) return unpackWeight(this.rt, w);
    const copy = this.rt.empty(w.shape, 'f32', `${name} (copy)`);
    this.rt.copy(w, copy);
    return copy;
  }

  /** Token embedding rows: ids u32 [...] -> [..., dim], from either storage. */
  embed(ids: Tensor): Tensor {
    return embedRows(this.rt, ids, this.baseWeight('tokEmbedding'));
  }

  /** Attach fresh adapters (A Kaiming-uniform, B zero: the model's output is unchanged). */
  addLora(config: LoraConfig, seed = 0): void {
    validateLoraConfig(config);
    this.removeLora();
    const random = seededRandom(seed);
    for (let i = 0; i < this.config.nLayers; i++) {
      for (const target of config.targets) {
        const [out, inFeatures] = this.baseWeight(`layers.${i}.${LORA_TARGET_WEIGHT[target]}`).shape;
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
    if (set === 'full') {
      refuseFullFineTuning(this.baseDtypes());
      return { ...this.params };
    }
    if (!this.lora) throw new Error('trainable("lora"): the model has no adapters; call addLora() first');
    return { ...this.adapters };
  }

  forward(ids: Tensor, options: ForwardOptions & { logits: false; finalHidden: true }): HiddenForwardResult;
  forward(ids: Tensor, options?: ForwardOptions): ForwardResult;
  forward(ids: Tensor, options: ForwardOptions = {}): ForwardResult | HiddenForwardResult {
    const c = this.config;
    const [batch, seqLen] = ids.shape;
    if (ids.shape.length !== 2 || ids.dtype !== 'u32') throw new RangeError(`forward: ids ${ids} must be u32 [batch, seqLen]`);
    checkSequenceLength(c, seqLen, 'forward');
    const rt = this.rt;
    const n = batch * seqLen;
    const train = options.train ?? false;
    if (train && options.finalHidden) throw new RangeError('forward: finalHidden is for inference forwards, not with { train: true }');
    if (train && options.outputRows) throw new RangeError('forward: outputRows is for inference forwards, not with { train: true }');
    if (options.logits === false && (train || !options.finalHidden)) throw new RangeError('forward: logits: false is for inference forwards that ask for finalHidden');
    if (train) this.dropoutStep++;
    const wantReceived = options.attentionReceived;
    const receivedLayers = new Set(wantReceived?.layers ?? (wantReceived ? [...Array(c.nLayers).keys()] : []));
    const received = new Map<number, Tensor>();
    const layers: SavedLayer[] = [];

    let x = this.embed(ids.view([n])).view([n, c.dim]);
    // Each layer's last residual add also computes the norm that reads it: the next layer's attention
    // norm, and after the last layer the final norm (nLayers >= 1: validateConfig).
    let norm: RmsNormForward | undefined;
    for (let l = 0; l < c.nLayers; l++) {
      const last = l === c.nLayers - 1;
      const s = layerForward(this, l, x, batch, seqLen, train, {
        ...(last && options.outputRows ? { outputRows: options.outputRows } : {}),
        ...(norm ? { inputNorm: norm } : {}),
      });
      norm = s.outputNorm;
      if (receivedLayers.has(l)) {
        received.set(l, attentionReceived(rt, s.saved.q, s.saved.k, s.saved.attn.logSumExp, { queryWeights: wantReceived?.queryWeights, keyStart: wantReceived?.keyStart }));
      }
      const next = s.xOut;
      if (train) layers.push(s.saved);
      else {
        releaseSaved(s.saved);
        s.saved.x.release();
      }
      x = next;
    }
    const finalNorm = norm!;
    const logits = options.logits === false ? null : matmulWeightT(rt, finalNorm.y, this.classifierWeight());
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
    } as ForwardResult | HiddenForwardResult; // logits null only under the logits: false overload
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
    if (full) refuseFullFineTuning(this.baseDtypes());
    const n = fwd.batch * fwd.seqLen;

    let dX = matmulWeight(rt, dLogits, this.classifierWeight());
    if (full) matmul(rt, dLogits, saved.finalNorm.y, { transA: true, accumulateInto: grads[c.tiedEmbeddings ? 'tokEmbedding' : 'classifier'] });
    const fn = rmsnormBackward(rt, dX, saved.xFinal, this.params.finalNorm, saved.finalNorm.rstd, { weightGrad: full, accumulateInto: grads.finalNorm });
    dX.release();
    dX = fn.dX;
    releaseAll(saved.finalNorm.y, saved.finalNorm.rstd, saved.xFinal);

    for (let l = c.nLayers - 1; l >= 0; l--) {
      // The first layer's input gradient only feeds the embedding, which LoRA leaves frozen.
      const needDx = l > 0 || full;
      const dIn = layerBackward(this, l, saved.layers[l], dX, fwd.batch, fwd.seqLen, set, grads, needDx);
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
  releaseForward(fwd: ForwardResult | HiddenForwardResult): void {
    fwd.logits?.release();
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
    for (const t of Object.values(this.f32)) t.release();
    for (const w of Object.values(this.packed)) w.release();
    this.rope.frequencies.release();
  }

  /** The output projection [vocab, dim] as f32 (throws CompactBaseError on a compact base; see classifierWeight). */
  classifier(): Tensor {
    return this.config.tiedEmbeddings ? this.params.tokEmbedding : this.params.classifier;
  }

  /** The output projection [vocab, dim] in either storage: the token embedding when the embeddings are tied. */
  classifierWeight(): BaseWeight {
    return this.baseWeight(this.config.tiedEmbeddings ? 'tokEmbedding' : 'classifier');
  }

  /**
   * Layer `l`'s inference forward, for incremental decoding (generate.ts's decodeStep): x [B·T, dim] in,
   * the layer's output residual out with the norm that reads it, to pass on as the next layer's inputNorm
   * (after the last layer, the final norm); x and the layer's activations are released. See LayerStepOptions.
   */
  layerStep(l: number, x: Tensor, batch: number, seqLen: number, options: LayerStepOptions = {}): { x: Tensor; norm: RmsNormForward } {
    const s = layerForward(this, l, x, batch, seqLen, false, options);
    releaseSaved(s.saved);
    x.release();
    return { x: s.xOut, norm: s.outputNorm };
  }
}
