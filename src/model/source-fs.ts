// Model sources that need a file system (Node, Deno through node: built-ins): local paths, and a download
// cache for URLs (~/.cache/xtf-webgpu/<sha256 of the URL>, or $XTF_CACHE_DIR). The only module under
// src/model that touches the disk.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { env } from 'node:process';
import { basename, dirname, join, resolve } from 'node:path';
import { DownloadError, ModelError, ModelSourceError, formatCount } from './errors.ts';
import {
  type Downloader, type LoadOptions, type LoadedModel, type ModelFiles, type ModelInput, type ProgressCallback,
  isUrl, loadFromFiles, loadModel as loadModelFromInput, withProgress,
} from './source.ts';
import type { ByteSource } from './safetensors.ts';
import { streamDownload, type DownloadOptions } from './download.ts';

export interface FsLoadOptions extends LoadOptions, CacheOptions {
  /** Where downloads are kept (default $XTF_CACHE_DIR, else ~/.cache/xtf-webgpu); false: no cache. */
  cacheDir?: string | false;
}

/** How the download cache is used (FsLoadOptions; cachedDownloader). */
export interface CacheOptions {
  /**
   * Download every URL again even when it is cached, replacing the cached copy once the new download is
   * complete and valid (a failed download leaves the old copy in place).
   */
  refresh?: boolean;
  /**
   * Never touch the network: URLs are served from the cache only, and a file that is not there fails at
   * once with a DownloadError naming the cache file looked for.
   */
  offline?: boolean;
}

/**
 * Loads a model from a local path (a llama2.c .bin with its tokenizer beside it, a Hugging Face folder or
 * one of its files, a .gguf file), an http(s) URL (downloaded once into the cache), or anything
 * source.ts's loadModel takes. `options.tokenizer` may be a local path.
 */
export async function loadModel(input: ModelInput | URL, options: FsLoadOptions = {}): Promise<LoadedModel> {
  const served = new Map<string, string>(); // URL -> cache file, for messages about what was read from the cache
  let download = options.download;
  let openDownload = options.openDownload;
  if (options.cacheDir !== false) {
    const dir = options.cacheDir ?? defaultCacheDir();
    const cacheOptions = { ...options, served };
    download = cachedDownloader(dir, cacheOptions);
    // Weight files are read from the cached copy by byte ranges.
    openDownload = async (url, onProgress) => {
      const path = await cachedFile(dir, url, onProgress, cacheOptions);
      if (path === null) return null;
      served.set(url, path);
      return fileByteSource(path, url);
    };
  } else if (options.offline) {
    download = async (url) => {
      throw new DownloadError(url, 'offline', 'cannot be read offline without the download cache (cacheDir is false)');
    };
  }
  let tokenizer = options.tokenizer;
  if (typeof tokenizer === 'string' && !isUrl(tokenizer)) tokenizer = await readTokenizerFile(tokenizer);
  const opts: LoadOptions = { ...options, tokenizer, download, openDownload };
  const target = input instanceof URL ? input.toString() : input;
  if (typeof target !== 'string' || isUrl(target)) {
    try {
      return await loadModelFromInput(target, opts);
    } catch (e) {
      throw withCachedCopies(e, served);
    }
  }

  const path = resolve(target);
  const info = await stat(path).catch(() => {
    throw new ModelSourceError(target, 'does not exist');
  });
  if (info.isDirectory()) return loadFromFiles(directoryFiles(path, options.onProgress), undefined, opts);
  return loadFromFiles(directoryFiles(dirname(path), options.onProgress), basename(path), opts);
}

/** A model error about a file that came from the download cache also names the cached copy and the way out. */
function withCachedCopies(e: unknown, served: ReadonlyMap<string, string>): unknown {
  if (!(e instanceof ModelError) || e instanceof DownloadError) return e;
  const copies = [...served].filter(([url]) => e.message.includes(url));
  if (copies.length > 0) {
    e.message += ` [read from the download cache: ${copies.map(([url, path]) => `${path} for ${url}`).join('; ')}; the refresh option downloads it again]`;
  }
  return e;
}

export function defaultCacheDir(): string {
  return env.XTF_CACHE_DIR || join(homedir(), '.cache', 'xtf-webgpu');
}

/** A local tokenizer path (--tokenizer): its bytes, or a typed error naming the path and what is expected. */
async function readTokenizerFile(given: string): Promise<Uint8Array> {
  const path = resolve(given);
  const expected = 'expected a llama2.c tokenizer file (e.g. tok512.bin from llama2.c, or tokenizer.bin); check the path given as the tokenizer (--tokenizer)';
  const info = await stat(path).catch((e: { code?: string; message?: string }) => {
    throw new ModelSourceError(path, e.code === 'ENOENT' ? `does not exist; ${expected}` : `cannot be read (${e.message}); ${expected}`);
  });
  if (!info.isFile()) throw new ModelSourceError(path, `is ${info.isDirectory() ? 'a directory' : 'not a regular file'}; ${expected}`);
  return readLocal(path);
}

/**
 * A file on disk read by byte ranges: nothing is read until asked, so a file of any size (a 2.5 GB
 * model.safetensors, past one Buffer's reach) is read one tensor at a time. Each read opens and closes
 * the file, so there is no handle to release.
 */
