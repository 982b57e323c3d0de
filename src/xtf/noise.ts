// Controlled noise for verifying XTF on real text: examples built from TinyStories passages (prompt = the
// first sentence(s), completion = the rest) with noise of the kinds the paper targets injected INTO THE
// COMPLETION ONLY, each injected piece recorded as a character span with its kind; then the map from those
// spans to label tokens, and precision / recall of each attribute's flags against them.
// Browser-safe (no Node imports) and seeded: the same text, options and seed give the same dataset.
//
// Conventions:
// - Every injection inserts a text that starts with its own separator (' ' or '\n') at a WORD BOUNDARY of
//   the original completion (a position before a space, or its end), and its span covers that separator:
//   the tokenizers here glue a leading space to the following word, so a span then covers whole tokens.
//   Removing every span gives back the original completion exactly.
// - Kinds (each with a few variants, NOISE_VARIANTS):
//   'off-domain'  words/phrases of other domains (medical, legal, finance, code, URLs) inside a sentence;
//   'filler'      boilerplate phrases ("As an AI language model,", "In conclusion,", ...) in front of a
//                 sentence, the SAME phrase inserted `fillerRepeats` times (default 2) per injection, at
//                 different sentence starts when there are enough;
//   'duplicate'   a sentence of the same completion repeated verbatim right after itself (the copy is the
//                 noise, the original stays clean);
//   'known'       formulaic TinyStories sentences ("Once upon a time, there was a little girl named Lily.")
//                 after a sentence. "Known" is a property of the model, not of the text: how known these
//                 tokens are to a given model is MEASURED (NoiseRow.knownShare: the share of the kind's
//                 tokens with p > 1 − kn.threshold), never assumed;
//   'format'      formatting debris ("###", "**", "\n\n---\n", "<br>", ...).
// - One kind per example (kinds and 'clean' assigned round-robin over the shuffled stories), so that each
//   kind's precision is measured against the clean tokens of the same examples.
// - Rate: injections are added until the injected characters reach `rate` of the noisy completion's
//   characters (at least one injection, at most maxInjections).
// - Token labels (labelNoiseTokens): a label token belongs to a span kind when MORE than half of its
//   characters lie inside spans of that kind; else it is clean. Prompt tokens get null.

import { seededRandom } from '../model/random.ts';
import type { Example } from '../data/records.ts';
import type { Attribute, ScoredExample } from './types.ts';

export const NOISE_KINDS = ['off-domain', 'filler', 'duplicate', 'known', 'format'] as const;
export type NoiseKind = (typeof NOISE_KINDS)[number];
/** An example's group: the noise kind injected into it, or none. */
export type NoiseGroup = NoiseKind | 'clean';

/** Variants per kind ('duplicate' copies the story's own sentences and has none). Texts without their
 *  leading separator: injection adds ' ' (format variants that start with '\n' are used as they are). */
export const NOISE_VARIANTS: Record<Exclude<NoiseKind, 'duplicate'>, readonly string[]> = {
  'off-domain': [
    'myocardial infarction',
    'subcutaneous insulin injection',
    'pursuant to the indemnification clause',
    "the plaintiff's counsel",
    'quarterly EBITDA margin',
    'amortized over thirty years',
    'const x = await fetch(url);',
    'def __init__(self):',
    'https://example.com/api/v2/users',
    'www.stackoverflow.com',
  ],
  filler: [
    'As an AI language model,',
    'In conclusion,',
    'Sure! Here is the story:',
    'Note that',
    'It is important to note that',
    'Here is the next part:',
  ],
  // The most frequent formulae of TinyStories (counts in the 2 MB sample: "Once upon a time, there was a"
  // 762, "... a little girl named Lily" 110, "From that day on" 147, "The moral of the story is" 58).
  known: [
    'Once upon a time, there was a little girl named Lily.',
    'Once upon a time, there was a little boy named Tim.',
    'From that day on, they were best friends.',
    'They lived happily ever after.',
    'The moral of the story is to always be kind.',
  ],
  format: ['###', '**', '\n\n---\n', '<br>', '```', '* * *', '|---|---|'],
};

