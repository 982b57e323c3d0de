// Tiny random Llama models for exactness and gradient tests of every architecture variant.
import { llamaConfig, type LlamaConfig } from '../../src/model/config.ts';
import { llamaWeightShapes, shapeSize, type LlamaWeights } from '../../src/model/weights.ts';
import { randn } from './random.ts';

export function tinyConfig(overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  return llamaConfig({ dim: 16, hiddenDim: 28, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 37, maxSeqLen: 64, ...overrides });
}

export function randomWeights(config: LlamaConfig, seed = 1): LlamaWeights {
  const shapes = llamaWeightShapes(config);
  const tensors: Record<string, Float32Array> = {};
  let s = seed;
  for (const [name, shape] of Object.entries(shapes)) {
    const isNorm = name.endsWith('Norm');
    const t = randn(shapeSize(shape), s++, isNorm ? 0.1 : 0.4);
    // Norm weights near 1 (as trained models have), everything else small and random.
    if (isNorm) for (let i = 0; i < t.length; i++) t[i] += 1;
    tensors[name] = t;
  }
  return { config, tensors, shapes };
}