export async function fileByteSource(path: string, name = path): Promise<ByteSource> {
  const size = (await stat(path)).size;
  return {
    name,
    size,
    read: async (start, end) => {
      start = Math.max(0, Math.min(start, size));
      end = Math.max(start, Math.min(end, size));
      const out = new Uint8Array(end - start);
      const handle = await open(path, 'r');
      try {
        let filled = 0;
        while (filled < out.byteLength) {
          // At most 1 GiB per call: the platform's read() limit is 2 GiB.
          const { bytesRead } = await handle.read(out, filled, Math.min(out.byteLength - filled, 1 << 30), start + filled);
          if (bytesRead === 0) break;
          filled += bytesRead;
        }
        return filled === out.byteLength ? out : out.subarray(0, filled);
      } finally {
        await handle.close();
      }
    },
  };
}

/** A local directory as ModelFiles. */
export function directoryFiles(dir: string, onProgress?: ProgressCallback): ModelFiles {
  return {
    label: dir,
    open: async (file) => {
      const src = await fileByteSource(join(dir, file)).catch((e: { code?: string }) => {
        if (e.code === 'ENOENT') return null;
        throw e;
      });
      return src && withProgress(src, file, onProgress);
    },
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

/** What a cache entry's sidecar (<key>.json) records about the download it holds. */
interface CacheRecord {
  url: string;
  size: number;
  downloadedAt: string;
}

export interface CachedDownloaderOptions extends DownloadOptions, CacheOptions {
  /** Filled with URL -> cache file for every file served (downloaded or cached). */
  served?: Map<string, string>;
}

/**
 * Downloads through a directory cache. <dir>/<sha256(url)> holds the bytes and <dir>/<sha256(url)>.json
 * records the download; only a complete, valid download gets there: it streams into a temporary file in
 * the cache directory, which is renamed into place only when the status was OK, it was no HTML page and
 * its size matches Content-Length. An entry without its record (an interrupted write, or an older version
 * of this cache that kept error pages) is downloaded again. A 404 is never cached as such: online, the
 * server is asked every time; <key>.missing notes it only so that offline runs know the file does not exist.
 */
export function cachedDownloader(dir: string, options: CachedDownloaderOptions | typeof fetch = {}): Downloader {
  const opts: CachedDownloaderOptions = typeof options === 'function' ? { fetch: options } : options;
  return async (url, onProgress) => {
    const path = await cachedFile(dir, url, onProgress, opts);
    if (path === null) return null;
    opts.served?.set(url, path);
    const bytes = await readFile(path).catch((e: Error) => {
      throw new DownloadError(url, 'cache', `cannot read the cached copy: ${e.message}`, path);
    });
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** The cache file of `url`, downloaded first unless a valid copy is there (see cachedDownloader); null on 404. */
export async function cachedFile(dir: string, url: string, onProgress?: ProgressCallback, options: CachedDownloaderOptions = {}): Promise<string | null> {
  const key = createHash('sha256').update(url).digest('hex');
  const file = join(dir, key), recordFile = `${file}.json`, missing = `${file}.missing`;

  if (!options.refresh) {
    const size = await stat(file).then((s) => s.size, () => undefined);
    const record = await readFile(recordFile, 'utf8').then((t) => JSON.parse(t) as CacheRecord, () => undefined);
    if (size !== undefined && record && record.url === url && record.size === size) {
      onProgress?.({ file: url, loaded: size, total: size, cached: true });
      return file;
    }
    if (options.offline) {
      if (size === undefined && (await stat(missing).then(() => true, () => false))) return null; // the server said 404 when last asked
      throw new DownloadError(url, 'offline', size === undefined
        ? 'is not in the download cache, and offline mode does not download: run once without offline to fetch it'
        : record && record.url === url
          ? `the cached copy is ${formatCount(size)} bytes, but ${formatCount(record.size)} were downloaded: it is damaged; run once without offline to fetch it again`
          : 'the cached copy was not verified as a complete download (written by an older version or interrupted); run once without offline to fetch it again', file);
    }
  } else if (options.offline) {
    throw new DownloadError(url, 'offline', 'refresh and offline exclude each other: refreshing downloads the file again', file);
  }

  const cacheError = (e: unknown) => (e instanceof DownloadError
    ? new DownloadError(url, e.reason, `${e.detail}; nothing was cached`, file)
    : new DownloadError(url, 'cache', `cannot write the download cache: ${(e as Error).message}`, file));
  await mkdir(dir, { recursive: true }).catch((e) => {
    throw cacheError(e);
  });
  const temp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  let handle;
  try {
    handle = await open(temp, 'wx');
  } catch (e) {
    throw cacheError(e);
  }
  let result;
  try {
    const h = handle;
    result = await streamDownload(url, async (chunk) => {
      await h.write(chunk);
    }, onProgress, options);
    await handle.close();
    handle = undefined;
    if (result !== null) {
      const written = (await stat(temp)).size;
      if (written !== result.bytes) throw new Error(`${formatCount(written)} of ${formatCount(result.bytes)} bytes reached the disk`);
    }
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await unlink(temp).catch(() => undefined);
    throw cacheError(e);
  }
  try {
    if (result === null) {
      await unlink(temp);
      // The server says there is no such file: forget any copy, and note the answer for offline runs.
      await rm(recordFile, { force: true });
      await rm(file, { force: true });
      await writeAtomic(missing, new TextEncoder().encode(`${url}\n404 at ${new Date().toISOString()}\n`));
      return null;
    }
    await rename(temp, file);
    const record: CacheRecord = { url, size: result.bytes, downloadedAt: new Date().toISOString() };
    await writeAtomic(recordFile, new TextEncoder().encode(JSON.stringify(record) + '\n'));
    await rm(missing, { force: true });
    return file;
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw cacheError(e);
  }
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
