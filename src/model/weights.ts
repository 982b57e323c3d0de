// Names and shapes of a Llama model's parameters: the one vocabulary every loader produces and every
// consumer (GPU model, CPU reference, LoRA, export) reads.
//
//   tokEmbedding          [vocabSize, dim]
//   layers.{i}.attnNorm   [dim]                 RMSNorm weight before attention
//   layers.{i}.wq         [qDim, dim]           linear weights are [out, in]: y = W x; qDim = nHeads·headDim
//   layers.{i}.wk         [kvDim, dim]                                                  kvDim = nKvHeads·headDim
//   layers.{i}.wv         [kvDim, dim]
//   layers.{i}.bq         [qDim]                only when attentionBias (Qwen2)
//   layers.{i}.bk         [kvDim]               only when attentionBias
//   layers.{i}.bv         [kvDim]               only when attentionBias
//   layers.{i}.qNorm      [headDim]             only when qkNorm (Qwen3): RMSNorm weight of every query head
//   layers.{i}.kNorm      [headDim]             only when qkNorm: RMSNorm weight of every key head
//   layers.{i}.wo         [dim, qDim]
//   layers.{i}.ffnNorm    [dim]                 RMSNorm weight before the FFN
//   layers.{i}.w1         [hiddenDim, dim]      gate: FFN(x) = w2( silu(w1 x) * (w3 x) )
//   layers.{i}.w2         [dim, hiddenDim]      down
//   layers.{i}.w3         [hiddenDim, dim]      up
//   finalNorm             [dim]
//   classifier            [vocabSize, dim]      only when the embeddings are untied
//
// wq / wk rows follow config.ropeLayout; a loader that changes the layout permutes them.

import { type LlamaConfig, headDim, kvDim, qDim } from './config.ts';

export type Shape = readonly number[];

export interface LlamaWeights {
  config: LlamaConfig;
  /** Row-major f32 data by name (see the table above). May be views into the loaded file's bytes. */
  tensors: Record<string, Float32Array>;
  shapes: Record<string, Shape>;
}

/** Every parameter name with its shape, in the order llama2.c stores them. */
export function llamaWeightShapes(c: LlamaConfig): Record<string, Shape> {
  const kv = kvDim(c), q = qDim(c);
  const shapes: Record<string, Shape> = { tokEmbedding: [c.vocabSize, c.dim] };
  for (let i = 0; i < c.nLayers; i++) {
    const p = `layers.${i}.`;
    shapes[p + 'attnNorm'] = [c.dim];
    shapes[p + 'wq'] = [q, c.dim];
    shapes[p + 'wk'] = [kv, c.dim];
    shapes[p + 'wv'] = [kv, c.dim];
    if (c.attentionBias) {
      shapes[p + 'bq'] = [q];
      shapes[p + 'bk'] = [kv];
      shapes[p + 'bv'] = [kv];
    }
    if (c.qkNorm) {
      shapes[p + 'qNorm'] = [headDim(c)];
      shapes[p + 'kNorm'] = [headDim(c)];
    }
    shapes[p + 'wo'] = [c.dim, q];
    shapes[p + 'ffnNorm'] = [c.dim];
    shapes[p + 'w1'] = [c.hiddenDim, c.dim];
    shapes[p + 'w2'] = [c.dim, c.hiddenDim];
    shapes[p + 'w3'] = [c.hiddenDim, c.dim];
  }
  shapes.finalNorm = [c.dim];
  if (!c.tiedEmbeddings) shapes.classifier = [c.vocabSize, c.dim];
  return shapes;
}

export function shapeSize(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The classifier matrix [vocabSize, dim], whichever way it is stored. */
export function classifierWeight(w: LlamaWeights): Float32Array {
  return w.config.tiedEmbeddings ? w.tensors.tokEmbedding : w.tensors.classifier;
}
