// Checkpoints in the browser's IndexedDB through idb-keyval: one record per name, written in a
// single transaction, so a closed tab leaves either the old checkpoint or the new one.
import { createStore, del, get, set, type UseStore } from 'idb-keyval';
import { checkName, type Checkpoint, type CheckpointStorage } from './checkpoint.ts';

interface StoredCheckpoint {
  json: string;
  tensors: Record<string, Float32Array>;
}

export class IndexedDbCheckpointStorage implements CheckpointStorage {
  private readonly store: UseStore;

  constructor(database = 'xtf-checkpoints', objectStore = 'checkpoints') {
    this.store = createStore(database, objectStore);
  }

  async save(name: string, checkpoint: Checkpoint): Promise<void> {
    const record: StoredCheckpoint = { json: JSON.stringify(checkpoint.json), tensors: checkpoint.tensors };
    await set(checkName(name), record, this.store);
  }

  async load(name: string): Promise<Checkpoint | null> {
    const record = await get<StoredCheckpoint>(checkName(name), this.store);
    if (!record) return null;
    return { json: JSON.parse(record.json) as unknown, tensors: record.tensors };
  }

  async remove(name: string): Promise<void> {
    await del(checkName(name), this.store);
  }
}
