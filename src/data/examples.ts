// A training record seen as one prompt and one completion, for what needs the completion's text: injecting
// noise into answers (`xtf experiment --noise-rate`). Every text format of records.ts has this view when its
// trained text is one span; multi-turn conversations and pre-tokenised records do not.
import { isTokenRecord, type Example, type Segment, type TrainRecord } from './records.ts';

/** The first and last trained segment (first = -1 when none is trained). */
function trainedSpan(segs: readonly Segment[]): { first: number; last: number } {
  const first = segs.findIndex((s) => s.train);
  let last = segs.length - 1;
  while (last >= 0 && !segs[last].train) last--;
  return { first, last };
}

/** The record's prompt (text before the trained span) and completion (the span), or a reason it has none. */
export function exampleOf(record: TrainRecord): Example | string {
  if (isTokenRecord(record)) return 'is pre-tokenised (no text)';
  const segs = record.segments;
  const { first, last } = trainedSpan(segs);
  if (first < 0) return 'has no label text';
  const trailing = segs.slice(last + 1).map((s) => s.text).join('');
  if (segs.slice(first, last + 1).some((s) => !s.train) || trailing.trim() !== '') return 'has several label spans (a multi-turn conversation)';
  return {
    id: record.id,
    prompt: segs.slice(0, first).map((s) => s.text).join(''),
    completion: segs.slice(first, last + 1).map((s) => s.text).join(''),
  };
}

/** The record with its one trained span's text replaced (everything else — template, BOS, EOS — as it was). */
export function withCompletion(record: TrainRecord, completion: string): TrainRecord {
  if (isTokenRecord(record)) throw new RangeError(`record ${record.id} is pre-tokenised: it has no completion text to replace`);
  const { first, last } = trainedSpan(record.segments);
  if (first < 0) throw new RangeError(`record ${record.id} has no label text to replace`);
  return { ...record, segments: [...record.segments.slice(0, first), { text: completion, train: true }, ...record.segments.slice(last + 1)] };
}
