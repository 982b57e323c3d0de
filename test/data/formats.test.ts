import { gzipSync } from 'fflate';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exampleOf, withCompletion } from '../../src/data/examples.ts';
import { parseRecordsBytes, parseRecordsText } from '../../src/data/files.ts';
import { DataFormatError } from '../../src/data/jsonl.ts';
import { toTrainRecord, toTrainRecords, type TextRecord } from '../../src/data/records.ts';
import { fitLength, tokenizeRecord, tokenizeRecords } from '../../src/data/tokenize.ts';
import { loadTokenizer } from '../model/stories260k.ts';

const enc = new TextEncoder();
const text = (r: unknown) => (r as TextRecord).segments;

function errorOf(fn: () => unknown): DataFormatError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DataFormatError) return e;
    throw e;
  }
  throw new Error('expected a DataFormatError');
}

describe('record formats', () => {
  it('maps each format to segments', () => {
    expect(text(toTrainRecord({ text: 'Once upon' }, 'f', 1))).toEqual([{ text: 'Once upon', train: true }]);
    expect(text(toTrainRecord({ prompt: 'P ', completion: 'C' }, 'f', 1))).toEqual([{ text: 'P ', train: false }, { text: 'C', train: true }]);
    expect(text(toTrainRecord({ instruction: 'Do', input: 'x', output: 'y' }, 'f', 1))).toEqual([{ text: 'Do\n\nx\n\n', train: false }, { text: 'y', train: true }]);
    expect(text(toTrainRecord({ instruction: 'Do', input: '', output: 'y' }, 'f', 1))).toEqual([{ text: 'Do\n\n', train: false }, { text: 'y', train: true }]);
    expect(text(toTrainRecord({ question: 'Q?', answer: 'A #### 3' }, 'f', 1))).toEqual([{ text: 'Question: Q?\nAnswer: ', train: false }, { text: 'A #### 3', train: true }]);
    const sharegpt = toTrainRecord({ conversations: [{ from: 'system', value: 'S' }, { from: 'human', value: 'hi' }, { from: 'gpt', value: 'hello' }] }, 'f', 1);
    expect(text(sharegpt)).toEqual([{ text: '<|system|>\nS\n<|user|>\nhi\n<|assistant|>\n', train: false }, { text: 'hello', train: true }, { text: '\n', train: false }]);
    expect(toTrainRecord({ input_ids: [1, 5, 6], labels: [-100, 5, 6] }, 'f', 1)).toEqual({ id: 'f:1', tokens: [1, 5, 6], lossMask: [false, true, true] });
  });

  it('forces a format and keeps ids', () => {
    const r = toTrainRecord({ id: 7, text: 'T', prompt: 'ignored' }, 'f', 1, { format: 'text' });
    expect(r.id).toBe('7');
    expect(text(r)).toEqual([{ text: 'T', train: true }]);
  });

  it('reads JSONL, JSON arrays, id maps and gzip with the line each record starts on', () => {
    const jsonl = '{"text":"a"}\n\n{"text":"b"}\n';
    expect(parseRecordsText(jsonl, 'f').map((r) => r.line)).toEqual([1, 3]);
    const array = '[\n  {"text": "a"},\n  {\n    "text": "b, [x] {y}"\n  }\n]';
    expect(parseRecordsText(array, 'f').map((r) => [r.line, (r.value as { text: string }).text])).toEqual([[2, 'a'], [3, 'b, [x] {y}']]);
    const map = '{\n "11": {"text": "a"},\n "12": {"text": "b"}\n}';
    expect(parseRecordsText(map, 'f').map((r) => [r.line, r.key])).toEqual([[2, '11'], [3, '12']]);
    expect(parseRecordsBytes(gzipSync(enc.encode(jsonl)), 'f.jsonl.gz').map((r) => r.value)).toEqual([{ text: 'a' }, { text: 'b' }]);
    expect(parseRecordsBytes(gzipSync(enc.encode(array)), 'f.json.gz')).toHaveLength(2);
    expect(toTrainRecords(parseRecordsText(map, 'f'), 'f').map((r) => r.id)).toEqual(['11', '12']);
  });

  it('stops on malformed records with file:line:field and what was expected', () => {
    expect(errorOf(() => parseRecordsText('{"text":"a"}\n{"text": oops}\n', 'd.jsonl')).message).toMatch(/^d\.jsonl:2: not valid JSON/);
    expect(errorOf(() => toTrainRecord({ prompt: 'p', completion: 3 }, 'd.jsonl', 4)).message).toBe("d.jsonl:4: field 'completion': expected a string, got 3");
    expect(errorOf(() => toTrainRecord({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant' }] }, 'd.jsonl', 5)).message)
      .toBe("d.jsonl:5: field 'messages[1].content': expected a string, got nothing");
    expect(errorOf(() => toTrainRecord({ conversations: [{ from: 'robot', value: 'x' }] }, 'd', 1)).message).toMatch(/conversations\[0\]\.from': expected human, gpt or system/);
    expect(errorOf(() => toTrainRecord({ input_ids: [1, 2], labels: [-100, 3] }, 'd', 2)).message).toMatch(/^d:2: field 'labels\[1\]': expected -100 or input_ids\[1\] \(2\)/);
    expect(errorOf(() => toTrainRecord({ foo: 1 }, 'd', 9)).message).toMatch(/^d:9: no known fields \(has foo\)/);
    const e = errorOf(() => toTrainRecords(parseRecordsText('[\n{"text":"a"},\n{"txt":"b"}\n]', 'd.json'), 'd.json'));
    expect(e.line).toBe(3);
  });
});

describe('tokenizing records (stories260K)', () => {
  const tok = loadTokenizer();

  it('labels exactly the completion tokens, with BOS and a trained EOS', () => {
    const r = toTrainRecord({ prompt: 'Once upon a time', completion: ' there was a cat.' }, 'f', 1);
    const t = tokenizeRecord(tok, r);
    expect(t.tokens).toEqual([...tok.encode('Once upon a time there was a cat.'), tok.eosId]);
    const prompt = tok.encode('Once upon a time');
    expect(t.lossMask.indexOf(true)).toBe(prompt.length);
    expect(t.lossMask.slice(prompt.length).every(Boolean)).toBe(true);
    expect(tok.decode(t.tokens.filter((_, i) => t.lossMask[i]))).toBe(' there was a cat.');
  });

  it('pre-tokenised records keep their mask; text records are all labels except BOS', () => {
    expect(tokenizeRecord(tok, toTrainRecord({ input_ids: [1, 300, 301], labels: [-100, -100, 301] }, 'f', 1)).lossMask).toEqual([false, false, true]);
    const t = tokenizeRecord(tok, toTrainRecord({ text: 'Tom ran.' }, 'f', 1));
    expect(t.lossMask).toEqual(t.tokens.map((_, i) => i > 0));
    expect(() => tokenizeRecord(tok, toTrainRecord({ input_ids: [1, 9999] }, 'f', 1))).toThrow(/outside the vocabulary/);
  });

  it("cuts the prompt's start first (the answer stays), counts what was cut, and reports examples left without labels", () => {
    const records = toTrainRecords(parseRecordsText([
      JSON.stringify({ id: 'short', prompt: 'Hi', completion: ' there' }),
      JSON.stringify({ id: 'long', prompt: 'Once upon a time there was a big dog', completion: ' and a cat.' }),
      JSON.stringify({ id: 'empty', prompt: 'Hi', completion: '' }),
    ].join('\n'), 'f'), 'f');
    const whole = tokenizeRecord(tok, records[1]);
    const report = tokenizeRecords(tok, records, { maxLength: 8 });
    expect(report.examples.map((e) => e.id)).toEqual(['short', 'long']);
    expect(report.truncatedExamples).toBe(1);
    expect(report.truncatedTokens).toBe(whole.tokens.length - 8);
    expect(report.emptyLabels).toEqual({ count: 1, firstIds: ['empty'] });
    // BOS, then the prompt's last token (it predicts the first label), then every label token of the whole.
    const long = report.examples[1];
    const labels = whole.tokens.filter((_, i) => whole.lossMask[i]);
    expect(long.tokens).toEqual([tok.bosId, ...whole.tokens.slice(whole.lossMask.indexOf(true) - 1, whole.lossMask.indexOf(true)), ...labels]);
    expect(long.lossMask).toEqual([false, false, ...labels.map(() => true)]);
    // An answer longer than the room left is cut at its end.
    const tight = tokenizeRecords(tok, records, { maxLength: 4 });
    expect(tight.examples.find((e) => e.id === 'long')!.tokens).toEqual([tok.bosId, ...whole.tokens.slice(whole.lossMask.indexOf(true) - 1, whole.lossMask.indexOf(true) + 2)]);
  });
});

describe('very long records (stories260K)', () => {
  const tok = loadTokenizer();
  const story = readFileSync('../shared/data/tinystories/sample.txt', 'utf8');
  const long = (n: number) => story.repeat(Math.ceil(n / story.length)).slice(0, n);

  it('are cut by characters first, to exactly the tokens the whole record gives', () => {
    for (const [prompt, completion] of [[long(200_000), ' The end.'], ['Once upon a time', long(200_000)], [long(90_000), long(90_000)]]) {
      const record = toTrainRecord({ prompt, completion }, 'f', 1);
      const cut = tokenizeRecord(tok, record, { maxLength: 64 });
      const whole = tokenizeRecord(tok, record);
      fitLength(whole.tokens, whole.lossMask, 64, tok.bosId);
      expect(cut.tokens).toEqual(whole.tokens);
      expect(cut.lossMask).toEqual(whole.lossMask);
      expect(cut.truncated).toBeGreaterThan(0);
    }
  });

  it('a 5 MB record tokenizes in a moment when it will be cut anyway', () => {
    const t0 = performance.now();
    const t = tokenizeRecord(tok, toTrainRecord({ prompt: long(2_500_000), completion: long(2_500_000) }, 'f', 1), { maxLength: 256 });
    expect(t.tokens).toHaveLength(256);
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

describe('exampleOf / withCompletion (the one-span view, for injecting noise into answers)', () => {
  it('gives every text format with one label span its prompt and completion, and replaces the completion in place', () => {
    const records = toTrainRecords(parseRecordsText(JSON.stringify([
      { prompt: 'P', completion: 'C' },
      { question: 'Q', answer: 'A' },
      { messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'yo' }] },
    ]), 'f.json'), 'f.json');
    expect(records.map(exampleOf)).toEqual([
      { id: 'f.json[0]', prompt: 'P', completion: 'C' },
      { id: 'f.json[1]', prompt: 'Question: Q\nAnswer: ', completion: 'A' },
      { id: 'f.json[2]', prompt: '<|user|>\nhi\n<|assistant|>\n', completion: 'yo' },
    ]);
    const chat = withCompletion(records[2], 'yo yo');
    expect(exampleOf(chat)).toEqual({ id: 'f.json[2]', prompt: '<|user|>\nhi\n<|assistant|>\n', completion: 'yo yo' });
    expect(chat).toMatchObject({ bos: (records[2] as TextRecord).bos, eos: (records[2] as TextRecord).eos });
    const multi = toTrainRecord({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }, { role: 'user', content: 'c' }, { role: 'assistant', content: 'd' }] }, 'm.jsonl', 1);
    expect(exampleOf(multi)).toMatch(/several label spans/);
    expect(exampleOf(toTrainRecord({ input_ids: [1, 2] }, 't.jsonl', 1))).toMatch(/pre-tokenised/);
  });
});

describe('more formats', () => {
  it('conversational prompt/completion trains the completion messages', () => {
    const r = toTrainRecord({ prompt: [{ role: 'user', content: 'Q' }], completion: [{ role: 'assistant', content: 'A' }] }, 'f', 1);
    expect(text(r).filter((s) => s.train).map((s) => s.text)).toEqual(['A']);
  });

  it('OpenAI-style weight 0 leaves an assistant turn untrained', () => {
    const r = toTrainRecord({ messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'old', weight: 0 }, { role: 'user', content: 'R' }, { role: 'assistant', content: 'new' }] }, 'f', 1);
    expect(text(r).filter((s) => s.train).map((s) => s.text)).toEqual(['new']);
    expect(() => toTrainRecord({ messages: [{ role: 'assistant', content: 'x', weight: 0.5 }] }, 'f', 2)).toThrow("f:2: field 'messages[0].weight': expected 0 or 1, got 0.5");
  });

  it('src/data uses no Node built-ins outside files-fs.ts (it runs in browsers)', () => {
    const dir = new URL('../../src/data/', import.meta.url);
    for (const f of readdirSync(dir)) {
      if (f === 'files-fs.ts') continue;
      expect(readFileSync(new URL(f, dir), 'utf8'), f).not.toMatch(/from '(node:|fs'|path'|zlib')/);
    }
  });
});
