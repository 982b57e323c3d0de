// What XTF scoring asks of a model, whichever backend runs it: a teacher-forced forward that gives each
// position's p(next token) and the attention each position receives, the final hidden states (released
// task relevance), and the embedding distances of the paper's task relevance. Scoring (./score.ts,
// ./forward-scores.ts, ./released-relevance.ts) reads only this; the two backends adapt to it here:
// the WebGPU LlamaModel (src/model/llama.ts with src/ops) and the gpu.js one (src/webgl/llama.ts).
// Which backend runs is decided elsewhere (src/backend.ts); a caller may pass either model as it is.
import type { Tensor } from '../gpu/index.ts';
import type { LlamaConfig } from '../model/config.ts';
import { LlamaModel } from '../model/llama.ts';
import { crossEntropyForward } from '../ops/cross-entropy.ts';
import { GpuJsLlama } from '../webgl/llama.ts';
import type { TaskRelevanceOptions } from './options.ts';
import { hostTokenDistances, tokenDistances } from './task-relevance.ts';

export interface TeacherForced {
  /** [B·T] p(targets[r]) given the positions up to r of its sequence; at the rows asked for (all when
   *  none were named), NaN or a value elsewhere. */
  prob: Float32Array;
  /** Per requested layer (in the order asked): [B, H, T], Σ over later query rows i of w_i · P_ij; exact
   *  from each row's keyStart on (a backend may leave the keys before it at 0 without computing them). */
  received: Float32Array[];
}

/** What the attention pass is asked for: the layers, each query row's weight, each batch row's first key wanted. */
export interface AttentionRequest {
  layers: number[];
  queryWeights: Float32Array;
  keyStart?: Uint32Array;
}

export interface ScoringModel {
  readonly config: LlamaConfig;
  /** What runs it: 'webgpu', or gpu.js's 'webgl2' / 'webgl' / 'cpu'. */
  readonly backend: string;
  /** ids and targets [B·T] row-major; attention: what to report of it (null: nothing); rows: the rows whose
   *  p is wanted, ascending (a backend may skip the rest of the work those rows' logits need). */
  teacherForced(ids: Uint32Array, batch: number, seqLen: number, targets: Uint32Array, attention: AttentionRequest | null, rows?: Uint32Array): Promise<TeacherForced>;
  /** The final RMSNorm's output [B·T, dim] for ids [B, T]. */
  finalHidden(ids: Uint32Array, batch: number, seqLen: number): Promise<Float32Array>;
  /** Per token id, the distance of its input embedding to the weighted mean embedding (./task-relevance.ts). */
  tokenDistances(counts: Float32Array, distance: TaskRelevanceOptions['distance']): Promise<Float32Array>;
}

/** A model scoring accepts: either backend's model, or anything that already speaks ScoringModel. */
export type Scorable = LlamaModel | GpuJsLlama | ScoringModel;

/** The ScoringModel view of a model. */
export function scoringModel(model: Scorable): ScoringModel {
  if (model instanceof LlamaModel) return webGpuScoring(model);
  if (model instanceof GpuJsLlama) return gpuJsScoring(model);
  return model;
}

function webGpuScoring(model: LlamaModel): ScoringModel {
  const rt = model.rt;
  return {
    config: model.config,
    backend: 'webgpu',
    async teacherForced(ids, batch, seqLen, targets, attention, rows) {
      const n = batch * seqLen;
      // Logits only where p is read: the last layer's FFN, the classifier and the loss run on those rows.
      const some = rows && rows.length > 0 && rows.length < n ? rows : null;
      const idsT = rt.upload(ids, [batch, seqLen], 'u32', 'score ids');
      const rowsT = some ? rt.upload(some, [some.length], 'u32', 'rows scored') : undefined;
      const targetsT = rt.upload(some ? some.map((r) => targets[r]) : targets, [some ? some.length : n], 'u32', 'score targets');
      const weightsT = attention ? rt.upload(attention.queryWeights, [batch, seqLen], 'f32', 'query weights') : null;
      const keyStartT = attention?.keyStart ? rt.upload(attention.keyStart, [batch], 'u32', 'first keys asked for') : undefined;
      const fwd = model.forward(idsT, {
        ...(attention ? { attentionReceived: { queryWeights: weightsT!, layers: attention.layers, keyStart: keyStartT } } : {}),
        ...(rowsT ? { outputRows: rowsT } : {}),
      });
      const ce = crossEntropyForward(rt, fwd.logits, targetsT);
      const received: Tensor[] = (attention?.layers ?? []).map((l) => fwd.attentionReceived.get(l)!).filter(Boolean);
      try {
        // One wait for all of them: each read submits its copy before the first await.
        const [read, ...receivedRead] = (await Promise.all([ce.prob, ...received].map((t) => t.read()))) as Float32Array[];
        let prob = read;
        if (some) {
          prob = new Float32Array(n).fill(NaN);
          some.forEach((r, i) => (prob[r] = read[i]));
        }
        return { prob, received: receivedRead };
      } finally {
        model.releaseForward(fwd);
        for (const t of [idsT, rowsT, targetsT, weightsT, keyStartT, ce.loss, ce.prob]) t?.release();
      }
    },
    async finalHidden(ids, batch, seqLen) {
      const idsT = rt.upload(ids, [batch, seqLen], 'u32', 'released relevance ids');
      const fwd = model.forward(idsT, { finalHidden: true, logits: false });
      try {
        return (await fwd.finalHidden!.read()) as Float32Array;
      } finally {
        model.releaseForward(fwd);
        idsT.release();
      }
    },
    async tokenDistances(counts, distance) {
      // A compact embedding (--base-dtype) is unpacked to f32 for the distances and released after; an f32 one is read in place.
      const compact = model.baseDtypes().tokEmbedding !== 'f32';
      const embedding = compact ? model.unpackedWeight('tokEmbedding') : model.params.tokEmbedding;
      return tokenDistances(rt, embedding, counts, distance).finally(() => compact && embedding.release());
    },
  };
}

function gpuJsScoring(model: GpuJsLlama): ScoringModel {
  return {
    config: model.config,
    backend: model.mode,
    async teacherForced(ids, batch, seqLen, targets, attention) {
      const r = await model.forward(ids, batch, seqLen, { targets, ...(attention ? { attentionReceived: attention } : {}) });
      return { prob: r.prob!, received: (attention?.layers ?? []).map((l) => r.attentionReceived.get(l)!) };
    },
    async finalHidden(ids, batch, seqLen) {
      return (await model.forward(ids, batch, seqLen, { finalHidden: true })).finalHidden!;
    },
    async tokenDistances(counts, distance) {
      // vocab × dim multiply-adds once per scoring run: the host does them (in f64) from the f32 weights.
      const { vocabSize, dim } = model.config;
      return hostTokenDistances(model.weights.tensors.tokEmbedding, vocabSize, dim, counts, distance);
    },
  };
}
