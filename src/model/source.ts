// Where a model comes from, for every runtime (browser included): a set of files (dropped Files, a custom
// reader) or an http(s) URL, read through fetch with progress. It detects the format and hands the bytes
// to the llama2.c, Hugging Face or GGUF loader. Local paths and the download cache live in source-fs.ts.

import type { LlamaConfig } from './config.ts';
import { fetchBytes, type DownloadOptions } from './download.ts';
import { ModelSourceError, TokenizerFormatError, UnsupportedModelError, formatCount } from './errors.ts';
import { loadGguf } from './gguf.ts';
import { type ByteSource, byteSource } from './safetensors.ts';
import { loadHfFolder } from './hf.ts';
import { parseLlama2cCheckpoint } from './llama2c.ts';
import { parseLlama2cTokenizer } from './tokenizer-llama2c.ts';
import type { Tokenizer } from './tokenizer.ts';
import type { LlamaWeights } from './weights.ts';

export type ModelFormat = 'llama2c' | 'hf' | 'gguf';

export interface LoadedModel {
  config: LlamaConfig;
  weights: LlamaWeights;
  tokenizer: Tokenizer;
  format: ModelFormat;
  /** What was loaded, for messages: a path, URL or file name. */
  source: string;
  /** Things the loader ignored, each naming what and why (e.g. rotary inv_freq buffers); also given to onWarning. */
  warnings: string[];
}

export interface LoadProgress {
  /** The file being read (name within the folder, or URL). */
  file: string;
  loaded: number;
  /** Total bytes when known. */
  total?: number;
  /** Served from the local download cache (Node/Deno). */
  cached?: boolean;
}

export type ProgressCallback = (p: LoadProgress) => void;

/** Downloads one URL: its bytes, or null when the server says 404 (the file does not exist). */
export type Downloader = (url: string, onProgress?: ProgressCallback) => Promise<Uint8Array | null>;

export interface LoadOptions extends DownloadOptions {
  onProgress?: ProgressCallback;
  /** Called with each warning of the loaded model (see LoadedModel.warnings); default console.warn. */
  onWarning?: (message: string) => void;
  /**
   * llama2.c only: the tokenizer, when it is not beside the checkpoint as tok*.bin / tokenizer.bin — a file
   * name in the same folder (or a URL), or the bytes.
   */
  tokenizer?: string | Blob | Uint8Array;
  /** Replaces the plain download of URLs (source-fs.ts adds a disk cache this way). */
  download?: Downloader;
  /**
   * Opens a URL for reading by byte ranges (source-fs.ts: the cached download on disk), so that large
   * weight files are never read whole; null on 404. Without it, URLs are downloaded into memory.
   */
  openDownload?: (url: string, onProgress?: ProgressCallback) => Promise<ByteSource | null>;
}

/** A folder-like set of files, read by relative name. */
export interface ModelFiles {
  /** For messages: the folder path, URL base or "dropped files". */
  label: string;
  /** The file's bytes, or null when the folder has no such file. */
  read(file: string): Promise<Uint8Array | null>;
  /** The file names, when the source can list them (URLs cannot). */
  list?(): Promise<string[]>;
  /** The file for reading by byte ranges (large weights are read one tensor at a time); null when missing. */
  open?(file: string): Promise<ByteSource | null>;
}

export type ModelInput = string | Blob | readonly File[] | ModelFiles;

/**
 * Loads a model from an http(s) URL (a file, a folder base ending in "/", or a Hugging Face repo URL), a
 * single File/Blob (GGUF, or a llama2.c checkpoint with options.tokenizer), a list of Files (a dropped
 * folder), or any ModelFiles.
 */
export async function loadModel(input: ModelInput, options: LoadOptions = {}): Promise<LoadedModel> {
  if (typeof input === 'string') {
    if (!isUrl(input)) throw new ModelSourceError(input, 'is not an http(s) URL; local paths load through source-fs.ts (Node, Deno)');
    const { files, entry } = urlFiles(input, options);
    return loadFromFiles(files, entry, options);
  }
  if (input instanceof Blob) {
    const name = (input as File).name || 'model';
    return loadFromFiles(fileSet([new File([input], name)], options.onProgress), name, options);
  }
  if (Array.isArray(input)) return loadFromFiles(fileSet(input as readonly File[], options.onProgress), undefined, options);
  return loadFromFiles(input as ModelFiles, undefined, options);
}

