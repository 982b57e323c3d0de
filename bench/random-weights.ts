// Random weights of a given shape for benchmarks of models whose real weights are not on this machine.
import type { LlamaConfig } from '../src/model/config.ts';
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
