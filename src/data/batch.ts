// Tokenized examples -> [B, T] batches of next-token targets and 0/1 loss weights: the MicroBatch shape of
// src/train/step.ts (declared here too, structurally identical, so src/data does not import src/train).
//
// Padding (the default) puts one example per row. Packing puts several examples in a row, one after another;
// our attention kernels have no per-example (block-diagonal) mask, so a packed example ATTENDS TO THE EXAMPLES
// BEFORE IT IN ITS ROW, as in most packing implementations without masks. The loss never crosses an example
// boundary (the last token of an example gets weight 0), but the context does. Use it for throughput on short
// examples when that contamination is acceptable.
import type { TokenizedRecord } from './tokenize.ts';

export interface TokenBatch {
  batch: number;
  seqLen: number;
  /** [batch·seqLen] input ids. */
  ids: Uint32Array;
  /** [batch·seqLen] the id each position should predict (padId where the weight is 0 past the end). */
  targets: Uint32Array;
  /** [batch·seqLen] 1 where the target is a label token, else 0. */
  weights: Float32Array;
  /** Example ids in each row. */
  rows: string[][];
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
  const ids = new Uint32Array(n).fill(padId), targets = new Uint32Array(n).fill(padId), weights = new Float32Array(n);
  rows.forEach((row, r) => {
    let at = r * seqLen;
    for (const e of row) {
      const len = e.tokens.length;
      for (let t = 0; t < len; t++) {
        ids[at + t] = e.tokens[t];
        // Position t predicts token t+1 of the same example; the last token predicts nothing.
        if (t + 1 < len) {
          targets[at + t] = e.tokens[t + 1];
          weights[at + t] = e.labelMask[t + 1] ? 1 : 0;
        }
      }
      at += len;
    }
  });
  return { batch, seqLen, ids, targets, weights, rows: rows.map((row) => row.map((e) => e.id)) };
}
