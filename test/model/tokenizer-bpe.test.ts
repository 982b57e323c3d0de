// The llama2.c tokenizer's heap-based merge loop against the quadratic greedy loop it replaced (kept here as
// the reference): identical ids on real text, random text and tie-heavy synthetic vocabularies; and a 1 MB
// record encodes in seconds, not minutes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Llama2cTokenizer } from '../../src/model/tokenizer-llama2c.ts';
import { loadTokenizer } from './stories260k.ts';

const SHARED_DATA = new URL('../../../shared/data/', import.meta.url);
const NO_MERGE_SCORE = -1e10;

/** The encode() this project shipped before the heap: run.c's algorithm, O(n²) in the text length. */
function referenceEncode(tok: Llama2cTokenizer, text: string, { bos = true, eos = false } = {}): number[] {
  const keys = tok.pieces.map((p) => String.fromCharCode(...p));
  const idOfKey = new Map<string, number>();
  keys.forEach((k, id) => idOfKey.has(k) || idOfKey.set(k, id));
  const bytes = new TextEncoder().encode(text);
  const tokens: number[] = bos ? [tok.bosId] : [];
  if (bytes.length > 0) tokens.push(idOfKey.get(' ') ?? 0x20 + 3);
  for (let start = 0; start < bytes.length; ) {
    let end = start + 1;
    while (end < bytes.length && (bytes[end] & 0xc0) === 0x80 && end - start < 4) end++;
    const id = idOfKey.get(String.fromCharCode(...bytes.subarray(start, end)));
    if (id !== undefined) tokens.push(id);
    else for (let i = start; i < end; i++) tokens.push(bytes[i] + 3);
    start = end;
  }
  for (;;) {
    let bestScore = NO_MERGE_SCORE, bestId = -1, bestAt = -1;
    for (let i = 0; i + 1 < tokens.length; i++) {
      const id = idOfKey.get(keys[tokens[i]] + keys[tokens[i + 1]]);
      if (id !== undefined && tok.scores[id] > bestScore) [bestScore, bestId, bestAt] = [tok.scores[id], id, i];
    }
    if (bestAt < 0) break;
    tokens.splice(bestAt, 2, bestId);
  }
  if (eos) tokens.push(tok.eosId);
  return tokens;
}

/** A deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const utf8 = new TextEncoder();

/**
 * A llama2.c-layout vocabulary (<unk>, BOS, EOS, 256 byte tokens) plus random pieces over a small
 * alphabet, with scores drawn from a few values so that ties (and duplicate pieces) are common; some
 * scores are below run.c's -1e10 start, and one is NaN, so those merges never happen.
 */
