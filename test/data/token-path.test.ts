// One token path: for every record format and every task, the tokens and labels XTF scores (the score
// file) are exactly the ones the trainer batches (unfiltered, and through a score file) and the ones the
// evaluator measures held-out loss on. Real tokenizer and model (stories260K), real task files.
import { describe, expect, it } from 'vitest';
import { batchOf, labelBatches } from '../../src/data/batch.ts';
import { readRecordsFile } from '../../src/data/files-fs.ts';
import { exampleRecord, questionPrompt, RECORD_FORMATS, toTrainRecord, type RecordFormat, type TrainRecord } from '../../src/data/records.ts';
import { taskExamples, type TaskName } from '../../src/data/tasks.ts';
import { tokenizeRecords, unfiltered } from '../../src/data/tokenize.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { XTF_DEFAULTS } from '../../src/xtf/options.ts';
import { parseScoredExample } from '../../src/xtf/scorefile.ts';
import { scoreExamples } from '../../src/xtf/score.ts';
import { scoredToTraining } from '../../src/xtf/to-training.ts';
import { gpu } from '../helpers/gpu.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';

const DATA = new URL('../../../shared/data/', import.meta.url).pathname;
const tok = loadTokenizer();

/** Two records of each format as a user would write them. */
const FORMAT_RECORDS: Record<RecordFormat, unknown[]> = {
  text: [{ text: 'Once upon a time there was a cat.' }, { text: 'The dog ran home.' }],
  'prompt-completion': [{ prompt: 'Lily saw a bird.', completion: ' She smiled.' }, { prompt: [{ role: 'user', content: 'Hi' }], completion: [{ role: 'assistant', content: 'Hello there.' }] }],
  messages: [{ messages: [{ role: 'user', content: 'Tell a story.' }, { role: 'assistant', content: 'A cat sat.' }, { role: 'user', content: 'More.' }, { role: 'assistant', content: 'It slept.' }] }, { messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'A' }] }],
  sharegpt: [{ conversations: [{ from: 'human', value: 'Who?' }, { from: 'gpt', value: 'Tom the dog.' }] }, { conversations: [{ from: 'system', value: 'Be kind.' }, { from: 'human', value: 'Hi' }, { from: 'gpt', value: 'Hello.' }] }],
  alpaca: [{ instruction: 'Name a colour.', input: '', output: 'Red.' }, { instruction: 'Add.', input: '2 and 3', output: '5' }],
  'question-answer': [{ question: 'How many legs has a cat?', answer: 'Four.\n#### 4' }, { question: 'Two plus two?', answer: '#### 4' }],
  tokens: [{ input_ids: [1, 300, 301, 302, 2], labels: [-100, -100, 301, 302, 2] }, { input_ids: [1, 40, 41, 42] }],
};

const TASK_FILES: Record<TaskName, string> = { gsm8k: 'gsm8k/test.jsonl', pubmedqa: 'pubmedqa/ori_pqal.json', medqa: 'medqa/test.jsonl', mbpp: 'mbpp/mbpp.jsonl' };

function cases(): { name: string; records: TrainRecord[] }[] {
  const out = (Object.keys(FORMAT_RECORDS) as RecordFormat[]).map((f) => ({ name: `format ${f}`, records: FORMAT_RECORDS[f].map((v, i) => toTrainRecord(v, `${f}.jsonl`, i + 1, { format: f })) }));
  for (const task of Object.keys(TASK_FILES) as TaskName[]) {
    const raw = readRecordsFile(DATA + TASK_FILES[task]).slice(0, 3);
    out.push({ name: `task ${task}`, records: taskExamples(task, raw, TASK_FILES[task]).map(exampleRecord) });
  }
  return out;
}

describe('one token path (stories260K)', async () => {
  const rt = await gpu();
  const model = LlamaModel.fromWeights(rt, loadModel());
  // A short context, so long task records (PubMedQA) are cut: the cut must be the same everywhere too.
  const maxLength = 96;

  it('covers every record format', () => {
    expect(Object.keys(FORMAT_RECORDS).sort()).toEqual([...RECORD_FORMATS].sort());
  });

  for (const { name, records } of cases()) {
    it(`${name}: the score file's tokens and labels are the trainer's batch and the evaluator's`, async () => {
      const { scored } = await scoreExamples(model, tok, records, { method: 'none', xtf: { ...XTF_DEFAULTS, maxSeqLen: maxLength } });
      // Through the score file as written and read back.
      const fromFile = scored.map((ex) => parseScoredExample(JSON.stringify(ex)));
      // The trainer without a filter (xtf train --filter none) and with a score file (--scores).
      const report = tokenizeRecords(tok, records, { maxLength });
      const plain = report.examples.map(unfiltered);
      const viaScores = fromFile.map((ex) => scoredToTraining(ex, maxLength)).filter((t) => t.labels.lossMask.some((m) => m));
      expect(viaScores.map((t) => t.id)).toEqual(plain.map((t) => t.id));
      viaScores.forEach((t, e) => {
        expect(t.train.tokens, t.id).toEqual(plain[e].train.tokens);
        expect(t.labels.lossMask, t.id).toEqual(plain[e].train.lossMask.map((m, i) => m && i > 0));
      });
      // The batches the trainer steps on and the evaluator's held-out batches.
      const train = batchOf(plain.map((t) => t.train), tok.eosId);
      const fromScores = batchOf(viaScores.map((t) => t.train), tok.eosId);
      const { batches } = labelBatches(tok, records, { maxLength, batchSize: records.length });
      expect(batches).toHaveLength(1);
      for (const b of [fromScores, batches[0]]) {
        expect(Array.from(b.ids)).toEqual(Array.from(train.ids));
        expect(Array.from(b.targets)).toEqual(Array.from(train.targets));
        expect(Array.from(b.lossMask)).toEqual(Array.from(train.lossMask));
      }
      // Every label position of the score file is a target the loss sees, and nothing else is.
      const T = train.seqLen;
      fromFile.filter((ex) => ex.label.some((l, i) => l && i > 0)).forEach((ex, row) => {
        for (let t = 1; t < ex.tokens.length; t++) expect(train.lossMask[row * T + t - 1], `${ex.id} token ${t}`).toBe(ex.label[t] ? 1 : 0);
      });
    });
  }

  it('renders a question/answer record exactly as the GSM8K task does', () => {
    const raw = readRecordsFile(`${DATA}gsm8k/test.jsonl`).slice(0, 2);
    const asTask = taskExamples('gsm8k', raw, 'test.jsonl').map(exampleRecord);
    const asRecord = raw.map((r) => toTrainRecord(r.value, 'test.jsonl', r.line));
    expect(tokenizeRecords(tok, asRecord).examples.map((e) => e.tokens)).toEqual(tokenizeRecords(tok, asTask).examples.map((e) => e.tokens));
    expect(asTask[0]).toMatchObject({ segments: [{ text: questionPrompt((raw[0].value as { question: string }).question), train: false }, { train: true }] });
  });
});
