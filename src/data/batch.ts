// Tokenized examples -> [B, T] batches of next-token targets and the 0/1 loss mask: the one batch type from
// data to the loss kernel (the trainer's micro-batches, validation, evaluation and scoring all use it).
//
// Padding (the default) puts one example per row. Packing puts several examples in a row, one after another;
// our attention kernels have no per-example (block-diagonal) mask, so a packed example ATTENDS TO THE EXAMPLES
// BEFORE IT IN ITS ROW, as in most packing implementations without masks. The loss never crosses an example
// boundary (the last token of an example gets weight 0), but the context does. Use it for throughput on short
// examples when that contamination is acceptable.
import type { Tokenizer } from '../model/tokenizer.ts';
import type { TrainRecord } from './records.ts';
import { tokenizeRecords, type TokenizedRecord, type TokenizeReport } from './tokenize.ts';

export interface TokenBatch {
  batch: number;
  seqLen: number;
  /** [batch·seqLen] input ids. */
  ids: Uint32Array;
  /** [batch·seqLen] the id each position should predict (padId past the end, where the mask is 0). */
  targets: Uint32Array;
  /** [batch·seqLen] 1 where the target enters the loss, else 0 (prompt, padding, masked tokens). */
  lossMask: Float32Array;
  /** Example ids in each row (absent for hand-built batches; online token selection needs them). */
  rows?: string[][];
}

export interface BatchOptions {
  batchSize: number;
  /** Row length T. Examples must be at most this long (truncate first). Default for padding: the longest
   *  example of each batch; packing needs it. */
  seqLen?: number;
  /** Id written into padding positions (e.g. EOS); never trained. */
  padId: number;
  /** 'pad' (default): one example per row. 'pack': several per row, see the note above. */
  mode?: 'pad' | 'pack';
}

/** Batches in example order; the last batch may have fewer rows. */
export function makeBatches(examples: readonly TokenizedRecord[], options: BatchOptions): TokenBatch[] {
  const { batchSize, padId, mode = 'pad' } = options;
  if (!(batchSize >= 1)) throw new RangeError(`batchSize must be ≥ 1, got ${batchSize}`);
  const tooLong = options.seqLen === undefined ? undefined : examples.find((e) => e.tokens.length > options.seqLen!);
  if (tooLong) throw new RangeError(`example ${tooLong.id} has ${tooLong.tokens.length} tokens, more than seqLen ${options.seqLen}: truncate with maxLength first`);
  let rows: TokenizedRecord[][];
  if (mode === 'pack') {
    if (options.seqLen === undefined) throw new RangeError('packing needs seqLen');
    rows = [];
    let row: TokenizedRecord[] = [], used = 0;
    for (const e of examples) {
      if (used + e.tokens.length > options.seqLen && row.length > 0) {
        rows.push(row);
        row = [];
        used = 0;
      }
      row.push(e);
      used += e.tokens.length;
    }
    if (row.length > 0) rows.push(row);
  } else {
    rows = examples.map((e) => [e]);
  }
  const batches: TokenBatch[] = [];
  for (let b = 0; b < rows.length; b += batchSize) {
    const group = rows.slice(b, b + batchSize);
    const seqLen = options.seqLen ?? Math.max(...group.map((r) => r.reduce((n, e) => n + e.tokens.length, 0)));
    batches.push(fillRows(group, seqLen, padId));
  }
  return batches;
}

/** The records as ONE padded batch (a micro-batch of a training step), rows as long as the longest. */
export function batchOf(examples: readonly TokenizedRecord[], padId: number): TokenBatch {
  if (examples.length === 0) throw new RangeError('batchOf: no examples');
  return makeBatches(examples, { batchSize: examples.length, padId })[0];
}

function fillRows(rows: TokenizedRecord[][], seqLen: number, padId: number): TokenBatch {
  const batch = rows.length, n = batch * seqLen;
  const ids = new Uint32Array(n).fill(padId), targets = new Uint32Array(n).fill(padId), lossMask = new Float32Array(n);
  rows.forEach((row, r) => {
    let at = r * seqLen;
    for (const e of row) {
      const len = e.tokens.length;
      for (let t = 0; t < len; t++) {
        ids[at + t] = e.tokens[t];
        // Position t predicts token t+1 of the same example; the last token predicts nothing.
        if (t + 1 < len) {
          targets[at + t] = e.tokens[t + 1];
          lossMask[at + t] = e.lossMask[t + 1] ? 1 : 0;
        }
      }
      at += len;
    }
  });
  return { batch, seqLen, ids, targets, lossMask, rows: rows.map((row) => row.map((e) => e.id)) };
}

/** Records through the one token path into padded batches of every label token: what held-out loss and
 *  perplexity are measured on (xtf eval, the experiment's reported set, the demo). */
export function labelBatches(tokenizer: Tokenizer, records: readonly TrainRecord[], options: { maxLength: number; batchSize: number }): { batches: TokenBatch[]; report: TokenizeReport } {
  const report = tokenizeRecords(tokenizer, records, { maxLength: options.maxLength });
  return { batches: report.examples.length ? makeBatches(report.examples, { batchSize: options.batchSize, padId: tokenizer.eosId }) : [], report };
}