export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/** Which loader a file name (or its first bytes) calls for. */
export function formatOfFile(name: string, head?: Uint8Array): ModelFormat | undefined {
  if (head && head.length >= 4 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46) return 'gguf'; // "GGUF"
  if (/\.gguf$/i.test(name)) return 'gguf';
  if (/(^|\/)(config\.json|model\.safetensors\.index\.json)$|\.safetensors$/i.test(name)) return 'hf';
  if (/\.bin$/i.test(name)) return 'llama2c';
  return undefined;
}

const TOKENIZER_BIN = /^(tok[^/]*|tokenizer)\.bin$/i;

/** Loads from a folder of files; `entry` names the file the user pointed at, if any. */
export async function loadFromFiles(files: ModelFiles, entry: string | undefined, options: LoadOptions = {}): Promise<LoadedModel> {
  let format: ModelFormat | undefined;
  if (entry !== undefined) {
    format = formatOfFile(entry);
    if (format === undefined) {
      const bytes = await files.read(entry);
      if (!bytes) throw new ModelSourceError(`${files.label}/${entry}`, 'does not exist');
      format = formatOfFile(entry, bytes.subarray(0, 4));
    }
    if (format === undefined) {
      throw new ModelSourceError(`${files.label}/${entry}`, 'is not a model file this loader knows: expected a .gguf file, a llama2.c .bin checkpoint or a Hugging Face folder (config.json)');
    }
  } else {
    const names = files.list ? await files.list() : undefined;
    if (!names || names.includes('config.json')) {
      format = 'hf';
    } else {
      const ggufs = names.filter((n) => /\.gguf$/i.test(n));
      const checkpoints = names.filter((n) => /\.bin$/i.test(n) && !TOKENIZER_BIN.test(n));
      const candidates = [...ggufs.map((n) => ['gguf', n] as const), ...checkpoints.map((n) => ['llama2c', n] as const)];
      if (candidates.length !== 1) {
        throw new ModelSourceError(files.label, candidates.length === 0
          ? `holds no model: expected config.json (Hugging Face), a .gguf file or a llama2.c .bin checkpoint; found ${names.join(', ') || 'nothing'}`
          : `holds several models (${candidates.map((c) => c[1]).join(', ')}); name the file to load`);
      }
      [format, entry] = candidates[0];
    }
  }

  const source = entry === undefined ? files.label : `${files.label}/${entry}`;
  const model = await loadFormat(files, format, entry, source, options);
  for (const w of model.warnings) (options.onWarning ?? ((m: string) => console.warn(`warning: ${m}`)))(w);
  // Padded embeddings (Qwen: 151,936 rows for 151,665 tokens) are fine; tokens without a row are not.
  if (model.tokenizer.vocabSize > model.config.vocabSize) {
    throw new UnsupportedModelError(source, `the tokenizer has ${formatCount(model.tokenizer.vocabSize)} tokens but the model only ` +
      `${formatCount(model.config.vocabSize)} embedding rows; they do not belong together`);
  }
  return model;
}

async function loadFormat(files: ModelFiles, format: ModelFormat, entry: string | undefined, source: string, options: LoadOptions): Promise<LoadedModel> {
  if (format === 'hf') {
    const m = await loadHfFolder((f) => files.read(f), files.label, files.open && ((f) => files.open!(f)));
    return { config: m.config, weights: m.weights, tokenizer: m.tokenizer, format, source, warnings: m.warnings };
  }
  if (format === 'gguf') {
    const src = files.open ? await files.open(entry!) : await files.read(entry!).then((b) => b && byteSource(b, source));
    if (!src) throw new ModelSourceError(source, 'does not exist');
    const m = await loadGguf({ name: source, size: src.size, read: (start, end) => src.read(start, end) });
    return { config: m.config, weights: m.weights, tokenizer: m.tokenizer, format, source, warnings: m.warnings };
  }
  const bytes = await files.read(entry!);
  if (!bytes) throw new ModelSourceError(source, 'does not exist');
  const weights = parseLlama2cCheckpoint(bytes, { name: source });
  const tokenizer = await llama2cTokenizerBeside(files, entry!, weights.config.vocabSize, options);
  return { config: weights.config, weights, tokenizer, format, source, warnings: [] };
}

