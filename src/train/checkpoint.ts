// Where training checkpoints live, behind one small interface: a folder of JSON manifest +
// safetensors in Node and Deno (checkpoint-fs.ts), IndexedDB in a browser (checkpoint-idb.ts), or
// memory (here). A checkpoint is a JSON record plus named f32 arrays; what they mean is the trainer's
// business (trainer.ts), so a storage only has to keep them whole: a save either fully replaces the
// previous checkpoint of that name or leaves it untouched.

export interface Checkpoint {
  /** Any JSON-serialisable record (positions, RNG state, options, best-so-far). */
  json: unknown;
  /** Flat f32 arrays by name; their shapes are the reader's to know. */
  tensors: Record<string, Float32Array>;
}

export interface CheckpointStorage {
  save(name: string, checkpoint: Checkpoint): Promise<void>;
  /** The checkpoint saved under `name`, or null if there is none. */
  load(name: string): Promise<Checkpoint | null>;
  remove(name: string): Promise<void>;
}

/** Checkpoint names become folder names and keys: keep them portable. */
export function checkName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || name.includes('..')) {
    throw new RangeError(`checkpoint name '${name}' must be letters, digits, '.', '_' or '-' (no path separators)`);
  }
  return name;
}

/** Keeps copies in memory: for tests, and for best-so-far weights when nothing needs to survive the process. */
export class MemoryCheckpointStorage implements CheckpointStorage {
  private readonly entries = new Map<string, Checkpoint>();

  async save(name: string, checkpoint: Checkpoint): Promise<void> {
    this.entries.set(checkName(name), copy(checkpoint));
  }

  async load(name: string): Promise<Checkpoint | null> {
    const c = this.entries.get(checkName(name));
    return c ? copy(c) : null;
  }

  async remove(name: string): Promise<void> {
    this.entries.delete(checkName(name));
  }
}

function copy(c: Checkpoint): Checkpoint {
  const tensors: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(c.tensors)) tensors[k] = v.slice();
  return { json: JSON.parse(JSON.stringify(c.json)) as unknown, tensors };
}
