// Records people have -> XTF's {id, prompt, completion}. The formats recognised so far: prompt/completion,
// GSM8K question/answer, Alpaca instruction/input/output. A record that fits none says which fields it has.
import type { Example } from '../xtf/types.ts';
import { DataFormatError, parseJsonl } from './jsonl.ts';

export function recordToExample(value: unknown, file: string, line: number): Example {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new DataFormatError(file, line, null, 'expected a JSON object');
  const r = value as Record<string, unknown>;
  const text = (field: string): string => {
    const v = r[field];
    if (typeof v !== 'string') throw new DataFormatError(file, line, field, `expected a string, got ${v === undefined ? 'nothing' : JSON.stringify(v).slice(0, 40)}`);
    return v;
  };
  const id = typeof r.id === 'string' || typeof r.id === 'number' ? String(r.id) : `${file.split('/').pop()}:${line}`;
  if ('prompt' in r || 'completion' in r) return { id, prompt: text('prompt'), completion: text('completion') };
  if ('question' in r && 'answer' in r) return { id, prompt: text('question') + '\n', completion: text('answer') };
  if ('instruction' in r && 'output' in r) {
    const input = typeof r.input === 'string' && r.input !== '' ? `\n\n${r.input}` : '';
    return { id, prompt: `${text('instruction')}${input}\n\n`, completion: text('output') };
  }
  throw new DataFormatError(file, line, null, `no known fields (has ${Object.keys(r).join(', ') || 'none'}): expected prompt/completion, question/answer or instruction/input/output`);
}

export function parseExamples(text: string, file: string, limit = Infinity): Example[] {
  const out: Example[] = [];
  for (const { line, value } of parseJsonl(text, file)) {
    if (out.length >= limit) break;
    const ex = recordToExample(value, file, line);
    if (ex.completion === '') throw new DataFormatError(file, line, 'completion', 'is empty: an example needs label text');
    out.push(ex);
  }
  return out;
}
