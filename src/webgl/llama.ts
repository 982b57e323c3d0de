// An inference-only Llama forward on gpu.js (kernels.ts), over the host f32 weights every loader gives
// (src/model/weights.ts): the same architecture options as the WebGPU model (GQA, an explicit head size,
// q/k/v biases, q/k RMSNorm, RoPE scaling, interleaved or half RoPE layout, tied or separate classifier).
// It computes what scoring and greedy decoding read, and nothing a backward pass would need:
//   - per position, p(next token) under teacher forcing,
//   - per requested layer, the attention each position receives from later (weighted) queries [B, H, T],
//   - the final hidden state (the final RMSNorm's output),
//   - the logits of chosen rows (generation reads each sequence's last).
// Weights are uploaded to textures once (fromWeights). Sequence lengths are padded up to a multiple of
// PAD_TO (causal attention: positions after a sequence cannot change it), so few kernel shapes compile.
import { checkSequenceLength, headDim, kvDim, qDim, type LlamaConfig } from '../model/config.ts';
import { ropeInverseFrequencies } from '../model/rope-scaling.ts';
import type { LlamaWeights } from '../model/weights.ts';
import { bestGpuJsMode, loadGpuJs, type GpuJsMode } from './gpujs.ts';
import { GpuJsOps, type AttentionShape, type GpuJsValue } from './kernels.ts';

/** Sequence lengths are padded up to a multiple of this (fewer shapes to compile). */
export const PAD_TO = 16;

export interface GpuJsForwardOptions {
  /** [B·T] the next token of every position (targets[b·T + i] follows position i): p of each is returned. */
  targets?: Uint32Array;
  /** Attention received for these layers, weighting query rows by queryWeights [B·T] (default all ones). */
  attentionReceived?: { layers: number[]; queryWeights?: Float32Array };
  /** Also return the final hidden states [B·T, dim]. */
  finalHidden?: boolean;
  /** Also return the logits [rows.length, vocab] of these rows (b·T + i). */
  logitsOfRows?: number[];
}

export interface GpuJsForwardResult {
  /** [B·T] p(targets[r]) given positions ≤ r of its sequence (present with `targets`). */
  prob?: Float32Array;
  /** Per requested layer: [B, H, T], as ForwardResult.attentionReceived on WebGPU. */
  attentionReceived: Map<number, Float32Array>;
  finalHidden?: Float32Array;
  logits?: Float32Array;
}

export class GpuJsLlama {
  readonly headDim: number;

  private constructor(
    readonly config: LlamaConfig,
    readonly ops: GpuJsOps,
    private readonly host: LlamaWeights,
    private readonly gpuWeights: Map<string, GpuJsValue>,
    private readonly rope: { cos: GpuJsValue; sin: GpuJsValue },
  ) {
    this.headDim = headDim(config);
  }

  /** The backend gpu.js runs on: 'webgl2', 'webgl', or 'cpu' (JavaScript). */
  get mode(): GpuJsMode {
    return this.ops.mode;
  }

  /** Uploads the weights once. mode: default the best this platform has (bestGpuJsMode). */
  static async fromWeights(weights: LlamaWeights, options: { mode?: GpuJsMode } = {}): Promise<GpuJsLlama> {
    const lib = await loadGpuJs();
    const mode = options.mode ?? bestGpuJsMode(lib);
    const gpu = new lib.GPU({ mode });
    // gpu.js falls back on its own when a mode cannot run; report what it really runs on.
    const ops = new GpuJsOps(lib, gpu, gpu.mode as GpuJsMode);
    const c = weights.config;
    const uploaded = new Map<string, GpuJsValue>();
    for (const [name, t] of Object.entries(weights.tensors)) {
      const shape = weights.shapes[name];
      uploaded.set(name, shape.length === 2 ? ops.upload(t, shape[0], shape[1]) : ops.upload(t, 0, t.length));
    }
    if (c.tiedEmbeddings) uploaded.set('classifier', uploaded.get('tokEmbedding')!);
    // cos / sin of every position's angles, in f64 on the host (as the f64 reference rotates).
    const hd = headDim(c), pairs = hd / 2;
    const inv = ropeInverseFrequencies(hd, c.ropeTheta, c.ropeScaling);
    const positions = c.maxSeqLen + PAD_TO;
    const cos = new Float32Array(positions * pairs), sin = new Float32Array(positions * pairs);
    for (let p = 0; p < positions; p++) {
      for (let i = 0; i < pairs; i++) {
        cos[p * pairs + i] = Math.cos(p * inv[i]);
        sin[p * pairs + i] = Math.sin(p * inv[i]);
      }
    }
    return new GpuJsLlama(c, ops, weights, uploaded, { cos: ops.upload(cos, positions, pairs), sin: ops.upload(sin, positions, pairs) });
  }