/** A piece of injected noise: [start, end) in the noisy completion (its separator included). */
export interface NoiseSpan {
  kind: NoiseKind;
  start: number;
  end: number;
}

export interface NoisyExample extends Example {
  group: NoiseGroup;
  /** The completion before injection. */
  original: string;
  /** Injected spans in the completion, ascending, non-overlapping. */
  noise: NoiseSpan[];
}

export interface StoryExampleOptions {
  /** Sentences that form the prompt (default 1). */
  promptSentences: number;
  /** Completions are cut at the last sentence end within this many characters (default 500). */
  maxCompletionChars: number;
  /** Stories whose (cut) completion has fewer sentences are skipped (default 3). */
  minCompletionSentences: number;
}

export interface NoiseOptions {
  /** Target share of the noisy completion's characters that is injected (default 0.12). */
  rate: number;
  /** Cap on injections per example (default 8). */
  maxInjections: number;
  /** Times the same filler phrase is inserted per injection (default 2). */
  fillerRepeats: number;
}

export interface NoisyDatasetOptions extends StoryExampleOptions, NoiseOptions {
  /** Examples to build (default 40). */
  examples: number;
  /** Groups assigned round-robin (default: every kind, then 'clean'). */
  groups: readonly NoiseGroup[];
  seed: number;
}

export const NOISY_DATASET_DEFAULTS: NoisyDatasetOptions = {
  examples: 40,
  groups: [...NOISE_KINDS, 'clean'],
  seed: 0,
  promptSentences: 1,
  maxCompletionChars: 500,
  minCompletionSentences: 3,
  rate: 0.12,
  maxInjections: 8,
  fillerRepeats: 2,
};

/** The stories of a TinyStories text file (separated by <|endoftext|> lines), trimmed, non-empty. */
export function splitStories(text: string): string[] {
  return text.split('<|endoftext|>').map((s) => s.trim()).filter((s) => s.length > 0);
}

