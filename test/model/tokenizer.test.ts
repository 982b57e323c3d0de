import { describe, expect, it } from 'vitest';
import { loadTokenizer, readShared, reference } from './stories260k.ts';
import { parseLlama2cTokenizer } from '../../src/model/tokenizer-llama2c.ts';
import { TokenizerFormatError } from '../../src/model/errors.ts';
import { seededRandom } from '../../src/model/random.ts';

describe('llama2.c tokenizer (tok512.bin)', () => {
  const tok = loadTokenizer();

  it('parses the vocabulary layout', () => {
    expect(tok.vocabSize).toBe(512);
    expect(tok.maxTokenLength).toBe(7);
    expect([tok.piece(0), tok.piece(1), tok.piece(2), tok.piece(3), tok.piece(13), tok.piece(258)])
      .toEqual(['<unk>', '\n<s>\n', '\n</s>\n', '<0x00>', '<0x0A>', '<0xFF>']);
  });

  for (const [i, c] of reference.cases.entries()) {
    it(`encodes reference case ${i} exactly and decodes it back`, () => {
      const ids = tok.encode(c.text);
      expect(ids).toEqual(c.tokens);
      expect(tok.decode(ids)).toBe(c.text);
    });
  }

  it('handles options, empty text, byte fallback and multi-byte characters split across byte tokens', () => {
    expect(tok.encode('')).toEqual([1]);
    expect(tok.encode('', { bos: false })).toEqual([]);
    expect(tok.encode('Once', { eos: true }).at(-1)).toBe(2);
    // Without BOS the dummy-prefix space stays (llama2.c strips it only right after BOS).
    expect(tok.decode(tok.encode('Once', { bos: false }))).toBe(' Once');
    // "é" is one vocabulary piece; "😀" (4 bytes) and "\n" are not, so they fall back to bytes + 3.
    const emoji = tok.encode('a😀\n', { bos: false });
    expect(emoji.slice(-5)).toEqual([0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3, 0x0a + 3]);
    for (const text of ['café 😀 naïve — “quoted”', '  two leading spaces', 'tabs\tand\nnewlines\n']) {
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    // A single byte token decodes to that byte (run.c's decode()).
    expect(tok.tokenBytes(5, 0x0a + 3)).toEqual(Uint8Array.of(0x0a));
    expect(new TextDecoder().decode(tok.tokenBytes(1, tok.encode('Once')[1]))).toBe('Once');
  });

  it('decodes as run.c does, byte for byte, whichever path decode() takes', () => {
    // run.c's decode: the bytes of tokenBytes(prev, id) for every id but BOS and EOS, then one UTF-8
    // decode. decode() joins whole-character pieces as text and falls back to that byte path otherwise.
    const viaBytes = (ids: number[]) => {
      const parts: number[] = [];
      ids.forEach((id, i) => id !== 1 && id !== 2 && parts.push(...tok.tokenBytes(i > 0 ? ids[i - 1] : -1, id)));
      return new TextDecoder().decode(Uint8Array.from(parts));
    };
    const random = seededRandom(7);
    for (let trial = 0; trial < 300; trial++) {
      // Mostly word pieces, with byte tokens (split characters, stray continuation bytes), BOS and EOS among them.
      const ids = Array.from({ length: 1 + Math.floor(random() * 24) }, () => {
        const r = random();
        return r < 0.1 ? 1 : r < 0.15 ? 2 : r < 0.35 ? 3 + Math.floor(random() * 256) : 259 + Math.floor(random() * 253);
      });
      expect(tok.decode(ids)).toBe(viaBytes(ids));
    }
    for (const text of ['Once upon a time', ' lead', 'café 😀 naïve — “quoted”', '\uFEFFbom first']) {
      const ids = tok.encode(text);
      expect(tok.decode(ids)).toBe(viaBytes(ids));
      expect(tok.decode(ids.slice(1))).toBe(viaBytes(ids.slice(1)));
    }
  });

  it('rejects malformed files with the byte offset', () => {
    const bytes = readShared('tok512.bin');
    expect(() => parseLlama2cTokenizer(bytes.subarray(0, 3000), { name: 'tok512.bin', vocabSize: 512 }))
      .toThrow('tok512.bin: expected the score and length of token 214 of 512 at byte 2,998, but the file ends at 3,000');
    expect(() => parseLlama2cTokenizer(bytes.subarray(0, 3007), { name: 'tok512.bin', vocabSize: 512 }))
      .toThrow('tok512.bin: token 214 of 512 needs 6 bytes at byte 3,006, but the file ends at 3,007');
    expect(() => parseLlama2cTokenizer(bytes, { name: 'tok512.bin', vocabSize: 500 })).toThrow(TokenizerFormatError);
    expect(() => parseLlama2cTokenizer(bytes, { name: 'tok512.bin', vocabSize: 500 })).toThrow(/bytes follow the last of 500 tokens/);
    expect(() => parseLlama2cTokenizer(new Uint8Array(8))).toThrow(/max_token_length \(int32 at byte 0\) is 0/);
  });
});