/** The llama2.c tokenizer: options.tokenizer, else tok*.bin / tokenizer.bin beside the checkpoint. */
async function llama2cTokenizerBeside(files: ModelFiles, checkpoint: string, vocabSize: number, options: LoadOptions): Promise<Tokenizer> {
  const given = options.tokenizer;
  if (given instanceof Uint8Array || given instanceof Blob) {
    const bytes = given instanceof Blob ? new Uint8Array(await given.arrayBuffer()) : given;
    return parseLlama2cTokenizer(bytes, { name: (given as File).name || 'tokenizer', vocabSize });
  }
  if (typeof given === 'string') {
    const bytes = isUrl(given) ? await download(given, options) : await files.read(given);
    if (!bytes) throw new ModelSourceError(isUrl(given) ? given : `${files.label}/${given}`, 'does not exist; expected the llama2.c tokenizer file (e.g. tok512.bin)');
    return parseLlama2cTokenizer(bytes, { name: given, vocabSize });
  }
  // A folder that can be listed offers its tok*.bin files; a URL folder gets llama2.c's two usual names.
  const names = files.list
    ? (await files.list()).filter((n) => TOKENIZER_BIN.test(n) && n !== checkpoint).sort((a, b) => Number(b === `tok${vocabSize}.bin`) - Number(a === `tok${vocabSize}.bin`))
    : [`tok${vocabSize}.bin`, 'tokenizer.bin'];
  const problems: string[] = [];
  for (const name of names) {
    const bytes = await files.read(name);
    if (!bytes) continue;
    try {
      return parseLlama2cTokenizer(bytes, { name: `${files.label}/${name}`, vocabSize });
    } catch (e) {
      if (!(e instanceof TokenizerFormatError)) throw e;
      problems.push(e.message);
    }
  }
  throw new ModelSourceError(`${files.label}/${checkpoint}`, `no llama2.c tokenizer with ${formatCount(vocabSize)} tokens beside the checkpoint ` +
    `(looked for ${names.join(', ') || 'tok*.bin, tokenizer.bin'})${problems.length ? `: ${problems.join('; ')}` : ''}; pass the tokenizer explicitly (--tokenizer)`);
}

/** Dropped or picked files, by name (a folder picker's webkitRelativePath keeps only the last segment). */
export function fileSet(list: readonly File[], onProgress?: ProgressCallback): ModelFiles {
  const byName = new Map(list.map((f) => [f.name, f]));
  return {
    label: list.length === 1 ? list[0].name : 'selected files',
    list: async () => [...byName.keys()],
    read: async (name) => {
      const f = byName.get(name);
      if (!f) return null;
      const bytes = new Uint8Array(await f.arrayBuffer());
      onProgress?.({ file: name, loaded: bytes.byteLength, total: bytes.byteLength });
      return bytes;
    },
    open: async (name) => {
      const f = byName.get(name);
      return f ? withProgress(byteSource(f, name), name, onProgress) : null;
    },
  };
}

/** `src`, reporting the bytes read so far (of its size) after each read. */
export function withProgress(src: ByteSource, file: string, onProgress?: ProgressCallback): ByteSource {
  if (!onProgress) return src;
  let loaded = 0;
  return {
    name: src.name,
    size: src.size,
    read: async (start, end) => {
      const bytes = await src.read(start, end);
      loaded = Math.min(src.size, loaded + bytes.byteLength);
      onProgress({ file, loaded, total: src.size });
      return bytes;
    },
  };
}

/**
 * A URL as a folder plus the file it names. ".../x.gguf" and ".../x.bin" are files in their folder;
 * ".../config.json", "*.safetensors" and "*.index.json" mean the Hugging Face folder around them; a URL
 * ending in "/" is a folder; "https://huggingface.co/org/name" is read from its resolve/main/ folder.
 */
export function urlFiles(url: string, options: LoadOptions = {}): { files: ModelFiles; entry: string | undefined } {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  const segments = u.pathname.split('/');
  const last = segments[segments.length - 1];
  let entry: string | undefined;
  if (last === '') {
    // already a folder
  } else if (/\.(gguf|bin)$/i.test(last)) {
    entry = decodeURIComponent(last);
    segments[segments.length - 1] = '';
  } else if (/\.(json|safetensors)$/i.test(last)) {
    segments[segments.length - 1] = '';
  } else if (u.hostname === 'huggingface.co' && !u.pathname.includes('/resolve/') && segments.length === 3) {
    segments.push('resolve', 'main', '');
  } else {
    segments.push('');
  }
  u.pathname = segments.join('/');
  const base = u.toString();
  return {
    entry,
    files: {
      label: base.replace(/\/$/, ''),
      read: (file) => download(new URL(file, base).toString(), options),
      ...(options.openDownload ? { open: (file: string) => options.openDownload!(new URL(file, base).toString(), options.onProgress) } : {}),
    },
  };
}

function download(url: string, options: LoadOptions): Promise<Uint8Array | null> {
  return (options.download ?? ((u, p) => fetchBytes(u, p, options)))(url, options.onProgress);
}
