// THE token path: every record (any data format, any task, generated examples) becomes token ids and a
// loss mask here, and nowhere else — scoring, training, validation, evaluation, experiments, exports and
// the demo all call tokenizeRecord, so a score file's tokens are the trainer's and the evaluator's.
// The text is encoded once
// as a whole (so segment boundaries do not change the tokenization); a boundary at character c becomes the
// number of leading tokens encode(text[0:c]) shares with the whole, as TRL does with prompt and
// prompt+completion. A token straddling the start of a label span is a label; one straddling its end is not.
import type { Tokenizer } from '../model/tokenizer.ts';
import { isTokenRecord, type Segment, type TextRecord, type TrainRecord } from './records.ts';

export interface TokenizedRecord {
  id: string;
  tokens: number[];
  /** true where the token enters the loss (a label token; a filter may clear some). */
  lossMask: boolean[];
  /** Tokens cut to fit maxLength (see fitLength; of a record first cut by characters, those cut after). */
  truncated: number;
}

/** An example ready to fine-tune on: its tokens with the mask that trains (a filter's choice, or every
 *  label) and with every label token (what validation and held-out loss measure). */
export interface TrainingExample {
  id: string;
  train: TokenizedRecord;
  labels: TokenizedRecord;
}

/** Unfiltered: every label token trains. */
export const unfiltered = (r: TokenizedRecord): TrainingExample => ({ id: r.id, train: r, labels: r });

export interface TokenizeOptions {
  /** Keep at most this many tokens (default: no limit); see fitLength for what is cut. */
  maxLength?: number;
}

export function tokenizeRecord(tokenizer: Tokenizer, record: TrainRecord, options: TokenizeOptions = {}): TokenizedRecord {
  let tokens: number[], lossMask: boolean[];
  if (isTokenRecord(record)) {
    const bad = record.tokens.find((t) => t >= tokenizer.vocabSize);
    if (bad !== undefined) throw new RangeError(`example ${record.id}: token id ${bad} is outside the vocabulary 0..${tokenizer.vocabSize - 1}`);
    tokens = [...record.tokens];
    lossMask = [...record.lossMask];
  } else {
    // A record far longer than the context is cut by characters before it is encoded (a 5 MB record would
    // be encoded whole only to be cut to a few hundred tokens); what is kept still holds twice what fits.
    const r: TextRecord = options.maxLength === undefined ? record : { ...record, segments: boundSegments(record.segments, 2 * (options.maxLength + 2) * longestPiece(tokenizer)) };
    const text = r.segments.map((s) => s.text).join('');
    // bos: the tokenizer's own default (llama2.c and Llama: yes; Qwen: none), or none when a template wrote it.
    const bos = record.bos ? undefined : false;
    tokens = tokenizer.encode(text, { bos, eos: false });
    lossMask = new Array<boolean>(tokens.length).fill(false);
    const lead = tokenizer.encode('', { bos, eos: false }).length;
    const boundary = (chars: number): number => {
      if (chars === 0) return lead;
      if (chars === text.length) return tokens.length;
      const prefix = tokenizer.encode(text.slice(0, chars), { bos, eos: false });
      let k = 0;
      while (k < prefix.length && k < tokens.length && prefix[k] === tokens[k]) k++;
      return k;
    };
    let chars = 0;
    for (const s of r.segments) {
      const start = chars;
      chars += s.text.length;
      if (!s.train || s.text === '') continue;
      // boundary() counts tokens wholly before the character, so a straddling token joins the span it ends in.
      const to = boundary(chars);
      for (let t = boundary(start); t < to; t++) lossMask[t] = true;
    }
    if (record.eos) {
      tokens.push(tokenizer.eosId);
      // EOS is trained when it ends a trained span: only whitespace (e.g. a template's "\n") between them.
      const segs = r.segments;
      let k = segs.length - 1;
      while (k >= 0 && !segs[k].train && segs[k].text.trim() === '') k--;
      lossMask.push(k >= 0 && segs[k].train);
    }
  }
  const truncated = fitLength(tokens, lossMask, options.maxLength ?? Infinity, tokenizer.bosId);
  return { id: record.id, tokens, lossMask, truncated };
}

