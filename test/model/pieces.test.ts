import { describe, expect, it } from 'vitest';
import { loadTokenizer } from './stories260k.ts';
import { tokenPieces } from '../../src/model/pieces.ts';

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
  it('gives a word token its text with its leading space', () => {
    const ids = tok.encode('Once upon a time');
    expect(tokenPieces(tok, ids)).toEqual(['', 'Once', ' upon', ' a', ' time']);
  });
});
