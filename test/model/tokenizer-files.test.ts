// Bad tokenizer inputs are typed errors naming the file and what is wrong: a malformed tokenizer.json
// names the field (it used to say "Cannot read properties of undefined"), and a --tokenizer path that does
// not exist names the path and what is expected (it used to be a raw ENOENT).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HfTokenizer, parseHfTokenizer } from '../../src/model/tokenizer-hf.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { loadModel } from '../../src/model/source-fs.ts';
import { ModelSourceError, TokenizerFormatError } from '../../src/model/errors.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { qwenLikeTokenizer } from './hf-fixtures.ts';
import { STORIES260K_DIR } from './stories260k.ts';

const root = mkdtempSync(join(tmpdir(), 'xtf-tokenizer-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('malformed tokenizer.json', () => {
  const { tokenizerJson: good, tokenizerConfig } = qwenLikeTokenizer();
  const cases: [string, Record<string, unknown>, string, string][] = [
    ['no merges', { ...good, model: { ...good.model, merges: undefined } }, 'model.merges', 'expected an array of merges ("left right" strings or [left, right] pairs), got nothing (the field is missing)'],
    ['no vocab', { ...good, model: { type: 'BPE', merges: [] } }, 'model.vocab', 'expected an object mapping each token to its id, got nothing (the field is missing)'],
    ['a bad merge', { ...good, model: { ...good.model, merges: ['h e', 42] } }, 'model.merges[1]', 'expected a "left right" string or a [left, right] pair of strings, got 42'],
    ['a non-integer id', { ...good, model: { ...good.model, vocab: { a: 0, b: 'one' } } }, 'model.vocab["b"]', 'expected a non-negative integer id, got "one"'],
    ['an unknown model type', { ...good, model: { ...good.model, type: 'WordLevel' } }, 'model.type', 'expected "BPE", "WordPiece" or "Unigram" (the model types supported here), got "WordLevel"'],
    ['a Unigram model without vocab', { ...good, model: { type: 'Unigram' } }, 'model.vocab', 'expected an array of [piece, score] pairs, got nothing (the field is missing)'],
    ['added_tokens not an array', { ...good, added_tokens: {} }, 'added_tokens', 'expected an array of {id, content, ...} objects, got {}'],
    ['an added token without id', { ...good, added_tokens: [{ content: '<s>' }] }, 'added_tokens[0].id', 'expected a non-negative integer id, got nothing (the field is missing)'],
    ['a Sequence without steps', { ...good, pre_tokenizer: { type: 'Sequence' } }, 'pre_tokenizer.pretokenizers', 'expected an array of pre_tokenizer objects, got nothing (the field is missing)'],
    ['a Split without pattern', { ...good, pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', behavior: 'Isolated' }] } }, 'pre_tokenizer.pretokenizers[0].pattern',
      'expected a {"String": ...} or {"Regex": ...} pattern, got nothing (the field is missing)'],
    ['an unknown normalizer', { ...good, normalizer: { type: 'Nope' } }, 'normalizer.type', 'expected one of BertNormalizer, Precompiled, Sequence, Replace, NFC, NFD, NFKC, NFKD, Strip, StripAccents, Lowercase, Prepend, got "Nope"'],
    ['a TemplateProcessing without single', { ...good, post_processor: { type: 'TemplateProcessing' } }, 'post_processor.single',
      'expected an array of {"SpecialToken": ...} / {"Sequence": ...} items, got nothing (the field is missing)'],
    ['no model', { ...good, model: undefined }, 'model', 'expected an object (the tokenization model: BPE, WordPiece or Unigram), got nothing (the field is missing)'],
  ];
  for (const [what, json, field, detail] of cases) {
    it(`names the field: ${what}`, () => {
      let err: TokenizerFormatError | undefined;
      try {
        parseHfTokenizer(JSON.stringify(json), tokenizerConfig, { name: 'm/tokenizer.json' });
      } catch (e) {
        err = e as TokenizerFormatError;
      }
      expect(err).toBeInstanceOf(TokenizerFormatError);
      expect(err!.field).toBe(field);
      expect(err!.message).toBe(`m/tokenizer.json: field ${field}: ${detail}`);
    });
  }

  it('names the file of a folder on disk, and still reads a good one', async () => {
    const config = tinyConfig({ architecture: 'qwen2', vocabSize: 300, ropeLayout: 'half', attentionBias: true, tiedEmbeddings: true });
    const files = hfFolderFiles(randomWeights(config, 2), new HfTokenizer(good, tokenizerConfig));
    const dir = join(root, 'hf');
    mkdirSync(dir);
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
    expect((await loadModel(dir)).tokenizer.encode('hello world')).toEqual([259, 264]);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ ...good, model: { ...good.model, merges: undefined } }));
    const err = await loadModel(dir).catch((e) => e);
    expect(err).toBeInstanceOf(TokenizerFormatError);
    expect(err.message).toBe(`${dir}/tokenizer.json: field model.merges: expected an array of merges ("left right" strings or [left, right] pairs), got nothing (the field is missing)`);
  });
});

describe('--tokenizer path', () => {
  const checkpoint = new URL('stories260K.bin', STORIES260K_DIR).pathname;

  it('names a missing tokenizer file and what is expected (no raw ENOENT)', async () => {
    const missing = join(root, 'no-such-dir', 'tok512.bin');
    const err = await loadModel(checkpoint, { tokenizer: missing }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect(err.message).toBe(`${missing}: does not exist; expected a llama2.c tokenizer file (e.g. tok512.bin from llama2.c, or tokenizer.bin); ` +
      'check the path given as the tokenizer (--tokenizer)');
    expect(err.message).not.toMatch(/ENOENT/);
  });

  it('names a directory given as the tokenizer', async () => {
    const err = await loadModel(checkpoint, { tokenizer: root }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelSourceError);
    expect(err.message).toMatch(new RegExp(`^${root}: is a directory; expected a llama2\\.c tokenizer file`));
  });

  it('still takes a good one', async () => {
    const m = await loadModel(checkpoint, { tokenizer: new URL('tok512.bin', STORIES260K_DIR).pathname });
    expect(m.tokenizer.vocabSize).toBe(512);
  });
});
