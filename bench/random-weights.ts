// Random weights of a given shape for benchmarks of models whose real weights are not on this machine.
import { llamaConfig, type LlamaConfig } from '../src/model/config.ts';
import { seededRandom } from '../src/model/random.ts';
import { llamaWeightShapes, shapeSize, type LlamaWeights } from '../src/model/weights.ts';

export function randomLlamaWeights(config: LlamaConfig, seed = 1): LlamaWeights {
  const random = seededRandom(seed);
  const shapes = llamaWeightShapes(config);
  const tensors: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(shapes)) {
    const t = new Float32Array(shapeSize(shape));
    const norm = name.endsWith('Norm');
    for (let i = 0; i < t.length; i++) t[i] = norm ? 1 : (random() - 0.5) * 0.04;
    tensors[name] = t;
  }
  return { config, tensors, shapes };
}

/** stories15M's shape (llama2.c's 15M model: its weights are not on this machine): what the benchmarks
 *  run at a real vocabulary size, where the classifier is most of a forward pass. */
export const STORIES15M_SHAPE = llamaConfig({ dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000, maxSeqLen: 256 });
