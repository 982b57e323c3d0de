// Checkpoints as folders on disk (Node, Deno): `<root>/<name>/manifest.json` + `tensors.safetensors`.
// The one module of src/train that touches the file system. A save writes a complete folder under a
// temporary name and renames it into place, so a killed process leaves either the old checkpoint or
// the new one; if it dies between moving the old folder aside and moving the new one in, load()
// recovers the complete folder that was moved aside.
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CheckpointFormatError } from '../model/errors.ts';
import { parseSafetensors, safetensorToF32, writeSafetensors, type TensorToWrite } from '../model/safetensors.ts';
import { checkName, type Checkpoint, type CheckpointStorage } from './checkpoint.ts';

const MANIFEST = 'manifest.json';
const TENSORS = 'tensors.safetensors';

export class FolderCheckpointStorage implements CheckpointStorage {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async save(name: string, checkpoint: Checkpoint): Promise<void> {
    const target = join(this.root, checkName(name));
    const suffix = `${Date.now().toString(36)}-${Math.floor(Math.random() * 2 ** 32).toString(36)}`;
    const temp = `${target}.tmp-${suffix}`;
    const old = `${target}.old-${suffix}`;
    const tensors: Record<string, TensorToWrite> = {};
    for (const [k, data] of Object.entries(checkpoint.tensors)) tensors[k] = { shape: [data.length], data };
    await mkdir(this.root, { recursive: true });
    try {
      await mkdir(temp);
      await writeFile(join(temp, TENSORS), writeSafetensors(tensors));
      // The manifest goes last: a folder with a manifest is complete.
      await writeFile(join(temp, MANIFEST), JSON.stringify(checkpoint.json, null, 1));
      const exists = await stat(target).then(() => true, () => false);
      if (exists) await rename(target, old);
      await rename(temp, target);
      if (exists) await rm(old, { recursive: true, force: true });
    } catch (e) {
      await rm(temp, { recursive: true, force: true });
      throw e;
    }
  }

  async load(name: string): Promise<Checkpoint | null> {
    const target = join(this.root, checkName(name));
    if (await isComplete(target)) return readFolder(target);
    // A save killed between its two renames: the previous checkpoint is complete under .old-*.
    const leftovers = await readdir(this.root).catch(() => [] as string[]);
    for (const entry of leftovers.filter((e) => e.startsWith(`${name}.old-`)).sort().reverse()) {
      const folder = join(this.root, entry);
      if (await isComplete(folder)) {
        await rename(folder, target);
        return readFolder(target);
      }
    }
    return null;
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.root, checkName(name)), { recursive: true, force: true });
  }
}

async function isComplete(folder: string): Promise<boolean> {
  return stat(join(folder, MANIFEST)).then((s) => s.isFile(), () => false);
}

async function readFolder(folder: string): Promise<Checkpoint> {
  const manifestPath = join(folder, MANIFEST);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (e) {
    throw new CheckpointFormatError(manifestPath, 0, `not valid JSON: ${(e as Error).message}`);
  }
  const tensorsPath = join(folder, TENSORS);
  const file = parseSafetensors(new Uint8Array(await readFile(tensorsPath)), tensorsPath);
  const tensors: Record<string, Float32Array> = {};
  for (const [k, t] of file.tensors) tensors[k] = safetensorToF32(t, tensorsPath).slice();
  return { json, tensors };
}
