// The records XTF reads and writes. A score file is JSONL, one ScoredExample per line, followed by a
// summary written beside it (<out>.summary.json).

export type Attribute = 'ri' | 'kn' | 'tr';

/** The selection rules: 'released' (the authors' published code, ./released.ts) or 'paper' (the paper's
 *  text, ../../shared/XTF.md, ./select.ts). */
export type XtfRules = 'released' | 'paper';

/** Under the released rules: each rule's cuts for one answer (./released.ts, releasedSelectAnswer), for a
 *  tooltip. RI masks score < ri.cut (the Tukey fence, or the answer's sorted score at floor(n·riMax) when
 *  `capped`); KN masks p > kn.floor AND p > kn.cap; TR masks similarity < tr.cut (the dataset's cut) AND
 *  < tr.cap. null: the answer has no scored token (or, for tr.cut, the dataset gave no cut). */
export interface ReleasedAnswerCuts {
  ri: { cut: number | null; fence: number | null; capped: boolean };
  kn: { cap: number | null; floor: number };
  tr: { cut: number | null; cap: number | null };
}

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
  /** Task relevance of the token type; null where not a label. Paper rules: S_TR (1 − normalised distance
   *  of input embeddings); released rules: the cosine similarity of the type's last hidden state to the
   *  domain vector (see the summary's `rules`). */
  tr: (number | null)[];
  /** Attributes that call the token noisy (empty when kept; always empty on prompt tokens). */
  flags: Attribute[][];
  /** The loss mask after the filter: 1 kept label token, 0 masked or prompt (older score files call it "weight"). */
  lossMask: number[];
  /** Tokens cut from the end to fit the context (0 normally). */
  truncated?: number;
  /** Released rules only: each rule's cuts for this answer. */
  cuts?: ReleasedAnswerCuts;
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

/** The task-relevance domain vector's source. */
export interface DomainSummary {
  /** 'option': the given words (released: domainWords; paper: tr.expertWords); 'task': the task's default
   *  list (./domain-words.ts); 'label-mean': the paper's domain, the mean over every label-token occurrence;
   *  'label-mean fallback': the same mean taken by the released rules where no word list applies (over the
   *  released vectors: last hidden states of the tokens run alone). */
  source: 'option' | 'task' | 'label-mean' | 'label-mean fallback';
  /** The words averaged into the domain vector (released: those that encode to some token); null for the label mean. */
  words: string[] | null;
  /** Released: words skipped because they encode to no token. */
  skipped: string[];
  /** The task whose default list was used (source 'task'), else null. */
  task: string | null;
}

/** Released task relevance's dataset-level cut (./released.ts, releasedTrCut). */
export interface ReleasedTrSummary {
  /** Multi-Otsu classes over the similarities. */
  classes: number;
  /** Multi-Otsu thresholds (bin centres), ascending. */
  thresholds: number[];
  /** Per threshold: the share of occurrences >= it. */
  shares: number[];
  /** The cut: masked only below it (null: no 5-class split, TR masks nothing). */
  cut: number | null;
  /** The index where the cumulative share first exceeded 1 (null: never). */
  exceededAt: number | null;
  /** Token occurrences the cut was computed over: every token of every scored sequence, prompts included. */
  occurrences: number;
}

/** The rule set XTF's selection used, and what it was configured with. */
export interface RulesSummary {
  rules: XtfRules;
  /** Per-answer caps (the largest share of an answer each rule may mask); null under the paper's rules. */
  caps: { ri: number; kn: number; tr: number } | null;
  domain: DomainSummary;
  /** Released rules only (null under paper): the fixed constants and TR's cut. */
  released: { iqrFactor: number; knFloor: number; tr: ReleasedTrSummary } | null;
}

export interface DatasetSummary {
  method: string;
  /** The rules behind XTF's selection (method xtf, and random at XTF's fraction); null for the other
   *  baselines and in summaries written before rule sets existed. */
  rules: RulesSummary | null;
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
  /** The paper's thresholds (null under the released rules: see rules.released and each example's cuts). */
  thresholds: SelectionThresholds | null;
  /** Tokens per second of the scoring pass, and its wall time. */
  tokensPerSecond: number;
  seconds: number;
  /** Examples with tokens cut to fit the context, and how many tokens in all. */
  truncatedExamples: number;
  truncatedTokens: number;
}
