// Typed failures of the model layer. Each message names the file or field, what was expected and what was found.

export class ModelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A model configuration that cannot describe a working network (e.g. dim not divisible by nHeads). */
export class ModelConfigError extends ModelError {
  constructor(public readonly field: string, public readonly problem: string, source = 'model config') {
    super(`${source}: ${field} ${problem}`);
  }
}

/** A checkpoint whose bytes do not match what its header promises. */
export class CheckpointFormatError extends ModelError {
  constructor(
    public readonly file: string,
    public readonly byteOffset: number,
    detail: string,
    /** The header or config field found to be wrong (e.g. 'n_layers'), when one is to blame. */
    public readonly field?: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** A tokenizer file that is malformed (truncated, negative lengths, wrong vocabulary size, a bad JSON field). */
export class TokenizerFormatError extends ModelError {
  constructor(
    public readonly file: string,
    public readonly byteOffset: number,
    detail: string,
    /** The JSON field at fault (e.g. 'model.merges[3]'), for tokenizer.json. */
    public readonly field?: string,
  ) {
    super(`${file}: ${detail}`);
  }
}

/** 1056540 -> "1,056,540": byte counts in messages are read by people. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A checkpoint that is well-formed but describes something this runtime does not implement (yet). */
export class UnsupportedModelError extends ModelError {
  constructor(public readonly source: string, detail: string) {
    super(`${source}: ${detail}`);
  }
}

/** A weight the model needs that the checkpoint lacks, or stores with a different shape. */
export class WeightMismatchError extends ModelError {
  constructor(
    public readonly source: string,
    /** The tensor's name in the checkpoint (e.g. model.layers.0.self_attn.q_proj.weight). */
    public readonly tensor: string,
    public readonly expected: readonly number[],
    /** null when the tensor is missing. */
    public readonly found: readonly number[] | null,
  ) {
    super(found === null
      ? `${source}: tensor ${tensor} (shape [${expected.join(', ')}]) is missing`
      : `${source}: tensor ${tensor} has shape [${found.join(', ')}], expected [${expected.join(', ')}]`);
  }
}

/**
 * Tensors a checkpoint stores that the model does not use: the config does not describe these weights
 * (e.g. a layer past num_hidden_layers), or the architecture has parts this runtime does not implement.
 */
export class UnusedTensorsError extends ModelError {
  constructor(public readonly source: string, public readonly tensors: readonly string[], detail: string) {
    super(`${source}: ${detail}`);
  }
}

/** A model location that cannot be read: nothing recognisable there, a missing companion file, an HTTP error. */
export class ModelSourceError extends ModelError {
  constructor(public readonly source: string, detail: string) {
    super(`${source}: ${detail}`);
  }
}

/** Why a download failed (see DownloadError). */
export type DownloadFailure = 'timeout' | 'http' | 'html' | 'truncated' | 'network' | 'offline' | 'cache';

/**
 * A URL that could not be downloaded (or, offline, is not in the download cache). Names the URL, what
 * happened and, when the download cache is involved, the cache file it concerns.
 */
export class DownloadError extends ModelSourceError {
  constructor(
    public readonly url: string,
    public readonly reason: DownloadFailure,
    /** The message without the URL and cache path. */
    public readonly detail: string,
    /** The download cache file concerned, when there is a cache. */
    public readonly cachePath?: string,
  ) {
    super(url, cachePath === undefined ? detail : `${detail} (cache file ${cachePath})`);
  }
}
