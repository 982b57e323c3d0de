import { describe, expect, it } from 'vitest';
import { loadTokenizer } from './stories260k.ts';
import { tokenPieces, windowedPieces } from '../../src/model/pieces.ts';
import { seededRandom } from '../../src/model/random.ts';

describe('token pieces', () => {
  const tok = loadTokenizer();
  for (const text of ['Once upon a time, there was a little girl.', 'Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72', 'café — naïve 😀 ok', '  two  spaces\tand tab']) {
    it(`join to the decoded text: ${JSON.stringify(text)}`, () => {
      const ids = tok.encode(text);
      const pieces = tokenPieces(tok, ids);
      expect(pieces.length).toBe(ids.length);
      expect(pieces.join('')).toBe(tok.decode(ids));
      expect(pieces.join('')).toBe(text);
    });
  }
  it('gives each token of long records what decoding it adds, one character per byte run', () => {
    // Past the window's first moves (16 tokens), over every GSM8K-like and multi-byte text: the piece of
    // token i is decode(ids[..i+1]) minus decode(ids[..i]), a split character going whole to its last token.
    const text = 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. '.repeat(3) + 'café — naïve 😀 ok 😀😀 “end”';
    const ids = tok.encode(text);
    const pieces = tokenPieces(tok, ids);
    let held = 0;
    ids.forEach((_, i) => {
      const before = tok.decode(ids.slice(0, i - held));
      const after = tok.decode(ids.slice(0, i + 1));
      if (after.endsWith('\uFFFD') && i + 1 < ids.length) {
        expect(pieces[i]).toBe('');
        held++;
      } else {
        expect(pieces[i]).toBe(after.slice(before.length));
        held = 0;
      }
    });
    expect(pieces.join('')).toBe(text);
  });

  it("the llama2.c tokenizer's own pieces are the generic rule's, on records and on random ids", () => {
    const random = seededRandom(11);
    const sequences = [
      tok.encode('Natalia sold clips to 48 of her friends in April. café — naïve 😀 ok 😀😀 “end”'),
      tok.encode('\uFEFFa BOM first, and \uFEFF one inside', { eos: true }),
      [1, 0xef + 3, 0xbb + 3, 0xbf + 3, 300, 0xef + 3, 0xbb + 3, 0xbf + 3, 0xc3 + 3, 2],
      [0xef + 3, 0xbf + 3, 0xbd + 3, 400, 0xc3 + 3, 1, 0xa9 + 3, 0x80 + 3],
    ];
    for (let trial = 0; trial < 400; trial++) {
      // Word pieces, byte tokens (split and invalid characters), BOS and EOS, anywhere.
      sequences.push(Array.from({ length: 1 + Math.floor(random() * 30) }, () => {
        const r = random();
        return r < 0.08 ? 1 : r < 0.12 ? 2 : r < 0.4 ? 3 + Math.floor(random() * 256) : 259 + Math.floor(random() * 253);
      }));
    }
    for (const ids of sequences) {
      const pieces = tokenPieces(tok, ids);
      expect(pieces).toEqual(windowedPieces(tok, ids));
      expect(pieces.join('')).toBe(tok.decode(ids));
    }
  });

  it('gives a word token its text with its leading space', () => {
    const ids = tok.encode('Once upon a time');
    expect(tokenPieces(tok, ids)).toEqual(['', 'Once', ' upon', ' a', ' time']);
  });
});