function tieHeavyTokenizer(seed: number, alphabet: string[]): Llama2cTokenizer {
  const random = rng(seed);
  const pieces: Uint8Array[] = [utf8.encode('<unk>'), utf8.encode('\n<s>\n'), utf8.encode('\n</s>\n')];
  for (let b = 0; b < 256; b++) pieces.push(utf8.encode(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
  const scores: number[] = [0, 0, 0, ...new Array(256).fill(0)];
  for (const ch of alphabet) {
    pieces.push(utf8.encode(ch));
    scores.push(0);
  }
  const values = [-1, -2, -3, -3, -5, -2e10, NaN];
  for (let i = 0; i < 120; i++) {
    const length = 2 + Math.floor(random() * 4);
    pieces.push(utf8.encode(Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('')));
    scores.push(values[Math.floor(random() * values.length)]);
  }
  return new Llama2cTokenizer(pieces, Float32Array.from(scores), 16);
}

function randomText(random: () => number, alphabet: string[], length: number): string {
  return Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
}

describe('llama2.c tokenizer: heap-based BPE merges', () => {
  const tok = loadTokenizer();

  it('gives run.c\'s ids on TinyStories and GSM8K records', () => {
    const stories = readFileSync(new URL('tinystories/sample.txt', SHARED_DATA), 'utf8').split('\n').filter((l) => l.trim() !== '');
    const gsm8k = readFileSync(new URL('gsm8k/test.jsonl', SHARED_DATA), 'utf8').split('\n').filter(Boolean)
      .map((line) => JSON.parse(line) as { question: string; answer: string });
    const texts = [
      ...stories.slice(0, 150),
      ...Array.from({ length: 20 }, (_, i) => stories.slice(150 + 3 * i, 153 + 3 * i).join('\n')),
      ...gsm8k.slice(0, 100).map((r) => `Question: ${r.question}\nAnswer: ${r.answer}`),
    ];
    expect(texts.length).toBe(270);
    for (const [i, text] of texts.entries()) {
      const opts = { bos: i % 3 !== 1, eos: i % 4 === 0 };
      expect(tok.encode(text, opts), `text ${i}`).toEqual(referenceEncode(tok, text, opts));
    }
  });

  it('gives run.c\'s ids on random text: bytes the vocabulary lacks, multi-byte characters, repeats', () => {
    const random = rng(1);
    const alphabet = [...'abcdefghijklmnopqrstuvwxyz     ..,,!?\n\t\'"0123456789', 'é', 'ü', '—', '“', '”', '😀', '中', '\u0000', '\u007f'];
    for (let i = 0; i < 300; i++) {
      const text = randomText(random, alphabet, Math.floor(random() * 400));
      expect(tok.encode(text, { bos: i % 2 === 0 }), JSON.stringify(text)).toEqual(referenceEncode(tok, text, { bos: i % 2 === 0 }));
    }
    for (const text of ['', ' ', 'a', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', ' the the the the the the the', 'Once upon a time'.repeat(30)]) {
      expect(tok.encode(text), JSON.stringify(text)).toEqual(referenceEncode(tok, text));
    }
  });

  it('breaks score ties leftmost and skips merges scored at or below -1e10, like run.c', () => {
    // "ab" and "bc" score the same: in "abc" the leftmost pair merges first.
    const pieces = [utf8.encode('<unk>'), utf8.encode('\n<s>\n'), utf8.encode('\n</s>\n')];
    for (let b = 0; b < 256; b++) pieces.push(utf8.encode(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`));
    const extra = ['a', 'b', 'c', ' ', 'ab', 'bc', ' a', 'abc'];
    const scores = Float32Array.from([...new Array(259).fill(0), 0, 0, 0, 0, -1, -1, -1e11, -1]);
    const tiny = new Llama2cTokenizer([...pieces, ...extra.map((p) => utf8.encode(p))], scores, 8);
    const id = (p: string) => 259 + extra.indexOf(p);
    // " abc": " a" never merges (-1e11); "ab" (leftmost of the tied ab / bc) wins, then "abc".
    expect(tiny.encode('abc', { bos: false })).toEqual([id(' '), id('abc')]);
    expect(tiny.encode('bcab', { bos: false })).toEqual([id(' '), id('bc'), id('ab')]);
    expect(tiny.encode('abc', { bos: false })).toEqual(referenceEncode(tiny, 'abc', { bos: false }));

    for (let seed = 1; seed <= 40; seed++) {
      const alphabet = seed % 2 ? ['a', 'b', 'c', ' '] : ['x', 'y', 'é', ' ', 'z'];
      const synthetic = tieHeavyTokenizer(seed, alphabet);
      const random = rng(1000 + seed);
      for (let i = 0; i < 15; i++) {
        const text = randomText(random, alphabet, 1 + Math.floor(random() * 200));
        expect(synthetic.encode(text), `seed ${seed}: ${JSON.stringify(text)}`).toEqual(referenceEncode(synthetic, text));
      }
    }
  });

  it('encodes a 1 MB record within a few seconds (was minutes: the merge loop was quadratic)', () => {
    const sample = readFileSync(new URL('tinystories/sample.txt', SHARED_DATA), 'utf8');
    const text = sample.slice(0, 1_000_000);
    // CPU time, not wall time: other processes on a busy machine must not make this fail (~0.7 s alone).
    const start = process.cpuUsage();
    const ids = tok.encode(text);
    const used = process.cpuUsage(start);
    expect((used.user + used.system) / 1000).toBeLessThan(5000);
    expect(ids.length).toBeGreaterThan(400_000);
    expect(tok.decode(ids)).toBe(text);
    // "\n" is a byte token that never merges, so the record's first lines encode as they do alone.
    const head = referenceEncode(tok, text.slice(0, text.indexOf('\n', 2000)));
    expect(ids.slice(0, head.length)).toEqual(head);
  }, 30_000);
});
