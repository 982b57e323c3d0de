// Checkpoint storages keep a checkpoint whole: folder (safetensors + manifest, atomic replace, recovery
// after a save killed between its renames) and IndexedDB (through fake-indexeddb in Node).
import 'fake-indexeddb/auto';
import { mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryCheckpointStorage, type Checkpoint, type CheckpointStorage } from '../../src/train/checkpoint.ts';
import { FolderCheckpointStorage } from '../../src/train/checkpoint-fs.ts';
import { IndexedDbCheckpointStorage } from '../../src/train/checkpoint-idb.ts';

const root = mkdtempSync(join(tmpdir(), 'xtf-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sample = (x: number): Checkpoint => ({
  json: { step: x, best: { step: 1, valLoss: 0.5 }, lora: null },
  tensors: { 'param.a': Float32Array.from([x, -0, 1e-30, Math.PI]), 'adam_m.a': new Float32Array(5).fill(x / 3) },
});

async function roundTrip(storage: CheckpointStorage): Promise<void> {
  expect(await storage.load('run')).toBeNull();
  await storage.save('run', sample(1));
  await storage.save('run', sample(2));
  const back = (await storage.load('run'))!;
  expect(back.json).toEqual(sample(2).json);
  for (const [k, v] of Object.entries(sample(2).tensors)) expect(Array.from(back.tensors[k])).toEqual(Array.from(v));
  expect(Object.is(back.tensors['param.a'][1], -0)).toBe(true);
  await storage.remove('run');
  expect(await storage.load('run')).toBeNull();
  await expect(storage.save('../escape', sample(1))).rejects.toThrow(/checkpoint name/);
}

describe('checkpoint storages', () => {
  it('memory', () => roundTrip(new MemoryCheckpointStorage()));
  it('IndexedDB (fake-indexeddb)', () => roundTrip(new IndexedDbCheckpointStorage('xtf-test')));

  it('folder: manifest + safetensors, replaced atomically, no temporary folders left', async () => {
    const storage = new FolderCheckpointStorage(join(root, 'a'));
    await roundTrip(storage);
    await storage.save('run', sample(3));
    expect(readdirSync(join(root, 'a'))).toEqual(['run']);
    expect(readdirSync(join(root, 'a', 'run')).sort()).toEqual(['manifest.json', 'tensors.safetensors']);
  });

  it('folder: a save killed between its renames leaves the previous checkpoint loadable', async () => {
    const storage = new FolderCheckpointStorage(join(root, 'b'));
    await storage.save('run', sample(4));
    // As if the process died after moving the old folder aside, with an incomplete new one in temp.
    renameSync(join(root, 'b', 'run'), join(root, 'b', 'run.old-x'));
    const back = (await storage.load('run'))!;
    expect(back.json).toEqual(sample(4).json);
    expect(readdirSync(join(root, 'b'))).toEqual(['run']);
  });
});
