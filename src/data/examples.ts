// Records people have -> XTF's {id, prompt, completion} (the view `xtf score` uses). Every format of
// records.ts maps here when its trained text is one span: the prompt is the text before it, the completion
// the span. Multi-turn conversations with several assistant turns and pre-tokenised records have no such
// view; train on them through tokenizeRecords (tokenize.ts) instead.
import type { Example } from '../xtf/types.ts';
import { parseRecordsText } from './files.ts';
import { DataFormatError } from './jsonl.ts';
import { isTokenRecord, toTrainRecord, type RecordOptions } from './records.ts';

export function recordToExample(value: unknown, file: string, line: number, options: RecordOptions = {}, key?: string): Example {
  const record = toTrainRecord(value, file, line, options, key);
  if (isTokenRecord(record)) throw new DataFormatError(file, line, 'input_ids', 'pre-tokenised records have no prompt/completion text; xtf score needs text records');
  const segs = record.segments;
  const first = segs.findIndex((s) => s.train);
  let last = segs.length - 1;
  while (last >= 0 && !segs[last].train) last--;
  const span = segs.slice(first, last + 1);
  const trailing = segs.slice(last + 1).map((s) => s.text).join('');
  if (first >= 0 && (span.some((s) => !s.train) || trailing.trim() !== '')) {
    throw new DataFormatError(file, line, null, 'has several label spans (a multi-turn conversation): xtf score needs one prompt and one completion');
  }
  return {
    id: record.id,
    prompt: segs.slice(0, Math.max(first, 0)).map((s) => s.text).join(''),
    completion: first < 0 ? '' : span.map((s) => s.text).join(''),
  };
}

/** JSONL or a JSON array/object of records -> examples; an empty completion stops with file:line. */
export function parseExamples(text: string, file: string, limit = Infinity, options: RecordOptions = {}): Example[] {
  const out: Example[] = [];
  for (const { line, value, key } of parseRecordsText(text, file)) {
    if (out.length >= limit) break;
    const ex = recordToExample(value, file, line, options, key);
    if (ex.completion === '') throw new DataFormatError(file, line, 'completion', 'is empty: an example needs label text');
    out.push(ex);
  }
  return out;
}
