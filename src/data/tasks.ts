// Task adapters for the evaluation sets in ../shared/data: each turns the file's records into prompt /
// completion examples and keeps the evaluation target (what a metric compares a generation with).
//   GSM8K     question -> reasoning ending "#### N"            target: the number N
//   PubMedQA  contexts + question -> long answer + decision    target: yes / no / maybe
//   MedQA     question + lettered options -> "X. option text"  target: the letter
//   MBPP      task text + tests -> code                        target: the tests (run by a later metric)
import type { RawRecord } from './files.ts';
import { DataFormatError } from './jsonl.ts';
import { questionPrompt, type Example } from './records.ts';

export type EvaluationTarget =
  | { kind: 'number'; value: string }
  | { kind: 'choice'; value: string; choices: string[] }
  | { kind: 'tests'; setup: string; tests: string[] };

export interface TaskExample extends Example {
  target: EvaluationTarget;
}

export type TaskName = 'gsm8k' | 'pubmedqa' | 'medqa' | 'mbpp';

type Obj = Record<string, unknown>;

function fields(raw: RawRecord, file: string) {
  const fail = (field: string | null, problem: string): never => {
    throw new DataFormatError(file, raw.line, field, problem);
  };
  if (raw.value === null || typeof raw.value !== 'object' || Array.isArray(raw.value)) fail(null, 'expected a JSON object');
  const r = raw.value as Obj;
  const str = (f: string): string => (typeof r[f] === 'string' ? (r[f] as string) : fail(f, `expected a string, got ${r[f] === undefined ? 'nothing' : JSON.stringify(r[f]).slice(0, 40)}`));
  const strings = (f: string): string[] => (Array.isArray(r[f]) && (r[f] as unknown[]).every((s) => typeof s === 'string') ? (r[f] as string[]) : fail(f, 'expected a list of strings'));
  return { r, fail, str, strings };
}

/** GSM8K's final answer: the number after the last "####", without thousands separators. */
export function gsm8kFinalNumber(text: string): string | undefined {
  const m = /####\s*([-+]?[\d,]*\.?\d+)/.exec(text.slice(text.lastIndexOf('####')));
  return m ? m[1].replaceAll(',', '') : undefined;
}

export function gsm8kExample(raw: RawRecord, file: string, index: number): TaskExample {
  const { str, fail } = fields(raw, file);
  const answer = str('answer');
  const value = gsm8kFinalNumber(answer) ?? fail('answer', 'expected the reasoning to end with "#### <number>"');
  return { id: `gsm8k-${index}`, prompt: questionPrompt(str('question')), completion: answer, target: { kind: 'number', value } };
}

export const PUBMEDQA_DECISIONS = ['yes', 'no', 'maybe'];

/** The decision a PubMedQA completion states ("Final decision: yes"). */
export function pubmedqaDecision(text: string): string | undefined {
  return /final decision:\s*(yes|no|maybe)/i.exec(text)?.[1].toLowerCase();
}

export function pubmedqaExample(raw: RawRecord, file: string, index: number): TaskExample {
  const { str, strings, fail } = fields(raw, file);
  const decision = str('final_decision');
  if (!PUBMEDQA_DECISIONS.includes(decision)) fail('final_decision', `expected yes, no or maybe, got ${JSON.stringify(decision)}`);
  const context = strings('CONTEXTS').join('\n');
  return {
    id: raw.key ?? `pubmedqa-${index}`,
    prompt: `Context: ${context}\nQuestion: ${str('QUESTION')}\nAnswer: `,
    completion: `${str('LONG_ANSWER')}\nFinal decision: ${decision}`,
    target: { kind: 'choice', value: decision, choices: PUBMEDQA_DECISIONS },
  };
}

/** The option letter a MedQA completion starts with ("B. ..."). */
export function medqaLetter(text: string): string | undefined {
  return /^\s*\(?([A-J])\b/.exec(text)?.[1];
}

export function medqaExample(raw: RawRecord, file: string, index: number): TaskExample {
  const { r, str, fail } = fields(raw, file);
  const options = r.options;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) return fail('options', 'expected an object letter -> option text');
  const letters = Object.keys(options).sort();
  for (const l of letters) if (typeof (options as Obj)[l] !== 'string') fail(`options.${l}`, 'expected a string');
  const letter = str('answer_idx');
  if (!letters.includes(letter)) fail('answer_idx', `expected one of ${letters.join(', ')}, got ${JSON.stringify(letter)}`);
  const text = (options as Record<string, string>)[letter];
  const id = r.realidx !== undefined ? `medqa-${r.realidx}` : `medqa-${index}`;
  return {
    id,
    prompt: `Question: ${str('question')}\n${letters.map((l) => `${l}. ${(options as Record<string, string>)[l]}`).join('\n')}\nAnswer: `,
    completion: `${letter}. ${text}`,
    target: { kind: 'choice', value: letter, choices: letters },
  };
}

export function mbppExample(raw: RawRecord, file: string, index: number): TaskExample {
  const { r, str, strings } = fields(raw, file);
  const tests = strings('test_list');
  const normal = (s: string) => s.replaceAll('\r\n', '\n');
  const setup = typeof r.test_setup_code === 'string' ? normal(r.test_setup_code) : '';
  return {
    id: r.task_id !== undefined ? `mbpp-${r.task_id}` : `mbpp-${index}`,
    prompt: `${str('text')}\nYour code should pass these tests:\n${tests.join('\n')}\n`,
    completion: normal(str('code')),
    target: { kind: 'tests', setup, tests },
  };
}

const ADAPTERS: Record<TaskName, (raw: RawRecord, file: string, index: number) => TaskExample> = {
  gsm8k: gsm8kExample,
  pubmedqa: pubmedqaExample,
  medqa: medqaExample,
  mbpp: mbppExample,
};

export function taskExamples(task: TaskName, raw: readonly RawRecord[], file: string): TaskExample[] {
  return raw.map((r, i) => ADAPTERS[task](r, file, i));
}

// ---- seeded split ------------------------------------------------------------------------------------------

/** FNV-1a of the seed and id: a split that depends only on (seed, id), not on file order or platform. */
function hashId(seed: number, id: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/** Exactly round(fraction · n) items go to validation, chosen by a seeded hash of their ids; both parts keep
 *  the input order. Ids must be unique. */
export function splitTrainValidation<T extends { id: string }>(items: readonly T[], options: { validationFraction: number; seed?: number }): { train: T[]; validation: T[] } {
  const { validationFraction, seed = 0 } = options;
  if (!(validationFraction >= 0 && validationFraction <= 1)) throw new RangeError(`validationFraction must be in [0, 1], got ${validationFraction}`);
  const ids = new Set<string>();
  for (const it of items) {
    if (ids.has(it.id)) throw new RangeError(`id ${it.id} appears twice: a split by id needs unique ids`);
    ids.add(it.id);
  }
  const count = Math.round(validationFraction * items.length);
  const ranked = items.map((it, i) => ({ i, h: hashId(seed, it.id) })).sort((a, b) => a.h - b.h || a.i - b.i);
  const inValidation = new Set(ranked.slice(0, count).map((x) => x.i));
  return { train: items.filter((_, i) => !inValidation.has(i)), validation: items.filter((_, i) => inValidation.has(i)) };
}
