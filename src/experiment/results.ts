// An experiment's results: one record per finished run (filter x seed), and the table over seeds —
// mean and sample standard deviation of each metric, and the change against the normal run of the
// SAME seed (paired: same initialisation and data order, so seed-to-seed variation cancels).
import type { FilterName, MaskQuality } from './filters.ts';
import { FILTER_LABELS, FILTERS } from './filters.ts';

export interface RunResult {
  filter: FilterName;
  seed: number;
  /** Mean cross-entropy over every label token of the clean held-out set, after training. */
  heldOutLoss: number;
  /** The same before training (the base model). */
  heldOutBefore: number;
  /** Exact-match accuracy of greedy answers on the first held-out examples; null without a task. */
  accuracy: number | null;
  correct: number;
  total: number;
  maskedFraction: number;
  /** Label tokens that carried loss, summed over the epochs. */
  trainedTokens: number;
  steps: number;
  /** The step whose weights the run kept: the best on the validation split (never the held-out set). */
  bestStep?: number | null;
  /** Training wall time, and training throughput over all tokens of the batches. */
  seconds: number;
  tokensPerSecond: number;
  /** [step, training loss over the run's kept tokens]. */
  trainCurve: [number, number][];
  /** [step, held-out loss]; step 0 is the base model. */
  heldOutCurve: [number, number][];
  /** With injected noise: how much of it the mask removes, and how much clean text it removes too. */
  quality: MaskQuality | null;
  /** Set when another filter of the same seed had a bit-identical mask: its run is this run. */
  sameMaskAs?: FilterName;
  /** A few generated answers, to read. */
  samples: { id: string; target: string; predicted: string | null; output: string }[];
}

export interface Spread {
  mean: number;
  /** Sample standard deviation (n − 1); 0 with one value. */
  sd: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  const n = values.length;
  if (n === 0) return { mean: NaN, sd: NaN, n: 0 };
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}

export interface TableRow {
  filter: FilterName;
  label: string;
  seeds: number[];
  maskedFraction: Spread;
  trainedTokens: Spread;
  heldOutLoss: Spread;
  /** heldOutLoss − the normal run's, per seed (null without normal runs of those seeds). */
  lossVsNormal: Spread | null;
  accuracy: Spread | null;
  accuracyVsNormal: Spread | null;
  seconds: Spread;
  noiseRecall: number | null;
  cleanMasked: number | null;
  /** The filter whose runs these are (bit-identical masks), if any. */
  sameMaskAs: FilterName | null;
}

/** One row per filter with at least one finished run, in FILTERS order. */
export function resultTable(runs: readonly RunResult[]): TableRow[] {
  const normal = new Map(runs.filter((r) => r.filter === 'normal').map((r) => [r.seed, r]));
  const rows: TableRow[] = [];
  for (const filter of FILTERS) {
    const mine = runs.filter((r) => r.filter === filter).sort((a, b) => a.seed - b.seed);
    if (mine.length === 0) continue;
    const paired = mine.filter((r) => normal.has(r.seed));
    const withAccuracy = mine.filter((r) => r.accuracy !== null);
    const pairedAccuracy = paired.filter((r) => r.accuracy !== null && normal.get(r.seed)!.accuracy !== null);
    const q = mine.find((r) => r.quality)?.quality ?? null;
    rows.push({
      filter,
      label: FILTER_LABELS[filter],
      seeds: mine.map((r) => r.seed),
      maskedFraction: spread(mine.map((r) => r.maskedFraction)),
      trainedTokens: spread(mine.map((r) => r.trainedTokens)),
      heldOutLoss: spread(mine.map((r) => r.heldOutLoss)),
      lossVsNormal: filter === 'normal' || paired.length === 0 ? null : spread(paired.map((r) => r.heldOutLoss - normal.get(r.seed)!.heldOutLoss)),
      accuracy: withAccuracy.length ? spread(withAccuracy.map((r) => r.accuracy!)) : null,
      accuracyVsNormal: filter === 'normal' || pairedAccuracy.length === 0 ? null : spread(pairedAccuracy.map((r) => r.accuracy! - normal.get(r.seed)!.accuracy!)),
      seconds: spread(mine.map((r) => r.seconds)),
      noiseRecall: q ? spread(mine.map((r) => r.quality!.noiseRecall)).mean : null,
      cleanMasked: q ? spread(mine.map((r) => r.quality!.cleanMasked)).mean : null,
      sameMaskAs: mine.every((r) => r.sameMaskAs && r.sameMaskAs === mine[0].sameMaskAs) ? mine[0].sameMaskAs! : null,
    });
  }
  return rows;
}
