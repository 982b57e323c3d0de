// The general training record and the dataset formats people have. Every format becomes either text
// segments, each trained or not, or token ids with a label mask (pre-tokenised data):
//   {"text"}                                   all text trained
//   {"prompt","completion"}                    completion trained (prompt/completion may also be message lists)
//   {"messages":[{"role","content"}]}          rendered with the chat template, assistant turns trained
//   {"conversations":[{"from","value"}]}       ShareGPT (human/gpt/system), as messages
//   {"instruction","input","output"}           Alpaca, output trained
//   {"question","answer"}                      GSM8K-style "Question: …\nAnswer: " prompt, answer trained
//   {"input_ids","labels"}                     pre-tokenised; labels -100 are not trained
// The format is detected per record or forced with an option.
import { chatSegments, ChatTemplateError, type ChatMessage, type ChatTemplateOptions } from './chat.ts';
import type { RawRecord } from './files.ts';
import { DataFormatError } from './jsonl.ts';

export interface Segment {
  text: string;
  train: boolean;
}

export interface TextRecord {
  id: string;
  segments: Segment[];
  /** Let the tokenizer prepend BOS as it does by default (false when a chat template writes its own). */
  bos: boolean;
  /** Append EOS, trained when the last segment is (false when a chat template ends turns itself). */
  eos: boolean;
}

export interface TokenRecord {
  id: string;
  tokens: number[];
  lossMask: boolean[];
}

export type TrainRecord = TextRecord | TokenRecord;

/** One fine-tuning example as prompt and completion text (what task adapters and generated data give). */
export interface Example {
  id: string;
  prompt: string;
  completion: string;
}

/** An example as a training record: the prompt untrained, the completion trained, BOS and a trained EOS —
 *  exactly what a {"prompt","completion"} line of a data file becomes. */
export function exampleRecord(e: Example): TextRecord {
  return { id: e.id, segments: [{ text: e.prompt, train: false }, { text: e.completion, train: true }].filter((s) => s.text !== ''), bos: true, eos: true };
}

/** The one rendering of a question/answer pair (the {"question","answer"} format and the GSM8K task). */
export const questionPrompt = (question: string) => `Question: ${question}\nAnswer: `;

export const isTokenRecord = (r: TrainRecord): r is TokenRecord => 'tokens' in r;

export const RECORD_FORMATS = ['text', 'prompt-completion', 'messages', 'sharegpt', 'alpaca', 'question-answer', 'tokens'] as const;
export type RecordFormat = (typeof RECORD_FORMATS)[number];

export interface RecordOptions {
  /** Force one format; default: detected per record. */
  format?: RecordFormat | 'auto';
  /** Chat template for message formats: the model's own (HfTokenizer.chatTemplate); undefined -> the plain fallback. */
  chat?: ChatTemplateOptions;
}

type Obj = Record<string, unknown>;
const describe = (v: unknown) => (v === undefined ? 'nothing' : JSON.stringify(v).slice(0, 40));

export function detectFormat(r: Obj): RecordFormat | undefined {
  if ('input_ids' in r) return 'tokens';
  if ('messages' in r) return 'messages';
  if ('conversations' in r) return 'sharegpt';
  if ('prompt' in r || 'completion' in r) return 'prompt-completion';
  if ('instruction' in r && 'output' in r) return 'alpaca';
  if ('question' in r && 'answer' in r) return 'question-answer';
  if ('text' in r) return 'text';
  return undefined;
}

const SHAREGPT_ROLES: Record<string, string> = { human: 'user', user: 'user', gpt: 'assistant', assistant: 'assistant', system: 'system', chatgpt: 'assistant', bing: 'assistant', bard: 'assistant' };

