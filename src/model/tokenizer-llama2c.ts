// The llama2.c tokenizer (tok*.bin): int32 max_token_length, then per token f32 score, int32 length, bytes.
// Ids 0 <unk>, 1 BOS, 2 EOS, 3..258 byte tokens <0x00>..<0xFF>; encode() reproduces run.c's encode() exactly.

import { TokenizerFormatError, formatCount } from './errors.ts';
import type { EncodeOptions, Tokenizer } from './tokenizer.ts';

export interface Llama2cTokenizerOptions {
  /** File name used in error messages. */
  name?: string;
  /** The model's vocabulary size; when given the file must hold exactly that many tokens. */
  vocabSize?: number;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
/** run.c starts the merge search at this score, so merges scoring below it never happen. */
const NO_MERGE_SCORE = -1e10;

export class Llama2cTokenizer implements Tokenizer {
  readonly bosId: number = 1;
  readonly eosId: number = 2;
  readonly vocabSize: number;
  /** Byte strings (one char per byte) of every piece, and the id of each: run.c compares raw bytes. */
  private readonly keys: string[];
  private readonly idOfKey = new Map<string, number>();
  private readonly utf8 = new TextEncoder();

  constructor(readonly pieces: readonly Uint8Array[], readonly scores: Float32Array, readonly maxTokenLength: number) {
    this.vocabSize = pieces.length;
    this.keys = pieces.map((p) => String.fromCharCode(...p));
    // run.c's bsearch would find any of a duplicated piece; the first id is as good and deterministic.
    this.keys.forEach((k, id) => this.idOfKey.has(k) || this.idOfKey.set(k, id));
  }

  encode(text: string, { bos = true, eos = false }: EncodeOptions = {}): number[] {
    const bytes = this.utf8.encode(text);
    const tokens: number[] = bos ? [this.bosId] : [];
    // SentencePiece's dummy prefix: "Once" is encoded as " Once", like a word in mid-sentence.
    if (bytes.length > 0) tokens.push(this.idOfKey.get(' ') ?? 0x20 + 3);
    // One token per UTF-8 character (a lead byte and at most 3 continuation bytes), else one per byte.
    for (let start = 0; start < bytes.length; ) {
      let end = start + 1;
      while (end < bytes.length && (bytes[end] & 0xc0) === 0x80 && end - start < 4) end++;
      const id = this.idOfKey.get(String.fromCharCode(...bytes.subarray(start, end)));
      if (id !== undefined) tokens.push(id);
      else for (let i = start; i < end; i++) tokens.push(bytes[i] + 3);
      start = end;
    }
    // Greedy BPE: merge the adjacent pair whose concatenation is the highest-scoring piece, leftmost on ties.
    // Like run.c this also tries pairs with BOS (whose piece "\n<s>\n" never occurs inside a merge).
    for (;;) {
      let bestScore = NO_MERGE_SCORE, bestId = -1, bestAt = -1;
      for (let i = 0; i + 1 < tokens.length; i++) {
        const id = this.idOfKey.get(this.keys[tokens[i]] + this.keys[tokens[i + 1]]);
        if (id !== undefined && this.scores[id] > bestScore) [bestScore, bestId, bestAt] = [this.scores[id], id, i];
      }
      if (bestAt < 0) break;
      tokens.splice(bestAt, 2, bestId);
    }
    if (eos) tokens.push(this.eosId);
    return tokens;
  }

  /** run.c's decode(prev, token): the bytes one token prints, given the token before it. */
  tokenBytes(prevId: number, id: number): Uint8Array {
    let piece = this.pieces[this.checkId(id)];
    // After BOS the dummy-prefix space is dropped: the text starts at its first character.
    if (prevId === this.bosId && piece[0] === 0x20) piece = piece.subarray(1);
    const byte = BYTE_PIECE.exec(this.keys[id]);
    return byte ? Uint8Array.of(parseInt(byte[1], 16)) : piece;
  }

  decode(ids: readonly number[]): string {
    const parts: Uint8Array[] = [];
    let prev = -1;
    for (const id of ids) {
      if (id !== this.bosId && id !== this.eosId) parts.push(this.tokenBytes(prev, id));
      prev = id;
    }
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
    return new TextDecoder().decode(joined);
  }

  piece(id: number): string {
    return new TextDecoder().decode(this.pieces[this.checkId(id)]);
  }

  private checkId(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`token id ${id} is outside the vocabulary 0..${this.vocabSize - 1}`);
    }
    return id;
  }
}

export function parseLlama2cTokenizer(bytes: ArrayBuffer | Uint8Array, options: Llama2cTokenizerOptions = {}): Llama2cTokenizer {
  const file = options.name ?? 'llama2.c tokenizer';
  const u8 = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const view = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const fail = (at: number, detail: string): never => {
    throw new TokenizerFormatError(file, at, detail);
  };
  if (u8.byteLength < 4) fail(0, `expected an int32 max_token_length at byte 0, got a ${u8.byteLength}-byte file`);
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 1024) fail(0, `max_token_length (int32 at byte 0) is ${maxTokenLength}; not a llama2.c tokenizer`);

  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let at = 4;
  while (options.vocabSize === undefined ? at < u8.byteLength : pieces.length < options.vocabSize) {
    const token = `token ${pieces.length}${options.vocabSize ? ` of ${options.vocabSize}` : ''}`;
    if (at + 8 > u8.byteLength) fail(at, `expected the score and length of ${token} at byte ${formatCount(at)}, but the file ends at ${formatCount(u8.byteLength)}`);
    const length = view.getInt32(at + 4, true);
    if (length < 0 || length > maxTokenLength) fail(at + 4, `${token} has length ${length} (int32 at byte ${formatCount(at + 4)}); expected 0..${maxTokenLength}`);
    if (at + 8 + length > u8.byteLength) fail(at + 8, `${token} needs ${length} bytes at byte ${formatCount(at + 8)}, but the file ends at ${formatCount(u8.byteLength)}`);
    scores.push(view.getFloat32(at, true));
    pieces.push(u8.slice(at + 8, at + 8 + length));
    at += 8 + length;
  }
  if (at !== u8.byteLength) {
    fail(at, `${formatCount(u8.byteLength - at)} bytes follow the last of ${options.vocabSize} tokens at byte ${formatCount(at)}; the vocabulary size does not match the model`);
  }
  if (pieces.length < 259) fail(at, `holds ${pieces.length} tokens; a llama2.c vocabulary has at least 259 (<unk>, BOS, EOS and 256 byte tokens)`);
  return new Llama2cTokenizer(pieces, Float32Array.from(scores), maxTokenLength);
}
