// The runner's tests' fixtures: an experiment store in memory (files by name, the names of saved adapters),
// and the tiny stories260K experiment they run.
import { builtinData } from '../../src/experiment/builtin-data.ts';
import { examplesData, type ExperimentStore } from '../../src/experiment/context.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';
import { gpu } from './gpu.ts';

export function memoryStore(): ExperimentStore & { files: Map<string, string>; adapters: string[] } {
  const files = new Map<string, string>(), adapters: string[] = [];
  return {
    files,
    adapters,
    read: async (name) => files.get(name) ?? null,
    write: async (name, text) => void files.set(name, text),
    saveAdapter: async (name) => void adapters.push(name),
  };
}

/** stories260K on the GPU with the built-in experiment's data at a tiny size: what the runner's tests run on. */
export async function tinyExperiment(sizes: { train: number; reference: number; heldOut: number }) {
  const rt = await gpu();
  const weights = loadModel();
  const tokenizer = loadTokenizer();
  const model = LlamaModel.fromWeights(rt, weights);
  const built = builtinData({ ...sizes, seed: 2 });
  return { rt, weights, tokenizer, model, data: examplesData(built.train, built.reference, built.heldOut) };
}
