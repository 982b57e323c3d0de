// The records XTF reads and writes. A score file is JSONL, one ScoredExample per line, followed by a
// summary written beside it (<out>.summary.json).

export type Attribute = 'ri' | 'kn' | 'tr';

/** Per token of prompt + completion; the per-token arrays all have tokens.length entries. */
export interface ScoredExample {
  id: string;
  /** Token ids as the token path (src/data/tokenize.ts) gives them: the trainer's tokens exactly. */
  tokens: number[];
  /** Decoded text of each token (joined, they give the example's text). */
  pieces: string[];
  /** true on label tokens (the completion, trained EOS included): the token path's loss mask before any filter. */
  label: boolean[];
  /** Teacher-forced p(token | everything before it); null where not a label. */
  p: (number | null)[];
  /** Reasoning importance S_RI; null where not a label. */
  ri: (number | null)[];
  /** Knowledge novelty S_KN = 1 − p; null where not a label. */
  kn: (number | null)[];
  /** Task relevance S_TR of the token type; null where not a label. */
  tr: (number | null)[];
  /** Attributes that call the token noisy (empty when kept; always empty on prompt tokens). */
  flags: Attribute[][];
  /** The loss mask after the filter: 1 kept label token, 0 masked or prompt (older score files call it "weight"). */
  lossMask: number[];
  /** Tokens cut from the end to fit the context (0 normally). */
  truncated?: number;
}

/** Thresholds the selection used, so a report can mark them and a re-selection can change them. */
export interface SelectionThresholds {
  /** Per example: the Tukey lower fence on S_RI (null when the example has < 4 label tokens). */
  riFences: Record<string, number | null>;
  /** Global S_KN threshold. */
  knThreshold: number;
  /** Multi-Otsu cut points over S_TR (classes − 1 ascending values: upper edges of the threshold bins);
   *  tokens in [cuts[0], cuts[1]) are noisy ([cuts[0], ∞) with one cut; none when []). */
  trCuts: number[];
}

export interface DatasetSummary {
  method: string;
  examples: number;
  /** Label tokens scored. */
  labelTokens: number;
  /** Fraction of label tokens flagged by each attribute (before the union). */
  fractionFlagged: Record<Attribute, number>;
  /** Fraction of label tokens masked (the union). */
  fractionMasked: number;
  /** |A ∩ B| / min(|A|, |B|) for each pair of attributes, and the raw count. */
  overlaps: { pair: [Attribute, Attribute]; count: number; overlap: number }[];
  /** The token types each attribute flags most often: piece, count, and share of that type's occurrences. */
  mostFlagged: Record<Attribute, { piece: string; token: number; count: number; share: number }[]>;
  thresholds: SelectionThresholds | null;
  /** Tokens per second of the scoring pass, and its wall time. */
  tokensPerSecond: number;
  seconds: number;
  /** Examples with tokens cut to fit the context, and how many tokens in all. */
  truncatedExamples: number;
  truncatedTokens: number;
}
