// Model sources that need a file system (Node, Deno through node: built-ins): local paths, and a download
// cache for URLs (~/.cache/xtf-webgpu/<sha256 of the URL>, or $XTF_CACHE_DIR). The only module under
// src/model that touches the disk.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { env } from 'node:process';
import { basename, dirname, join, resolve } from 'node:path';
import { ModelSourceError } from './errors.ts';
import {
  type Downloader, type LoadOptions, type LoadedModel, type ModelFiles, type ModelInput, type ProgressCallback,
  fetchBytes, isUrl, loadFromFiles, loadModel as loadModelFromInput,
} from './source.ts';

export interface FsLoadOptions extends LoadOptions {
  /** Where downloads are kept (default $XTF_CACHE_DIR, else ~/.cache/xtf-webgpu); false: no cache. */
  cacheDir?: string | false;
}

/**
 * Loads a model from a local path (a llama2.c .bin with its tokenizer beside it, a Hugging Face folder or
 * one of its files, a .gguf file), an http(s) URL (downloaded once into the cache), or anything
 * source.ts's loadModel takes. `options.tokenizer` may be a local path.
 */
export async function loadModel(input: ModelInput | URL, options: FsLoadOptions = {}): Promise<LoadedModel> {
  const download = options.cacheDir === false ? options.download : cachedDownloader(options.cacheDir ?? defaultCacheDir(), options.fetch);
  let tokenizer = options.tokenizer;
  if (typeof tokenizer === 'string' && !isUrl(tokenizer)) tokenizer = await readLocal(resolve(tokenizer));
  const opts: LoadOptions = { ...options, tokenizer, download };
  const target = input instanceof URL ? input.toString() : input;
  if (typeof target !== 'string' || isUrl(target)) return loadModelFromInput(target, opts);

  const path = resolve(target);
  const info = await stat(path).catch(() => {
    throw new ModelSourceError(target, 'does not exist');
  });
  if (info.isDirectory()) return loadFromFiles(directoryFiles(path, options.onProgress), undefined, opts);
  return loadFromFiles(directoryFiles(dirname(path), options.onProgress), basename(path), opts);
}

export function defaultCacheDir(): string {
  return env.XTF_CACHE_DIR || join(homedir(), '.cache', 'xtf-webgpu');
}

/** A local directory as ModelFiles. */
export function directoryFiles(dir: string, onProgress?: ProgressCallback): ModelFiles {
  return {
    label: dir,
    list: async () => (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name),
    read: async (file) => {
      const bytes = await readLocal(join(dir, file)).catch((e: { code?: string }) => {
        if (e.code === 'ENOENT') return null;
        throw e;
      });
      if (bytes) onProgress?.({ file, loaded: bytes.byteLength, total: bytes.byteLength });
      return bytes;
    },
  };
}

async function readLocal(path: string): Promise<Uint8Array> {
  const b = await readFile(path);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Downloads through a directory cache: <dir>/<sha256(url)> holds the bytes, <dir>/<sha256(url)>.missing
 * remembers a 404 (so probing a folder for optional files costs nothing the second time). Entries are
 * written to a temporary name and renamed, so a crash never leaves a partial file under the final name.
 */
export function cachedDownloader(dir: string, fetchImpl?: typeof fetch): Downloader {
  return async (url, onProgress) => {
    const key = createHash('sha256').update(url).digest('hex');
    const file = join(dir, key), missing = `${file}.missing`;
    const hit = await readFile(file).catch(() => null);
    if (hit) {
      onProgress?.({ file: url, loaded: hit.byteLength, total: hit.byteLength, cached: true });
      return new Uint8Array(hit.buffer, hit.byteOffset, hit.byteLength);
    }
    if (await stat(missing).then(() => true, () => false)) return null;
    const bytes = await fetchBytes(url, onProgress, fetchImpl);
    await mkdir(dir, { recursive: true });
    await writeAtomic(bytes ? file : missing, bytes ?? new TextEncoder().encode(url + '\n'));
    return bytes;
  };
}

async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(temp, bytes);
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  }
}

/**
 * Writes `files` as the directory `dir`: everything goes into a temporary sibling first, which is renamed
 * into place only when complete. An existing `dir` is an error unless `overwrite` (then it is replaced whole).
 */
export async function writeFolderAtomic(dir: string, files: Record<string, Uint8Array>, { overwrite = false } = {}): Promise<void> {
  const target = resolve(dir);
  const exists = await stat(target).then(() => true, () => false);
  if (exists && !overwrite) throw new ModelSourceError(target, 'already exists; choose another output folder or allow overwriting (--force)');
  const suffix = randomBytes(6).toString('hex');
  const temp = `${target}.tmp-${suffix}`;
  await mkdir(dirname(target), { recursive: true });
  try {
    await mkdir(temp);
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(temp, name), bytes);
    if (exists) {
      const old = `${target}.old-${suffix}`;
      await rename(target, old);
      await rename(temp, target);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(temp, target);
    }
  } catch (e) {
    await rm(temp, { recursive: true, force: true });
    throw e;
  }
}