  /** The host f32 weights it was built from (embedding rows are gathered on the host). */
  get weights(): LlamaWeights {
    return this.host;
  }

  private w(name: string): GpuJsValue {
    const t = this.gpuWeights.get(name);
    if (t === undefined) throw new RangeError(`gpu.js model: no weight '${name}'`);
    return t;
  }

  /**
   * Runs ids [batch, seqLen] (row-major) through the model; see GpuJsForwardOptions for what comes back.
   * Internally each sequence is padded to a multiple of PAD_TO; results are given at the caller's seqLen.
   */
  async forward(ids: Uint32Array, batch: number, seqLen: number, options: GpuJsForwardOptions = {}): Promise<GpuJsForwardResult> {
    const c = this.config;
    if (ids.length !== batch * seqLen) throw new RangeError(`gpu.js forward: ${ids.length} ids for [${batch}, ${seqLen}]`);
    checkSequenceLength(c, seqLen, 'forward');
    const T = Math.min(Math.ceil(seqLen / PAD_TO) * PAD_TO, c.maxSeqLen + PAD_TO);
    const n = batch * T;
    const ops = this.ops;
    const at = (b: number, i: number) => b * T + i; // a caller's (b, i) in the padded layout
    // Embedding rows gathered on the host: one upload instead of a [vocab, dim] lookup per row.
    const x0 = new Float32Array(n * c.dim);
    const emb = this.host.tensors.tokEmbedding;
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < seqLen; i++) {
        const id = ids[b * seqLen + i];
        if (!(id < c.vocabSize)) throw new RangeError(`gpu.js forward: token id ${id} is outside the vocabulary 0..${c.vocabSize - 1}`);
        x0.set(emb.subarray(id * c.dim, (id + 1) * c.dim), at(b, i) * c.dim);
      }
    }
    const shape: AttentionShape = { batch, seqLen: T, heads: c.nHeads, kvHeads: c.nKvHeads, headDim: this.headDim };
    const want = new Set(options.attentionReceived?.layers ?? []);
    let weightsT: GpuJsValue = null;
    if (want.size > 0) {
      const qw = new Float32Array(n);
      const given = options.attentionReceived!.queryWeights;
      for (let b = 0; b < batch; b++) for (let i = 0; i < seqLen; i++) qw[at(b, i)] = given ? given[b * seqLen + i] : 1;
      weightsT = ops.upload(qw, batch, T);
    }
    const receivedT = new Map<number, GpuJsValue>();
    let x = ops.upload(x0, n, c.dim);
    for (let l = 0; l < c.nLayers; l++) {
      const next = this.layer(l, x, n, shape, want.has(l) ? (probs) => receivedT.set(l, ops.received(probs, weightsT, shape)) : null);
      ops.release(x);
      x = next;
    }
    const hidden = ops.rmsnorm(x, this.w('finalNorm'), n, c.dim, c.dim, c.normEps);
    ops.release(x, weightsT);
    const result: GpuJsForwardResult = { attentionReceived: new Map() };
    try {
      if (options.targets) {
        const targets = new Float32Array(n);
        for (let b = 0; b < batch; b++) for (let i = 0; i < seqLen; i++) targets[at(b, i)] = options.targets[b * seqLen + i];
        const targetsT = ops.upload(targets, 0, n);
        const logits = ops.linear(hidden, this.w('classifier'), n, c.dim, c.vocabSize);
        const probT = ops.targetProb(logits, targetsT, n, c.vocabSize);
        result.prob = unpad(ops.read(probT), batch, T, seqLen, 1);
        ops.release(targetsT, logits, probT);
      }
      if (options.logitsOfRows) {
        const rows = options.logitsOfRows.map((r) => at(Math.floor(r / seqLen), r % seqLen));
        const rowsT = ops.upload(Float32Array.from(rows), 0, rows.length);
        const picked = ops.gatherRows(hidden, rowsT, rows.length, c.dim);
        const logits = ops.linear(picked, this.w('classifier'), rows.length, c.dim, c.vocabSize);
        result.logits = ops.read(logits);
        ops.release(rowsT, picked, logits);
      }
      for (const [l, t] of receivedT) result.attentionReceived.set(l, unpad(ops.read(t), batch * c.nHeads, T, seqLen, 1));
      if (options.finalHidden) result.finalHidden = unpad(ops.read(hidden), batch, T, seqLen, c.dim);
    } finally {
      ops.release(hidden, ...receivedT.values());
    }
    return result;
  }

  /** Layer l: x + attention(norm(x)), then + SwiGLU(norm(·)). onProbs sees the attention probabilities. */
  private layer(l: number, x: GpuJsValue, n: number, shape: AttentionShape, onProbs: ((probs: GpuJsValue) => void) | null): GpuJsValue {
    const c = this.config, ops = this.ops, p = `layers.${l}.`;
    const hd = this.headDim, qd = qDim(c), kvd = kvDim(c);
    const bias = (name: string) => (c.attentionBias ? { bias: this.w(p + name) } : {});
    const normed = ops.rmsnorm(x, this.w(p + 'attnNorm'), n, c.dim, c.dim, c.normEps);
    let q = ops.linear(normed, this.w(p + 'wq'), n, c.dim, qd, bias('bq'));
    let k = ops.linear(normed, this.w(p + 'wk'), n, c.dim, kvd, bias('bk'));
    const v = ops.linear(normed, this.w(p + 'wv'), n, c.dim, kvd, bias('bv'));
    ops.release(normed);
    if (c.qkNorm) {
      const qn = ops.rmsnorm(q, this.w(p + 'qNorm'), n, qd, hd, c.normEps);
      const kn = ops.rmsnorm(k, this.w(p + 'kNorm'), n, kvd, hd, c.normEps);
      ops.release(q, k);
      [q, k] = [qn, kn];
    }
    const interleaved = c.ropeLayout === 'interleaved';
    const qr = ops.rope(q, this.rope.cos, this.rope.sin, n, qd, shape.seqLen, hd, interleaved);
    const kr = ops.rope(k, this.rope.cos, this.rope.sin, n, kvd, shape.seqLen, hd, interleaved);
    ops.release(q, k);
    const { out, probs } = ops.attention(qr, kr, v, shape);
    onProbs?.(probs);
    ops.release(qr, kr, v, probs);
    const afterAttention = ops.linear(out, this.w(p + 'wo'), n, qd, c.dim, { residual: x });
    ops.release(out);
    const normed2 = ops.rmsnorm(afterAttention, this.w(p + 'ffnNorm'), n, c.dim, c.dim, c.normEps);
    const hidden = ops.swiglu(normed2, this.w(p + 'w1'), this.w(p + 'w3'), n, c.dim, c.hiddenDim);
    ops.release(normed2);
    const y = ops.linear(hidden, this.w(p + 'w2'), n, c.hiddenDim, c.dim, { residual: afterAttention });
    ops.release(hidden, afterAttention);
    return y;
  }

  /** Frees every texture and kernel. */
  release(): void {
    const seen = new Set<GpuJsValue>();
    for (const t of [...this.gpuWeights.values(), this.rope.cos, this.rope.sin]) {
      if (seen.has(t)) continue;
      seen.add(t);
      this.ops.release(t);
    }
    this.gpuWeights.clear();
    this.ops.destroy();
  }
}

/** rows of `width` values in [groups, T] padded layout -> [groups, seqLen]. */
function unpad(data: Float32Array, groups: number, T: number, seqLen: number, width: number): Float32Array {
  if (T === seqLen) return data.length === groups * T * width ? data : data.slice(0, groups * T * width);
  const out = new Float32Array(groups * seqLen * width);
  for (let g = 0; g < groups; g++) out.set(data.subarray(g * T * width, (g * T + seqLen) * width), g * seqLen * width);
  return out;
}

