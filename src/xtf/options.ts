// Every XTF option with its default, in one place (../shared/XTF.md): the CLI, the library and the
// demo all read these.

export type LayerSelection = 'all' | 'last' | number[];

export interface ReasoningImportanceOptions {
  /** Which layers' attention counts (default all). */
  layers: LayerSelection;
  /** How heads are combined (default mean). */
  headReduction: 'mean' | 'max';
  /** Which query positions count: every later position, or later label (output) positions only. */
  queries: 'all' | 'output';
  /** Tukey fence constant: noisy when S_RI < Q1 − r·(Q3 − Q1), per example (default 1.0). */
  fenceR: number;
}

export interface KnowledgeNoveltyOptions {
  /** Noisy when S_KN = 1 − p(token) is below this, i.e. p > 1 − threshold (default 0.05). */
  threshold: number;
}

export interface TaskRelevanceOptions {
  /** Distance between a token's embedding and the domain vector (default cosine). */
  distance: 'cosine' | 'euclidean';
  /** Multi-Otsu classes over S_TR (default 3): the lowest class is skipped, the second-lowest is noisy. */
  classes: number;
  /** Histogram bins for Multi-Otsu. */
  bins: number;
  /** Domain vector from these words instead of every label token occurrence. */
  expertWords: string[] | null;
}

export interface XtfOptions {
  ri: ReasoningImportanceOptions;
  kn: KnowledgeNoveltyOptions;
  tr: TaskRelevanceOptions;
  /** Which attributes take part in the union (ablations switch some off). */
  attributes: { ri: boolean; kn: boolean; tr: boolean };
  /** Examples per scoring batch (memory is bounded by batch x sequence length). */
  batchSize: number;
  /** Longest example in tokens; longer ones are truncated (and counted). Default: the model's context. */
  maxSeqLen: number | null;
}

export const XTF_DEFAULTS: XtfOptions = {
  ri: { layers: 'all', headReduction: 'mean', queries: 'all', fenceR: 1.0 },
  kn: { threshold: 0.05 },
  tr: { distance: 'cosine', classes: 3, bins: 256, expertWords: null },
  attributes: { ri: true, kn: true, tr: true },
  batchSize: 8,
  maxSeqLen: null,
};

/** Deep-merge user options over the defaults, checking every value. */
export function xtfOptions(partial: DeepPartial<XtfOptions> = {}): XtfOptions {
  const o: XtfOptions = {
    ri: { ...XTF_DEFAULTS.ri, ...partial.ri } as ReasoningImportanceOptions,
    kn: { ...XTF_DEFAULTS.kn, ...partial.kn },
    tr: { ...XTF_DEFAULTS.tr, ...partial.tr } as TaskRelevanceOptions,
    attributes: { ...XTF_DEFAULTS.attributes, ...partial.attributes },
    batchSize: partial.batchSize ?? XTF_DEFAULTS.batchSize,
    maxSeqLen: partial.maxSeqLen ?? XTF_DEFAULTS.maxSeqLen,
  };
  const bad = (field: string, value: unknown, rule: string): never => {
    throw new RangeError(`XTF option ${field} must be ${rule}, got ${JSON.stringify(value)}`);
  };
  if (!(o.ri.fenceR >= 0)) bad('ri.fenceR', o.ri.fenceR, '>= 0');
  if (!['mean', 'max'].includes(o.ri.headReduction)) bad('ri.headReduction', o.ri.headReduction, "'mean' or 'max'");
  if (!['all', 'output'].includes(o.ri.queries)) bad('ri.queries', o.ri.queries, "'all' or 'output'");
  if (!(o.ri.layers === 'all' || o.ri.layers === 'last' || (Array.isArray(o.ri.layers) && o.ri.layers.every((l) => Number.isInteger(l) && l >= 0)))) {
    bad('ri.layers', o.ri.layers, "'all', 'last' or a list of layer indices");
  }
  if (!(o.kn.threshold > 0 && o.kn.threshold < 1)) bad('kn.threshold', o.kn.threshold, 'in (0, 1)');
  if (!['cosine', 'euclidean'].includes(o.tr.distance)) bad('tr.distance', o.tr.distance, "'cosine' or 'euclidean'");
  if (!(Number.isInteger(o.tr.classes) && o.tr.classes >= 2 && o.tr.classes <= 5)) bad('tr.classes', o.tr.classes, 'an integer from 2 to 5');
  if (!(Number.isInteger(o.tr.bins) && o.tr.bins >= 16 && o.tr.bins <= 4096)) bad('tr.bins', o.tr.bins, 'an integer from 16 to 4096');
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) bad('batchSize', o.batchSize, 'a positive integer');
  if (o.maxSeqLen !== null && !(Number.isInteger(o.maxSeqLen) && o.maxSeqLen >= 2)) bad('maxSeqLen', o.maxSeqLen, 'an integer >= 2 or null');
  return o;
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K] };
