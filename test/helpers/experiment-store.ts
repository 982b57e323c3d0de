// An experiment store in memory, for the runner's tests: files by name, and the names of saved adapters.
import type { ExperimentStore } from '../../src/experiment/context.ts';

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
