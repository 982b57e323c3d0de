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
/** Pairs whose merge is remembered (Llama2cTokenizer.merge) before the memo starts over: ~50 MB at most. */
const MERGE_CACHE_LIMIT = 1 << 20;

export class Llama2cTokenizer implements Tokenizer {
  readonly bosId: number = 1;
  readonly eosId: number = 2;
  readonly vocabSize: number;
  /** Byte strings (one char per byte) of every piece, and the id of each: run.c compares raw bytes. */
  private readonly keys: string[];
  private readonly idOfKey = new Map<string, number>();
  private readonly utf8 = new TextEncoder();
  // One decoder for every decode (a new TextDecoder per call was most of tokenPieces' time in scoring).
  private readonly text = new TextDecoder();
  /** For text after the first byte, where a BOM is a character like any other. */
  private readonly keepBom = new TextDecoder('utf-8', { ignoreBOM: true });
  /** Per id: the byte a <0xNN> piece stands for, or -1 (parsed once, not per decoded token). */
  private readonly byteOf: Int16Array;
  /** The longest piece in bytes: a pair longer than this cannot be a piece. */
  private readonly longestKey: number;
  /** Per byte: the id of the one-byte piece, or -1 (the first pass of encode looks up every ASCII character). */
  private readonly idOfByte: Int32Array;
  /** Per pair of ids (key a·vocabSize + b): the id of their merge, or -1 when none may happen. Filled as
   *  pairs are met: a number key spares the string concatenation and hashing of every lookup. */
  private readonly mergeOf = new Map<number, number>();
  /** Per id: its piece as text when the piece is whole UTF-8 characters by itself (decode() joins these
   *  as strings, exactly what decoding their bytes together gives), else null. */
  private readonly textOf: (string | null)[];