const longest = new WeakMap<Tokenizer, number>();

/** The most characters one token can stand for (its stored piece is at least as long as its text). */
function longestPiece(tokenizer: Tokenizer): number {
  let n = longest.get(tokenizer);
  if (n === undefined) {
    n = 1;
    for (let id = 0; id < tokenizer.vocabSize; id++) n = Math.max(n, tokenizer.piece(id).length);
    longest.set(tokenizer, n);
  }
  return n;
}

/**
 * Segments cut to at most `budget` characters before and `budget` from the first trained character on —
 * the same parts fitLength keeps (the prompt's end, the answer's start). Each kept part encodes to at least
 * budget / longestPiece tokens, twice what fits, so the tokens near a cut are cut by fitLength anyway.
 */
function boundSegments(segments: Segment[], budget: number): Segment[] {
  const total = segments.reduce((n, s) => n + s.text.length, 0);
  if (total <= 2 * budget) return segments;
  const firstTrained = segments.findIndex((s) => s.train);
  const split = firstTrained < 0 ? segments.length : firstTrained;
  const out: Segment[] = [];
  let room = budget;
  for (let i = split - 1; i >= 0 && room > 0; i--) {
    const t = segments[i].text.slice(Math.max(0, segments[i].text.length - room));
    out.unshift({ ...segments[i], text: t });
    room -= t.length;
  }
  room = budget;
  for (let i = split; i < segments.length && room > 0; i++) {
    const t = segments[i].text.slice(0, room);
    out.push({ ...segments[i], text: t });
    room -= t.length;
  }
  return out;
}

/**
 * Cuts tokens (and their mask, in place) to maxLength; returns how many were cut. The prompt loses tokens
 * from its start first (after BOS), keeping one token before the first label to predict it, so the answer
 * stays with as much of its question as fits (TRL's keep_end for the prompt); only what is still too long
 * is cut from the end. Training, scoring and evaluation all see the same cut.
 */
export function fitLength(tokens: number[], lossMask: boolean[], maxLength: number, bosId: number): number {
  const over = tokens.length - maxLength;
  if (over <= 0) return 0;
  const lead = tokens[0] === bosId ? 1 : 0;
  const firstLabel = lossMask.indexOf(true);
  const fromPrompt = Math.min(over, Math.max(0, (firstLabel < 0 ? tokens.length : firstLabel) - lead - 1));
  tokens.splice(lead, fromPrompt);
  lossMask.splice(lead, fromPrompt);
  tokens.length = Math.min(tokens.length, maxLength);
  lossMask.length = tokens.length;
  return over;
}

export interface TokenizeReport {
  /** Examples kept (with at least one label token after truncation). */
  examples: TokenizedRecord[];
  /** Examples cut to maxLength, and tokens cut in all. */
  truncatedExamples: number;
  truncatedTokens: number;
  /** Examples dropped because no label token is left (empty answer, or all labels cut): count and first ids. */
  emptyLabels: { count: number; firstIds: string[] };
}

/** Whether position i of a label mask enters the loss: labelled, and not the first token (nothing predicts it). */
export function inLoss(mask: ArrayLike<unknown>, i: number): boolean {
  return Boolean(mask[i]) && i > 0;
}

/** The first position of a label mask that enters the loss, or -1. */
export function firstInLoss(mask: ArrayLike<unknown>): number {
  for (let i = 1; i < mask.length; i++) if (mask[i]) return i;
  return -1;
}

export function tokenizeRecords(tokenizer: Tokenizer, records: readonly TrainRecord[], options: TokenizeOptions = {}): TokenizeReport {
  const report: TokenizeReport = { examples: [], truncatedExamples: 0, truncatedTokens: 0, emptyLabels: { count: 0, firstIds: [] } };
  for (const r of records) {
    const t = tokenizeRecord(tokenizer, r, options);
    if (t.truncated > 0) {
      report.truncatedExamples++;
      report.truncatedTokens += t.truncated;
    }
    if (firstInLoss(t.lossMask) < 0) {
      report.emptyLabels.count++;
      if (report.emptyLabels.firstIds.length < 5) report.emptyLabels.firstIds.push(t.id);
      continue;
    }
    report.examples.push(t);
  }
  return report;
}
