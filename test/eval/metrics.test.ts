// Answer extraction / normalisation (no GPU) and evaluateTask / held-out loss on stories260K.
import { exampleRecord } from '../../src/data/records.ts';
import { describe, expect, it } from 'vitest';
import { readRecordsFile } from '../../src/data/files-fs.ts';
import { taskExamples, type TaskExample } from '../../src/data/tasks.ts';
import { evaluateHeldOutLoss, evaluateTask, gsm8kPrediction, medqaPrediction, normalizeNumber, predictionOf, pubmedqaPrediction, targetOf } from '../../src/eval/metrics.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { gpu } from '../helpers/gpu.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';

const DATA = new URL('../../../shared/data/', import.meta.url).pathname;

describe('answer extraction and normalisation', () => {
  it('normalises numbers: $, commas, trailing zeros, signs, leading zeros', () => {
    expect(normalizeNumber('1,234')).toBe('1234');
    expect(normalizeNumber('$18.00')).toBe('18');
    expect(normalizeNumber('18.0')).toBe('18');
    expect(normalizeNumber('1,234.50')).toBe('1234.5');
    expect(normalizeNumber('+7')).toBe('7');
    expect(normalizeNumber('007')).toBe('7');
    expect(normalizeNumber('-0.0')).toBe('0');
    expect(normalizeNumber('-3.25')).toBe('-3.25');
    expect(normalizeNumber('.5')).toBe('0.5');
    expect(normalizeNumber('42.')).toBe('42');
    expect(normalizeNumber('abc')).toBeUndefined();
    expect(normalizeNumber('')).toBeUndefined();
  });

  it('GSM8K: the number after the last ####, else the last number', () => {
    expect(gsm8kPrediction('She has 3 + 4 = 7 apples.\n#### 7')).toBe('7');
    expect(gsm8kPrediction('#### 5\nthen more\n#### $1,200.00')).toBe('1200');
    expect(gsm8kPrediction('So the answer is $1,000.')).toBe('1000');
    expect(gsm8kPrediction('10 cats and 2.50 dogs')).toBe('2.5');
    expect(gsm8kPrediction('no numbers here')).toBeUndefined();
  });

  it('PubMedQA: "Final decision: X", else a leading yes/no/maybe', () => {
    expect(pubmedqaPrediction('Long answer.\nFinal decision: Yes')).toBe('yes');
    expect(pubmedqaPrediction('final decision:maybe')).toBe('maybe');
    expect(pubmedqaPrediction(' No, it does not.')).toBe('no');
    expect(pubmedqaPrediction('Nobody knows')).toBeUndefined();
    expect(pubmedqaPrediction('The cells grew.')).toBeUndefined();
  });

  it('MedQA: the leading option letter, only when it is a choice', () => {
    expect(medqaPrediction('B. Tell the attending', ['A', 'B', 'C', 'D'])).toBe('B');
    expect(medqaPrediction(' (C) something', ['A', 'B', 'C', 'D'])).toBe('C');
    expect(medqaPrediction('E. out of range', ['A', 'B', 'C', 'D'])).toBeUndefined();
    expect(medqaPrediction('The answer is B', ['A', 'B', 'C', 'D'])).toBeUndefined();
  });

  it('targets and predictions of the real adapters agree on the reference completions', () => {
    const gsm = taskExamples('gsm8k', readRecordsFile(`${DATA}gsm8k/test.jsonl`).slice(0, 20), 'test.jsonl');
    for (const e of gsm) expect(predictionOf('gsm8k', e.completion, e)).toBe(targetOf(e));
    const med = taskExamples('medqa', readRecordsFile(`${DATA}medqa/test.jsonl`).slice(0, 20), 'test.jsonl');
    for (const e of med) expect(predictionOf('medqa', e.completion, e)).toBe(targetOf(e));
    const pub = taskExamples('pubmedqa', readRecordsFile(`${DATA}pubmedqa/ori_pqal.json`).slice(0, 20), 'ori_pqal.json');
    for (const e of pub) expect(predictionOf('pubmedqa', e.completion, e)).toBe(targetOf(e));
    const mbpp: TaskExample = { id: 'm', prompt: '', completion: '', target: { kind: 'tests', setup: '', tests: [] } };
    expect(() => targetOf(mbpp)).toThrow(/not scored/);
  });
});

describe('evaluateTask and held-out loss on stories260K', () => {
  const examples = taskExamples('gsm8k', readRecordsFile(`${DATA}gsm8k/test.jsonl`).slice(0, 5), 'test.jsonl');

  it('generates greedily per example, batched or not, and parses the answers (3 GSM8K examples)', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    const tok = loadTokenizer();
    try {
      const seen: number[] = [];
      const r = await evaluateTask(model, tok, examples, { task: 'gsm8k', maxNewTokens: 24, limit: 3, onProgress: (done, total) => seen.push(done * 10 + total) });
      expect(seen).toEqual([13, 23, 33]);
      expect(r.total).toBe(3);
      expect(r.perExample).toHaveLength(3);
      expect(r.correct).toBe(r.perExample.filter((e) => e.correct).length);
      expect(r.accuracy).toBeCloseTo(r.correct / 3);
      for (const [i, e] of r.perExample.entries()) {
        expect(e.id).toBe(examples[i].id);
        expect(e.target).toBe(targetOf(examples[i]));
        expect(typeof e.output).toBe('string');
        expect(e.generatedTokens).toBeGreaterThan(0);
        expect(e.generatedTokens).toBeLessThanOrEqual(24);
        // The prediction is whatever the parser finds in the output (stories260K tells stories, not answers).
        expect(e.predicted).toBe(gsm8kPrediction(e.output) ?? null);
        expect(e.correct).toBe(e.predicted === e.target);
      }
      // Greedy: the same again, whether the examples decode side by side (above) or one at a time.
      const again = await evaluateTask(model, tok, examples, { task: 'gsm8k', maxNewTokens: 24, limit: 3, batchSize: 1 });
      expect(again.perExample.map((e) => e.output)).toEqual(r.perExample.map((e) => e.output));
      await expect(evaluateTask(model, tok, examples, { task: 'gsm8k', batchSize: 0 })).rejects.toThrow(/batchSize must be a whole number/);
      await expect(evaluateTask(model, tok, examples, { task: 'mbpp' as never })).rejects.toThrow(/task must be one of/);
    } finally {
      model.release();
    }
  });

  it('held-out loss over the answer tokens, perplexity = exp(loss)', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, loadModel());
    try {
      const r = await evaluateHeldOutLoss(model, loadTokenizer(), examples.slice(0, 3).map(exampleRecord), { batchSize: 2 });
      expect(r.examples).toBe(3);
      expect(r.tokens).toBeGreaterThan(10);
      expect(Number.isFinite(r.loss) && r.loss > 0).toBe(true);
      expect(r.perplexity).toBeCloseTo(Math.exp(r.loss), 4);
      expect(r.truncatedExamples).toBe(0);
      // A short context drops prompt tokens first: every example still has answer tokens scored.
      const short = await evaluateHeldOutLoss(model, loadTokenizer(), examples.slice(0, 3).map(exampleRecord), { maxLength: 48 });
      expect(short).toMatchObject({ examples: 3, truncatedExamples: 3 });
      expect(short.tokens).toBeGreaterThan(3 * 30);
      expect(Number.isFinite(short.loss)).toBe(true);
    } finally {
      model.release();
    }
  });
});
