// Training records -> token ids with a label mask, truncated to a maximum length. The text is encoded once
// as a whole (so segment boundaries do not change the tokenization); a boundary at character c becomes the
// number of leading tokens encode(text[0:c]) shares with the whole, as TRL does with prompt and
// prompt+completion. A token straddling the start of a label span is a label; one straddling its end is not.
import type { Tokenizer } from '../model/tokenizer.ts';
import { isTokenRecord, type TrainRecord } from './records.ts';

export interface TokenizedRecord {
  id: string;
  tokens: number[];
  /** true where the token is a label (trained on). */
  labelMask: boolean[];
  /** Tokens cut from the end to fit maxLength. */
  truncated: number;
}

export interface TokenizeOptions {
  /** Keep at most this many tokens, cutting from the end (default: no limit). */
  maxLength?: number;
}

export function tokenizeRecord(tokenizer: Tokenizer, record: TrainRecord, options: TokenizeOptions = {}): TokenizedRecord {
  let tokens: number[], labelMask: boolean[];
  if (isTokenRecord(record)) {
    const bad = record.tokens.find((t) => t >= tokenizer.vocabSize);
    if (bad !== undefined) throw new RangeError(`example ${record.id}: token id ${bad} is outside the vocabulary 0..${tokenizer.vocabSize - 1}`);
    tokens = [...record.tokens];
    labelMask = [...record.labelMask];
  } else {
    const text = record.segments.map((s) => s.text).join('');
    // bos: the tokenizer's own default (llama2.c and Llama: yes; Qwen: none), or none when a template wrote it.
    const bos = record.bos ? undefined : false;
    tokens = tokenizer.encode(text, { bos, eos: false });
    labelMask = new Array<boolean>(tokens.length).fill(false);
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
    for (const s of record.segments) {
      const start = chars;
      chars += s.text.length;
      if (!s.train || s.text === '') continue;
      // boundary() counts tokens wholly before the character, so a straddling token joins the span it ends in.
      const to = boundary(chars);
      for (let t = boundary(start); t < to; t++) labelMask[t] = true;
    }
    if (record.eos) {
      tokens.push(tokenizer.eosId);
      // EOS is trained when it ends a trained span: only whitespace (e.g. a template's "\n") between them.
      const segs = record.segments;
      let k = segs.length - 1;
      while (k >= 0 && !segs[k].train && segs[k].text.trim() === '') k--;
      labelMask.push(k >= 0 && segs[k].train);
    }
  }
  const max = options.maxLength ?? Infinity;
  const truncated = Math.max(0, tokens.length - max);
  if (truncated > 0) {
    tokens.length = max;
    labelMask.length = max;
  }
  return { id: record.id, tokens, labelMask, truncated };
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

export function tokenizeRecords(tokenizer: Tokenizer, records: readonly TrainRecord[], options: TokenizeOptions = {}): TokenizeReport {
  const report: TokenizeReport = { examples: [], truncatedExamples: 0, truncatedTokens: 0, emptyLabels: { count: 0, firstIds: [] } };
  for (const r of records) {
    const t = tokenizeRecord(tokenizer, r, options);
    if (t.truncated > 0) {
      report.truncatedExamples++;
      report.truncatedTokens += t.truncated;
    }
    // A label on the first token never enters the loss (nothing predicts it).
    if (!t.labelMask.some((m, i) => m && i > 0)) {
      report.emptyLabels.count++;
      if (report.emptyLabels.firstIds.length < 5) report.emptyLabels.firstIds.push(t.id);
      continue;
    }
    report.examples.push(t);
  }
  return report;
}
