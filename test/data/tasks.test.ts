import { describe, expect, it } from 'vitest';
import { readRecordsFile } from '../../src/data/files-fs.ts';
import { parseRecordsText } from '../../src/data/files.ts';
import { gsm8kFinalNumber, medqaLetter, pubmedqaDecision, splitTrainValidation, taskExamples } from '../../src/data/tasks.ts';
import { tokenizeRecords } from '../../src/data/tokenize.ts';
import { exampleRecord } from '../../src/data/records.ts';
import { loadTokenizer } from '../model/stories260k.ts';

const DATA = new URL('../../../shared/data/', import.meta.url).pathname;
const first = <T>(xs: T[], n = 5) => xs.slice(0, n);

describe('task adapters on the real files', () => {
  it('GSM8K: question -> reasoning with "#### N", target N', () => {
    const raw = readRecordsFile(`${DATA}gsm8k/train.jsonl`);
    expect(raw).toHaveLength(7473);
    const [ex] = taskExamples('gsm8k', first(raw), 'train.jsonl');
    expect(ex.prompt).toMatch(/^Question: Natalia sold clips .*\nAnswer: $/s);
    expect(ex.completion.endsWith('#### 72')).toBe(true);
    expect(ex.target).toEqual({ kind: 'number', value: '72' });
    expect(gsm8kFinalNumber(ex.completion)).toBe('72');
    expect(gsm8kFinalNumber('so 1,234.5 in all\n#### 1,234.5')).toBe('1234.5');
  });

  it('PubMedQA: contexts + question -> long answer + decision, target the decision, id the PMID', () => {
    const raw = readRecordsFile(`${DATA}pubmedqa/ori_pqal.json`);
    expect(raw).toHaveLength(1000);
    expect(raw[0]).toMatchObject({ line: 2, key: '21645374' });
    const exs = taskExamples('pubmedqa', first(raw), 'ori_pqal.json');
    expect(exs[0].id).toBe('21645374');
    expect(exs[0].prompt).toMatch(/^Context: Programmed cell death .*\nQuestion: Do mitochondria play a role .*\nAnswer: $/s);
    expect(exs[0].completion).toMatch(/^Results depicted mitochondrial dynamics.*\nFinal decision: yes$/s);
    expect(exs[0].target).toEqual({ kind: 'choice', value: 'yes', choices: ['yes', 'no', 'maybe'] });
    for (const e of exs) expect(pubmedqaDecision(e.completion)).toBe((e.target as { value: string }).value);
  });

  it('MedQA: question + options -> "X. text", target the letter', () => {
    const raw = readRecordsFile(`${DATA}medqa/test.jsonl`);
    const [ex] = taskExamples('medqa', first(raw, 1), 'test.jsonl');
    expect(ex.id).toBe('medqa-0');
    expect(ex.prompt).toMatch(/\nA\. Disclose the error.*\nB\. .*\nC\. .*\nD\. Refuse to dictate the operative report\nAnswer: $/s);
    expect(ex.completion).toBe('B. Tell the attending that he cannot fail to disclose this mistake');
    expect(ex.target).toEqual({ kind: 'choice', value: 'B', choices: ['A', 'B', 'C', 'D'] });
    expect(medqaLetter(ex.completion)).toBe('B');
    // The answer text agrees with the lettered option on the real file.
    for (const r of first(raw, 50)) {
      const v = r.value as { answer: string; answer_idx: string; options: Record<string, string> };
      expect(v.options[v.answer_idx]).toBe(v.answer);
    }
  });

  it('MBPP: task + tests -> code, target the tests', () => {
    const raw = readRecordsFile(`${DATA}mbpp/mbpp.jsonl`);
    const [ex] = taskExamples('mbpp', first(raw, 1), 'mbpp.jsonl');
    expect(ex.id).toBe('mbpp-1');
    expect(ex.prompt).toMatch(/^Write a function to find the minimum cost path.*\nYour code should pass these tests:\nassert min_cost/s);
    expect(ex.completion).not.toContain('\r');
    expect(ex.target).toMatchObject({ kind: 'tests', setup: '' });
    expect((ex.target as { tests: string[] }).tests).toHaveLength(3);
  });

  it('tokenizes task examples with stories260K and reports truncation', () => {
    const exs = taskExamples('gsm8k', first(readRecordsFile(`${DATA}gsm8k/test.jsonl`), 20), 'test.jsonl');
    const report = tokenizeRecords(loadTokenizer(), exs.map(exampleRecord), { maxLength: 256 });
    expect(report.examples.length + report.emptyLabels.count).toBe(20);
    expect(report.examples.every((e) => e.tokens.length <= 256)).toBe(true);
    expect(report.truncatedExamples).toBeGreaterThan(0);
  });

  it('reads a gzip JSONL file (HumanEval.jsonl.gz)', () => {
    const raw = readRecordsFile(`${DATA}humaneval/HumanEval.jsonl.gz`);
    expect(raw).toHaveLength(164);
    expect(raw[0]).toMatchObject({ line: 1, value: { task_id: 'HumanEval/0' } });
  });

  it('names file:line:field for a bad task record', () => {
    const raw = parseRecordsText('{"question":"q","answer":"a #### 1"}\n{"question":"q","answer":"no final number"}', 'g.jsonl');
    expect(() => taskExamples('gsm8k', raw, 'g.jsonl')).toThrow(`g.jsonl:2: field 'answer': expected the reasoning to end with "#### <number>"`);
  });
});

describe('seeded train/validation split', () => {
  const items = Array.from({ length: 100 }, (_, i) => ({ id: `ex-${i}` }));
  it('is deterministic, exact in size, order-independent and seed-dependent', () => {
    const a = splitTrainValidation(items, { validationFraction: 0.1, seed: 1 });
    const b = splitTrainValidation(items, { validationFraction: 0.1, seed: 1 });
    expect(a).toEqual(b);
    expect(a.validation).toHaveLength(10);
    expect(a.train).toHaveLength(90);
    expect(new Set([...a.train, ...a.validation].map((x) => x.id)).size).toBe(100);
    const reversed = splitTrainValidation([...items].reverse(), { validationFraction: 0.1, seed: 1 });
    expect(new Set(reversed.validation.map((x) => x.id))).toEqual(new Set(a.validation.map((x) => x.id)));
    const other = splitTrainValidation(items, { validationFraction: 0.1, seed: 2 });
    expect(other.validation.map((x) => x.id)).not.toEqual(a.validation.map((x) => x.id));
    expect(() => splitTrainValidation([{ id: 'x' }, { id: 'x' }], { validationFraction: 0.5 })).toThrow(/appears twice/);
  });
});
