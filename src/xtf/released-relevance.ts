// Task relevance as the authors' released script computes it (github.com/EonHao/XTF, XTF_script.py and
// utils/ScoreR.py, MIT): restated from reading that code, not ported. The paper's text (XTF.md §3,
// ./task-relevance.ts) uses input-embedding rows and a domain vector over the labels' tokens instead.
//
// What the script does, and what this file does the same way:
// - A token's vector is the model's LAST HIDDEN STATE (the final RMSNorm's output, what Hugging Face
//   returns as the last of `hidden_states`) with the token run ALONE: a one-token sequence, no BOS, no
//   context. Here: batches of [B, 1] forwards on the GPU.
// - A token TYPE is keyed by its decoded text (special tokens decoded to nothing) with surrounding
//   whitespace stripped by Python's str.strip() rules (pythonStrip), so " the" and "the" are one type.
// - Ids sharing a key share ONE vector: the script walks the data's token ids in order (every example's
//   full sequence, prompt and BOS included) and computes a vector only for the first id it meets with a
//   given key; every later id with that key, whatever its own vector, gets that first id's similarity.
//   Here the first id of `tokenIds` with a key is that type's representative, so pass the ids in the
//   order they first occur in the scored data to match the script. Not a mean, not one vector per id.
//   (Consequence kept on purpose: BOS, EOS and whitespace-only tokens such as a lone "\n" all key to "",
//   one type, whose vector is the first of them met.)
// - A domain word's vector is the MEAN over its tokens' last hidden states with the word run alone as
//   one sequence (its tokens attend to each other; no BOS, no EOS): encode(word, { bos: false, eos: false }).
//   The domain vector is the plain mean of the word vectors (a word listed twice counts twice).
// - A word that encodes to no token is skipped (the script prints a warning and goes on); when no word
//   is left (or the list is empty) the script raises, and so do we (ReleasedRelevanceError, naming them).
// - Score: cosine similarity to the domain vector, as torch.nn.functional.cosine_similarity computes it
//   (each norm clamped below at 1e-8). Here in float64 on the host from the f32 hidden states read back.
import type { Tokenizer } from '../model/tokenizer.ts';
import { scoringModel, type Scorable } from './scoring-model.ts';

/** No usable domain words: the list is empty, or none of its words encodes to any token. */
export class ReleasedRelevanceError extends Error {
  override name = 'ReleasedRelevanceError';
  constructor(
    message: string,
    /** The words given (all of them encode to nothing; empty when the list was empty). */
    readonly words: readonly string[],
  ) {
    super(message);
  }
}

export interface ReleasedRelevanceOptions {
  /** The token ids that occur in the scored data, ideally in order of first occurrence (it picks each
   *  type's representative; see the file comment). Repeats are ignored. */
  tokenIds: readonly number[];
  /** The domain words (e.g. ./domain-words.ts's lists). */
  domainWords: readonly string[];
  /** Sequences per forward: single tokens per [B, 1] batch, domain words per right-padded batch. Default 256. */
  batchSize?: number;
}

export interface ReleasedType {
  /** The decoded, whitespace-stripped text. */
  key: string;
  /** The representative: the first id of tokenIds with this key; its vector stands for the type. */
  id: number;
  /** Every id of tokenIds with this key, in first-seen order (starts with `id`). */
  ids: number[];
  /** Cosine similarity of the representative's vector to the domain vector. */
  similarity: number;
}

export interface ReleasedRelevance {
  /** [model vocabSize]: per token id of tokenIds, its type's similarity; NaN for ids not given. */
  similarity: Float64Array;
  /** The types, in order of their representatives' first appearance in tokenIds. */
  types: ReleasedType[];
  /** [dim] mean of the word vectors. */
  domainVector: Float64Array;
  /** The domain words averaged (in list order, repeats kept). */
  domainWords: string[];
  /** The words skipped because they encode to no token. */
  skippedWords: string[];
}

// A [256, 1] forward is a few hundred rows: each forward costs mostly its ~60 dispatches and one read,
// so fewer, larger batches (GSM8K's ~400 token types: 2 forwards, not 7).
export const RELEASED_RELEVANCE_BATCH = 256;

// Python's str.isspace() characters (what str.strip() removes); JS's trim() differs (it strips U+FEFF
// and keeps U+001C–U+001F and U+0085).
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python's str.strip() with no argument. */
export function pythonStrip(text: string): string {
  return text.replace(PY_STRIP, '');
}

/** A token id's type key: its decoded text (BOS/EOS decode to nothing), stripped as Python strips. */
export function releasedTypeKey(tokenizer: Tokenizer, id: number): string {
  return pythonStrip(tokenizer.decode([id]));
}

function checkBatchSize(batchSize: number): number {
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  return batchSize;
}