/** One parsed JSON value -> a training record; errors name file:line:field and what was expected. */
export function toTrainRecord(value: unknown, file: string, line: number, options: RecordOptions = {}, key?: string): TrainRecord {
  const fail = (field: string | null, problem: string): never => {
    throw new DataFormatError(file, line, field, problem);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(null, 'expected a JSON object');
  const r = value as Obj;
  const str = (field: string, v: unknown = r[field]): string => (typeof v === 'string' ? v : fail(field, `expected a string, got ${describe(v)}`));
  const id = typeof r.id === 'string' || typeof r.id === 'number' ? String(r.id) : key ?? `${file.split('/').pop()}:${line}`;
  const format = !options.format || options.format === 'auto' ? detectFormat(r) : options.format;
  const plain = (segments: Segment[]): TextRecord => ({ id, segments: segments.filter((s) => s.text !== ''), bos: true, eos: true });

  const messagesOf = (field: string, list: unknown, trainAll = false): ChatMessage[] => {
    if (!Array.isArray(list)) return fail(field, `expected a list of {role, content} messages, got ${describe(list)}`);
    return list.map((m, i) => {
      const f = `${field}[${i}]`;
      if (m === null || typeof m !== 'object') return fail(f, 'expected a {role, content} object');
      const o = m as Obj;
      const role = str(`${f}.role`, o.role), content = str(`${f}.content`, o.content);
      const weight = o.weight;
      if (weight !== undefined && weight !== 0 && weight !== 1) fail(`${f}.weight`, `expected 0 or 1, got ${describe(weight)}`);
      const train = trainAll ? role === 'assistant' || weight === 1 : weight === undefined ? undefined : weight === 1;
      return { role, content, ...(train === undefined ? {} : { train }) };
    });
  };
  const chat = (messages: ChatMessage[], field: string): TextRecord => {
    if (messages.length === 0) fail(field, 'is empty: expected at least one message');
    try {
      const templated = options.chat?.template !== undefined;
      return { id, segments: chatSegments(messages, options.chat), bos: !templated, eos: !templated };
    } catch (e) {
      if (e instanceof ChatTemplateError) return fail(field, e.message);
      throw e;
    }
  };

  switch (format) {
    case 'text':
      return plain([{ text: str('text'), train: true }]);
    case 'prompt-completion': {
      if (Array.isArray(r.prompt) || Array.isArray(r.completion)) {
        // TRL's conversational prompt/completion: the completion's messages are trained.
        const prompt = messagesOf('prompt', r.prompt).map((m) => ({ ...m, train: false }));
        const completion = messagesOf('completion', r.completion, true).map((m) => ({ ...m, train: m.train ?? true }));
        return chat([...prompt, ...completion], 'completion');
      }
      return plain([{ text: str('prompt'), train: false }, { text: str('completion'), train: true }]);
    }
    case 'messages':
      return chat(messagesOf('messages', r.messages), 'messages');
    case 'sharegpt': {
      const list = r.conversations;
      if (!Array.isArray(list)) return fail('conversations', `expected a list of {from, value} turns, got ${describe(list)}`);
      return chat(list.map((t, i) => {
        const f = `conversations[${i}]`;
        if (t === null || typeof t !== 'object') return fail(f, 'expected a {from, value} object');
        const from = str(`${f}.from`, (t as Obj).from);
        const role = SHAREGPT_ROLES[from] ?? fail(`${f}.from`, `expected human, gpt or system, got ${describe(from)}`);
        return { role, content: str(`${f}.value`, (t as Obj).value) };
      }), 'conversations');
    }
    case 'alpaca': {
      const input = r.input === undefined || r.input === null ? '' : str('input');
      return plain([{ text: `${str('instruction')}${input ? `\n\n${input}` : ''}\n\n`, train: false }, { text: str('output'), train: true }]);
    }
    case 'question-answer':
      return plain([{ text: questionPrompt(str('question')), train: false }, { text: str('answer'), train: true }]);
    case 'tokens': {
      const ids = r.input_ids, labels = r.labels;
      const isIds = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x));
      if (!isIds(ids) || ids.some((x) => x < 0)) return fail('input_ids', `expected a list of non-negative integer token ids, got ${describe(ids)}`);
      if (labels === undefined) return { id, tokens: ids, lossMask: ids.map(() => true) };
      if (!isIds(labels) || labels.length !== ids.length) return fail('labels', `expected ${ids.length} integers (input_ids' length), -100 where not trained`);
      const bad = labels.findIndex((l, i) => l !== -100 && l !== ids[i]);
      if (bad >= 0) fail(`labels[${bad}]`, `expected -100 or input_ids[${bad}] (${ids[bad]}), got ${labels[bad]}: labels are the unshifted input ids`);
      return { id, tokens: ids, lossMask: labels.map((l) => l !== -100) };
    }
    default:
      return fail(null, `no known fields (has ${Object.keys(r).join(', ') || 'none'}): expected text, prompt/completion, messages, conversations, instruction/input/output, question/answer or input_ids/labels`);
  }
}

export function toTrainRecords(raw: readonly RawRecord[], file: string, options: RecordOptions = {}): TrainRecord[] {
  return raw.map(({ line, value, key }) => toTrainRecord(value, file, line, options, key));
}