  constructor(readonly pieces: readonly Uint8Array[], readonly scores: Float32Array, readonly maxTokenLength: number) {
    this.vocabSize = pieces.length;
    this.keys = pieces.map((p) => String.fromCharCode(...p));
    // run.c's bsearch would find any of a duplicated piece; the first id is as good and deterministic.
    this.keys.forEach((k, id) => this.idOfKey.has(k) || this.idOfKey.set(k, id));
    this.longestKey = this.keys.reduce((longest, k) => Math.max(longest, k.length), 0);
    this.byteOf = Int16Array.from(this.keys, (k) => {
      const byte = BYTE_PIECE.exec(k);
      return byte ? parseInt(byte[1], 16) : -1;
    });
    this.idOfByte = Int32Array.from({ length: 256 }, (_, b) => this.idOfKey.get(String.fromCharCode(b)) ?? -1);
    const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
    this.textOf = pieces.map((p, id) => {
      // A byte token, or a piece starting with a BOM (which decode() drops at the start): the byte path.
      if (this.byteOf[id] >= 0 || (p[0] === 0xef && p[1] === 0xbb && p[2] === 0xbf)) return null;
      try {
        return strict.decode(p);
      } catch {
        return null; // not whole UTF-8 characters by itself
      }
    });
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
      const id = end === start + 1 ? this.idOfByte[bytes[start]] : (this.idOfKey.get(String.fromCharCode(...bytes.subarray(start, end))) ?? -1);
      if (id >= 0) tokens.push(id);
      else for (let i = start; i < end; i++) tokens.push(bytes[i] + 3);
      start = end;
    }
    // Greedy BPE: merge the adjacent pair whose concatenation is the highest-scoring piece, leftmost on ties.
    // Like run.c this also tries pairs with BOS (whose piece "\n<s>\n" never occurs inside a merge).
    const merged = this.mergePairs(tokens);
    if (eos) merged.push(this.eosId);
    return merged;
  }

  /**
   * run.c's merge loop — repeatedly merge the best-scoring adjacent pair, leftmost on ties — in
   * O(n log n) instead of O(n²): the symbols form a doubly linked list (a merged symbol keeps its left
   * half's index, so index order is sequence order) and every mergeable adjacent pair waits in a max-heap
   * ordered by (score desc, left index asc), as in SentencePiece's bpe_model.cc. A popped entry whose
   * symbols changed since it was pushed is stale and skipped; the rest is exactly run.c's choice order.
   */
  private mergePairs(tokens: number[]): number[] {
    const n = tokens.length;
    if (n < 2) return tokens;
    const tok = Int32Array.from(tokens); // -1: merged into its left neighbour
    const prev = new Int32Array(n), next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const queue = new MergeQueue(n);
    const consider = (left: number) => {
      const right = next[left];
      if (right < 0) return;
      const a = tok[left], b = tok[right];
      const id = this.merge(a, b);
      if (id >= 0) queue.push(this.scores[id], left, right, a, b, id);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (queue.size > 0) {
      queue.pop();
      const left = queue.topLeft, right = queue.topRight, id = queue.topId;
      if (tok[left] !== queue.topLeftId || next[left] !== right || tok[right] !== queue.topRightId) continue; // stale
      tok[left] = id;
      tok[right] = -1;
      const after = next[right];
      next[left] = after;
      if (after >= 0) prev[after] = left;
      if (prev[left] >= 0) consider(prev[left]);
      consider(left);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(tok[i]); // index 0 is never merged away
    return out;
  }

  /** The piece ids a and b merge into, or -1: no such piece, or one scoring below run.c's start. */
  private merge(a: number, b: number): number {
    const pair = a * this.vocabSize + b;
    let id = this.mergeOf.get(pair);
    if (id === undefined) {
      // Bounded: a long run over a large vocabulary meets many pairs; starting over costs a few lookups.
      if (this.mergeOf.size >= MERGE_CACHE_LIMIT) this.mergeOf.clear();
      const key = this.keys[a].length + this.keys[b].length > this.longestKey ? undefined : this.keys[a] + this.keys[b];
      const found = key === undefined ? undefined : this.idOfKey.get(key);
      id = found !== undefined && this.scores[found] > NO_MERGE_SCORE ? found : -1;
      this.mergeOf.set(pair, id);
    }
    return id;
  }

  /** run.c's decode(prev, token): the bytes one token prints, given the token before it. */
  tokenBytes(prevId: number, id: number): Uint8Array {
    let piece = this.pieces[this.checkId(id)];
    // After BOS the dummy-prefix space is dropped: the text starts at its first character.
    if (prevId === this.bosId && piece[0] === 0x20) piece = piece.subarray(1);
    const byte = this.byteOf[id];
    return byte >= 0 ? Uint8Array.of(byte) : piece;
  }

  /** tokenBytes(prevId, id) as text when the token's piece is whole characters by itself ('' for BOS and
   *  EOS, which print nothing), else null: the bytes must then be decoded together with their neighbours'. */
  private tokenText(prevId: number, id: number): string | null {
    if (id === this.bosId || id === this.eosId) return '';
    const piece = this.textOf[this.checkId(id)];
    return piece !== null && prevId === this.bosId && piece[0] === ' ' ? piece.slice(1) : piece;
  }

  decode(ids: readonly number[]): string {
    let text = '';
    for (let i = 0; i < ids.length; i++) {
      const piece = this.tokenText(i > 0 ? ids[i - 1] : -1, ids[i]);
      if (piece === null) return this.decodeBytes(ids);
      text += piece;
    }
    return text;
  }

  /**
   * Each token's text (./pieces.ts's rule: the pieces join to decode(ids); a token inside a character split
   * across tokens gets '' and the one completing it the whole character), from the bytes each token
   * prints: decode() is UTF-8 over their concatenation, so a token's text is its bytes decoded once the
   * bytes held since the last whole character complete one. One pass, where the generic rule decodes a
   * window of tokens per token (most of scoring's host time on GSM8K).
   */
  tokenPieces(ids: readonly number[]): string[] {
    const pieces: string[] = new Array(ids.length);
    let held: number[] = []; // bytes of the tokens held since the last piece
    let atStart = true; // no byte printed yet: a BOM here is dropped, as decode() drops it
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const prev = i > 0 ? ids[i - 1] : -1;
      let text = held.length === 0 ? this.tokenText(prev, id) : null;
      if (text === null) {
        if (id !== this.bosId && id !== this.eosId) for (const byte of this.tokenBytes(prev, id)) held.push(byte);
        text = (atStart ? this.text : this.keepBom).decode(Uint8Array.from(held));
      }
      // Text ending in U+FFFD waits for the next token (a character may be split), as the generic rule has it.
      if (text.endsWith('\uFFFD') && i + 1 < ids.length) {
        if (held.length === 0) held = [...this.utf8.encode(text)];
        pieces[i] = '';
        continue;
      }
      pieces[i] = text;
      if (held.length > 0 || text !== '') atStart = false;
      held = [];
    }
    return pieces;
  }

  /** decode() through the bytes: byte tokens and pieces that split a character join before UTF-8 decoding. */
  private decodeBytes(ids: readonly number[]): string {
    const parts: Uint8Array[] = [];
    let prev = -1;
    for (const id of ids) {
      if (id !== this.bosId && id !== this.eosId) parts.push(this.tokenBytes(prev, id));
      prev = id;
    }
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (joined.set(p, at), at + p.length), 0);
    return this.text.decode(joined);
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

/** Heap order: the higher score first, then the leftmost pair. */
function before(score: number, left: number, otherScore: number, otherLeft: number): boolean {
  return score > otherScore || (score === otherScore && left < otherLeft);
}

/**
 * A binary max-heap of candidate merges in parallel typed arrays (no object per entry): the top is the
 * highest score, and among equal scores the smallest left index (the leftmost pair).
 */
class MergeQueue {
  size = 0;
  topLeft = 0;
  topRight = 0;
  topLeftId = 0;
  topRightId = 0;
  topId = 0;
  private score: Float64Array;
  private left: Int32Array;
  private right: Int32Array;
  private leftId: Int32Array;
  private rightId: Int32Array;
  private id: Int32Array;

  constructor(capacity: number) {
    capacity = Math.max(16, capacity);
    this.score = new Float64Array(capacity);
    this.left = new Int32Array(capacity);
    this.right = new Int32Array(capacity);
    this.leftId = new Int32Array(capacity);
    this.rightId = new Int32Array(capacity);
    this.id = new Int32Array(capacity);
  }

  push(score: number, left: number, right: number, leftId: number, rightId: number, id: number): void {
    if (this.size === this.score.length) this.grow();
    let at = this.size++;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!before(score, left, this.score[parent], this.left[parent])) break;
      this.move(parent, at);
      at = parent;
    }
    this.set(at, score, left, right, leftId, rightId, id);
  }

  /** Removes the top entry; its fields are then in topLeft, topRight, topLeftId, topRightId and topId. */
  pop(): void {
    this.topLeft = this.left[0];
    this.topRight = this.right[0];
    this.topLeftId = this.leftId[0];
    this.topRightId = this.rightId[0];
    this.topId = this.id[0];
    const last = --this.size;
    if (last === 0) return;
    // Sift the last entry down from the root.
    const score = this.score[last], left = this.left[last];
    let at = 0;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= last) break;
      if (child + 1 < last && before(this.score[child + 1], this.left[child + 1], this.score[child], this.left[child])) child++;
      if (!before(this.score[child], this.left[child], score, left)) break;
      this.move(child, at);
      at = child;
    }
    this.move(last, at);
  }

  private move(from: number, to: number): void {
    this.set(to, this.score[from], this.left[from], this.right[from], this.leftId[from], this.rightId[from], this.id[from]);
  }

  private set(at: number, score: number, left: number, right: number, leftId: number, rightId: number, id: number): void {
    this.score[at] = score;
    this.left[at] = left;
    this.right[at] = right;
    this.leftId[at] = leftId;
    this.rightId[at] = rightId;
    this.id[at] = id;
  }

  private grow(): void {
    const grown = <T extends Float64Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.score = grown(this.score);
    this.left = grown(this.left);
    this.right = grown(this.right);
    this.leftId = grown(this.leftId);
    this.rightId = grown(this.rightId);
    this.id = grown(this.id);
  }
}