/**
 * Runs each sequence ALONE (no BOS added, no context), `batchSize` sequences per forward, right-padded
 * with id 0 (causal attention: padding after a sequence cannot change its positions), and calls
 * `onSequence(index, rows)` with its final hidden states, rows [length, dim] row-major (a view that is
 * only valid during the call).
 */
export async function finalHiddenStates(
  model: Scorable,
  sequences: readonly (readonly number[])[],
  batchSize: number,
  onSequence: (index: number, rows: Float32Array) => void,
): Promise<void> {
  checkBatchSize(batchSize);
  const { dim, vocabSize } = model.config;
  for (const [i, s] of sequences.entries()) {
    if (s.length === 0) throw new RangeError(`finalHiddenStates: sequence ${i} is empty`);
    for (const id of s) if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) throw new RangeError(`finalHiddenStates: token id ${id} (sequence ${i}) is outside the vocabulary 0..${vocabSize - 1}`);
  }
  const scorer = scoringModel(model);
  for (let start = 0; start < sequences.length; start += batchSize) {
    const batch = sequences.slice(start, start + batchSize);
    const T = Math.max(...batch.map((s) => s.length));
    const data = new Uint32Array(batch.length * T);
    batch.forEach((s, b) => data.set(s, b * T));
    const hidden = await scorer.finalHidden(data, batch.length, T);
    batch.forEach((s, b) => onSequence(start + b, hidden.subarray(b * T * dim, (b * T + s.length) * dim)));
  }
}

/** torch.nn.functional.cosine_similarity of two vectors (norms clamped below at 1e-8), in float64. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return dot / (Math.max(Math.sqrt(aa), 1e-8) * Math.max(Math.sqrt(bb), 1e-8));
}

/** The domain vector: per word the mean of its final hidden states (the word run alone), then the mean over words. */
export async function releasedDomainVector(
  model: Scorable,
  tokenizer: Tokenizer,
  domainWords: readonly string[],
  batchSize = RELEASED_RELEVANCE_BATCH,
): Promise<{ domainVector: Float64Array; domainWords: string[]; skippedWords: string[] }> {
  checkBatchSize(batchSize);
  if (domainWords.length === 0) throw new ReleasedRelevanceError('released task relevance: the domain-word list is empty', []);
  const used: string[] = [];
  const skipped: string[] = [];
  const encoded: number[][] = [];
  for (const word of domainWords) {
    const ids = tokenizer.encode(word, { bos: false, eos: false });
    if (ids.length === 0) skipped.push(word);
    else {
      used.push(word);
      encoded.push(ids);
    }
  }
  if (used.length === 0) {
    throw new ReleasedRelevanceError(`released task relevance: no domain word encodes to any token (${skipped.map((w) => JSON.stringify(w)).join(', ')})`, skipped);
  }
  const dim = model.config.dim;
  const domainVector = new Float64Array(dim);
  await finalHiddenStates(model, encoded, batchSize, (_, rows) => {
    const n = rows.length / dim;
    for (let t = 0; t < n; t++) for (let d = 0; d < dim; d++) domainVector[d] += rows[t * dim + d] / n;
  });
  for (let d = 0; d < dim; d++) domainVector[d] /= used.length;
  return { domainVector, domainWords: used, skippedWords: skipped };
}

/** Released task relevance of the given token ids (see the file comment for the rule and its choices). */
export async function releasedRelevance(model: Scorable, tokenizer: Tokenizer, options: ReleasedRelevanceOptions): Promise<ReleasedRelevance> {
  const batchSize = checkBatchSize(options.batchSize ?? RELEASED_RELEVANCE_BATCH);
  const vocab = model.config.vocabSize;
  for (const id of options.tokenIds) {
    if (!(Number.isInteger(id) && id >= 0 && id < vocab)) throw new RangeError(`released task relevance: token id ${id} is outside the vocabulary 0..${vocab - 1}`);
  }
  const { domainVector, domainWords, skippedWords } = await releasedDomainVector(model, tokenizer, options.domainWords, batchSize);

  const byKey = new Map<string, ReleasedType>();
  const seen = new Set<number>();
  for (const id of options.tokenIds) {
    if (seen.has(id)) continue;
    seen.add(id);
    const key = releasedTypeKey(tokenizer, id);
    const type = byKey.get(key);
    if (type) type.ids.push(id);
    else byKey.set(key, { key, id, ids: [id], similarity: NaN });
  }
  const types = [...byKey.values()];
  await finalHiddenStates(model, types.map((t) => [t.id]), batchSize, (i, row) => {
    types[i].similarity = cosineSimilarity(row, domainVector);
  });
  const similarity = new Float64Array(vocab).fill(NaN);
  for (const t of types) for (const id of t.ids) similarity[id] = t.similarity;
  return { similarity, types, domainVector, domainWords, skippedWords };
}