/** End offsets (just after the punctuation and any closing quote) of the sentences of a text. */
export function sentenceEnds(text: string): number[] {
  const ends: number[] = [];
  const re = /[.!?]+["'”’)]*(?=\s|$)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) ends.push(m.index + m[0].length);
  return ends;
}

/** Prompt = the first sentence(s), completion = the rest (cut to size); null when the story is too short. */
export function storyExample(story: string, id: string, options: Partial<StoryExampleOptions> = {}): Example | null {
  const o = { ...NOISY_DATASET_DEFAULTS, ...options };
  const text = story.trim();
  const ends = sentenceEnds(text);
  if (ends.length <= o.promptSentences) return null;
  const promptEnd = ends[o.promptSentences - 1];
  const prompt = text.slice(0, promptEnd);
  const rest = text.slice(promptEnd);
  const lead = rest.length - rest.trimStart().length;
  const body = rest.slice(lead);
  const bodyEnds = ends.slice(o.promptSentences).map((e) => e - promptEnd - lead).filter((e) => e <= o.maxCompletionChars);
  if (bodyEnds.length < o.minCompletionSentences) return null;
  return { id, prompt, completion: body.slice(0, bodyEnds[bodyEnds.length - 1]) };
}

interface Insertion {
  /** Offset in the original completion (a word boundary). */
  at: number;
  text: string;
  /** Insertion order among those at the same offset. */
  seq: number;
}

/** Offsets before a space (or the end): where ' ' + text can go between words. */
function wordBoundaries(c: string): number[] {
  const out: number[] = [];
  for (let i = 1; i < c.length; i++) if (c[i] === ' ' && c[i - 1] !== ' ') out.push(i);
  return out;
}

/** Inject one kind of noise into an example's completion. */
export function injectNoise(example: Example, kind: NoiseKind, random: () => number, options: Partial<NoiseOptions> = {}): NoisyExample {
  const o = { ...NOISY_DATASET_DEFAULTS, ...options };
  const c = example.completion;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const words = wordBoundaries(c);
  const ends = sentenceEnds(c).filter((e) => e === c.length || c[e] === ' ');
  // Sentence starts that follow a sentence end: a filler phrase goes there.
  const starts = ends.filter((e) => e < c.length);
  const insertions: Insertion[] = [];
  let injected = 0;
  const add = (at: number, text: string) => {
    insertions.push({ at, text, seq: insertions.length });
    injected += text.length;
  };
  for (let n = 0; n < o.maxInjections && (n === 0 || injected < o.rate * (c.length + injected)); n++) {
    if (kind === 'off-domain') {
      if (words.length === 0) break;
      add(pick(words), ' ' + pick(NOISE_VARIANTS['off-domain']));
    } else if (kind === 'filler') {
      const spots = starts.length > 0 ? starts : ends;
      if (spots.length === 0) break;
      const phrase = ' ' + pick(NOISE_VARIANTS.filler);
      // Distinct sentence starts while there are enough, in random order.
      const order = spots.map((s) => [random(), s] as const).sort((a, b) => a[0] - b[0]).map(([, s]) => s);
      for (let r = 0; r < o.fillerRepeats; r++) add(order[r % order.length], phrase);
    } else if (kind === 'duplicate') {
      if (ends.length === 0) break;
      const k = Math.floor(random() * ends.length);
      const from = k === 0 ? 0 : ends[k - 1];
      const sentence = c.slice(from, ends[k]).trim();
      add(ends[k], ' ' + sentence);
    } else if (kind === 'known') {
      if (ends.length === 0) break;
      add(pick(ends), ' ' + pick(NOISE_VARIANTS.known));
    } else {
      if (words.length === 0) break;
      const v = pick(NOISE_VARIANTS.format);
      add(pick(words), v.startsWith('\n') ? v : ' ' + v);
    }
  }
  insertions.sort((a, b) => a.at - b.at || a.seq - b.seq);
  let completion = '';
  let from = 0;
  const noise: NoiseSpan[] = [];
  for (const ins of insertions) {
    completion += c.slice(from, ins.at);
    from = ins.at;
    noise.push({ kind, start: completion.length, end: completion.length + ins.text.length });
    completion += ins.text;
  }
  completion += c.slice(from);
  return { ...example, completion, group: kind, original: c, noise };
}

/** A seeded dataset: stories shuffled, cut into examples, one group (noise kind or clean) each. */
export function noisyDataset(text: string, options: Partial<NoisyDatasetOptions> = {}): NoisyExample[] {
  const o = { ...NOISY_DATASET_DEFAULTS, ...options };
  if (o.groups.length === 0) throw new RangeError('noisyDataset needs at least one group');
  if (!(o.rate >= 0 && o.rate < 1)) throw new RangeError(`noise rate must be in [0, 1), got ${o.rate}`);
  const random = seededRandom(o.seed);
  const stories = splitStories(text);
  // Fisher–Yates.
  const order = stories.map((_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const out: NoisyExample[] = [];
  for (const s of order) {
    if (out.length >= o.examples) break;
    const base = storyExample(stories[s], `story-${s}`, o);
    if (!base) continue;
    const group = o.groups[out.length % o.groups.length];
    const id = `${base.id}-${group}`;
    out.push(group === 'clean'
      ? { ...base, id, group, original: base.completion, noise: [] }
      : { ...injectNoise({ ...base, id }, group, random, o) });
  }
  if (out.length < o.examples) throw new RangeError(`only ${out.length} usable stories for ${o.examples} examples`);
  return out;
}

/** Where the completion's characters start in the joined label pieces (the SentencePiece dummy prefix
 *  adds a space); label pieces may stop early when the example was truncated. */
function completionOffset(labelText: string, completion: string): number {
  if (labelText.endsWith(completion)) return labelText.length - completion.length;
  for (let off = 0; off <= Math.min(4, labelText.length); off++) {
    if (completion.startsWith(labelText.slice(off))) return off;
  }
  throw new Error(`the label pieces ${JSON.stringify(labelText.slice(0, 40))}… do not spell the completion ${JSON.stringify(completion.slice(0, 40))}…`);
}

/** Per token of a scored example: its noise kind (label tokens inside injected spans), 'clean' (other
 *  label tokens) or null (prompt tokens). */
export function labelNoiseTokens(scored: Pick<ScoredExample, 'pieces' | 'label'>, example: Pick<NoisyExample, 'completion' | 'noise'>): (NoiseGroup | null)[] {
  const first = scored.label.indexOf(true);
  const out: (NoiseGroup | null)[] = scored.label.map(() => null);
  if (first < 0) return out;
  const labelText = scored.pieces.slice(first).join('');
  let pos = -completionOffset(labelText, example.completion);
  for (let i = first; i < scored.pieces.length; i++) {
    const start = pos, end = pos + scored.pieces[i].length;
    pos = end;
    const inside = new Map<NoiseKind, number>();
    for (const s of example.noise) {
      const overlap = Math.min(end, s.end) - Math.max(start, s.start);
      if (overlap > 0) inside.set(s.kind, (inside.get(s.kind) ?? 0) + overlap);
    }
    let kind: NoiseGroup = 'clean';
    for (const [k, n] of inside) if (2 * n > end - start) kind = k;
    out[i] = kind;
  }
  return out;
}

export type NoiseMetricAttribute = Attribute | 'union';
export const NOISE_METRIC_ATTRIBUTES: readonly NoiseMetricAttribute[] = ['ri', 'kn', 'tr', 'union'];

export interface NoiseCounts {
  /** Injected-noise label tokens and how many of them the attribute flags. */
  noise: number;
  flaggedNoise: number;
  /** Clean label tokens and how many of them the attribute flags. */
  clean: number;
  flaggedClean: number;
}

export interface NoiseRow {
  /** A group, or 'all' (every example; noise = every kind). */
  group: NoiseGroup | 'all';
  examples: number;
  labelTokens: number;
  noiseTokens: number;
  /** Share of the noise tokens with p > 1 − knThreshold (what the model already knows). */
  knownShare: number;
  counts: Record<NoiseMetricAttribute, NoiseCounts>;
}

export interface NoiseMetric {
  /** flaggedNoise / (flaggedNoise + flaggedClean) in the group's examples; NaN when nothing is flagged. */
  precision: number;
  /** flaggedNoise / noise; NaN without noise tokens. */
  recall: number;
  /** flaggedClean / clean: the false-positive rate on clean tokens. */
  fpr: number;
}

export function noiseMetric(c: NoiseCounts): NoiseMetric {
  return {
    precision: c.flaggedNoise + c.flaggedClean > 0 ? c.flaggedNoise / (c.flaggedNoise + c.flaggedClean) : NaN,
    recall: c.noise > 0 ? c.flaggedNoise / c.noise : NaN,
    fpr: c.clean > 0 ? c.flaggedClean / c.clean : NaN,
  };
}

/** Counts per group (in NOISE_KINDS order, then 'clean', then 'all') of flags against injected noise.
 *  'union' is the mask (lossMask 0), so with some attributes disabled it is the union of the enabled ones. */
export function noiseTable(scored: readonly ScoredExample[], examples: readonly NoisyExample[], knThreshold = 0.05): NoiseRow[] {
  if (scored.length !== examples.length) throw new RangeError(`${scored.length} scored examples for ${examples.length} noisy examples`);
  const empty = (): Record<NoiseMetricAttribute, NoiseCounts> =>
    Object.fromEntries(NOISE_METRIC_ATTRIBUTES.map((a) => [a, { noise: 0, flaggedNoise: 0, clean: 0, flaggedClean: 0 }])) as Record<NoiseMetricAttribute, NoiseCounts>;
  const groups: (NoiseGroup | 'all')[] = [...NOISE_KINDS, 'clean', 'all'];
  const rows = new Map(groups.map((g) => [g, { group: g, examples: 0, labelTokens: 0, noiseTokens: 0, knownShare: 0, counts: empty() } as NoiseRow]));
  const known = new Map(groups.map((g) => [g, 0]));
  scored.forEach((s, e) => {
    const ex = examples[e];
    if (s.id !== ex.id) throw new RangeError(`scored example ${s.id} does not match noisy example ${ex.id}`);
    const kinds = labelNoiseTokens(s, ex);
    const targets = [rows.get(ex.group)!, rows.get('all')!];
    for (const r of targets) r.examples++;
    for (let i = 0; i < kinds.length; i++) {
      const k = kinds[i];
      if (k === null) continue;
      const isNoise = k !== 'clean';
      const p = s.p[i];
      const flagged: Record<NoiseMetricAttribute, boolean> = { ri: false, kn: false, tr: false, union: !(s.lossMask[i] > 0) };
      for (const a of s.flags[i]) flagged[a] = true;
      for (const r of targets) {
        r.labelTokens++;
        if (isNoise) {
          r.noiseTokens++;
          if (p !== null && p > 1 - knThreshold) known.set(r.group, known.get(r.group)! + 1);
        }
        for (const a of NOISE_METRIC_ATTRIBUTES) {
          const c = r.counts[a];
          if (isNoise) { c.noise++; if (flagged[a]) c.flaggedNoise++; } else { c.clean++; if (flagged[a]) c.flaggedClean++; }
        }
      }
    }
  });
  for (const r of rows.values()) r.knownShare = r.noiseTokens > 0 ? known.get(r.group)! / r.noiseTokens : NaN;
  return groups.map((g) => rows.get(g)!);
}

/** The table as Markdown: per group, precision / recall of each attribute, then the clean tokens' flag rate. */
export function formatNoiseTable(rows: readonly NoiseRow[], title?: string): string {
  const f = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(2));
  const pct = (x: number) => (Number.isNaN(x) ? '–' : `${(100 * x).toFixed(1)}%`);
  const lines: string[] = [];
  if (title) lines.push(`**${title}**`, '');
  lines.push('| group | ex | label tok | noise tok (share) | p>0.95 | ri P / R | kn P / R | tr P / R | union P / R |');
  lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|');
  for (const r of rows) {
    if (r.group === 'clean') continue;
    const cells = NOISE_METRIC_ATTRIBUTES.map((a) => { const m = noiseMetric(r.counts[a]); return `${f(m.precision)} / ${f(m.recall)}`; });
    lines.push(`| ${r.group} | ${r.examples} | ${r.labelTokens} | ${r.noiseTokens} (${pct(r.noiseTokens / r.labelTokens)}) | ${pct(r.knownShare)} | ${cells.join(' | ')} |`);
  }
  lines.push('', 'Clean-token flag rate (false positives / clean tokens):', '');
  lines.push('| clean tokens in | tokens | ri | kn | tr | union |');
  lines.push('|---|--:|--:|--:|--:|--:|');
  for (const r of rows) {
    const label = r.group === 'all' ? 'all examples' : r.group === 'clean' ? 'clean examples' : `${r.group} examples`;
    lines.push(`| ${label} | ${r.counts.ri.clean} | ${NOISE_METRIC_ATTRIBUTES.map((a) => pct(noiseMetric(r.counts[a]).fpr)).join(' | ')} |`);
  }
  return lines.join('\n');
}
