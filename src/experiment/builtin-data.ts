// The built-in experiment's data: generated word problems (./word-problems.ts) in three disjoint,
// seeded sets — a training set whose ANSWERS carry injected noise of the kinds real fine-tuning data
// carries (../xtf/noise.ts: off-domain words, filler and boilerplate, duplicated sentences, formulaic
// story sentences, formatting debris), a small clean reference set (what SLM and Token Cleaning train
// their reference model on), and a clean held-out set. Noise goes into the worked reasoning only, never
// into the final "#### N" line, so every training example still states its correct answer.
// Browser-safe and seeded.
import type { Example } from '../data/records.ts';
import type { TaskExample } from '../data/tasks.ts';
import { seededRandom } from '../model/random.ts';
import { injectNoise, NOISE_KINDS, type NoiseGroup, type NoiseSpan } from '../xtf/noise.ts';
import { wordProblems } from './word-problems.ts';

export interface Noisy {
  /** The noise kind injected into this example's answer, or 'clean'. */
  group: NoiseGroup;
  /** Injected spans in the completion ([start, end) character offsets, separators included). */
  noise: NoiseSpan[];
}

export type NoisyTaskExample = TaskExample & Noisy;

export interface BuiltinDataOptions {
  train: number;
  reference: number;
  heldOut: number;
  /** Share of the noisy answers' characters that is injected. */
  noiseRate: number;
  /** Noise groups assigned round-robin over the training examples ('clean' = left as it is). */
  groups: readonly NoiseGroup[];
  seed: number;
}

export const BUILTIN_DATA_DEFAULTS: BuiltinDataOptions = {
  train: 256,
  reference: 96,
  heldOut: 64,
  noiseRate: 0.2,
  groups: [...NOISE_KINDS, 'clean'],
  seed: 0,
};

export interface BuiltinData {
  train: NoisyTaskExample[];
  reference: TaskExample[];
  heldOut: TaskExample[];
}

/** The three sets. One stream of problems is cut into held-out, reference and training (in that order),
 *  with repeated problem texts skipped, so no held-out question appears in training. */
export function builtinData(options: Partial<BuiltinDataOptions> = {}): BuiltinData {
  const o = { ...BUILTIN_DATA_DEFAULTS, ...options };
  for (const k of ['train', 'reference', 'heldOut'] as const) {
    if (!(Number.isInteger(o[k]) && o[k] >= 0)) throw new RangeError(`built-in data: ${k} must be a whole number, got ${o[k]}`);
  }
  const wanted = o.train + o.reference + o.heldOut;
  const seen = new Set<string>();
  const unique: TaskExample[] = [];
  // Draw in rounds until there are enough distinct problems (duplicates are rare with the defaults).
  for (let round = 0; unique.length < wanted; round++) {
    if (round > 20) throw new RangeError(`built-in data: only ${unique.length} distinct problems for ${wanted}`);
    for (const e of wordProblems({ count: wanted, seed: o.seed * 1000 + round, idPrefix: `wp${round}` })) {
      if (unique.length < wanted && !seen.has(e.prompt)) {
        seen.add(e.prompt);
        unique.push(e);
      }
    }
  }
  const heldOut = unique.slice(0, o.heldOut);
  const reference = unique.slice(o.heldOut, o.heldOut + o.reference);
  const train = withAnswerNoise(unique.slice(o.heldOut + o.reference), { rate: o.noiseRate, groups: o.groups, seed: o.seed });
  return { train, reference, heldOut };
}

/** Noise in the answers of a training set: groups (noise kinds, or 'clean') assigned round-robin, each
 *  noisy answer getting `rate` of its characters injected. A GSM8K-style final line ("#### N") is kept as
 *  it was, so every example still states its correct answer. */
export function withAnswerNoise<T extends Example>(examples: readonly T[], options: { rate: number; groups: readonly NoiseGroup[]; seed: number }): (T & Noisy)[] {
  if (!(options.rate >= 0 && options.rate < 1)) throw new RangeError(`noise rate must be in [0, 1), got ${options.rate}`);
  if (options.groups.length === 0) throw new RangeError('at least one noise group is needed');
  const random = seededRandom(options.seed ^ 0x6e6f6973);
  return examples.map((e, i) => {
    const group = options.groups[i % options.groups.length];
    return group === 'clean' || options.rate === 0 ? { ...e, group: 'clean', noise: [] } : noisyAnswer(e, group, random, options.rate);
  });
}

/** Noise of one kind in the reasoning of an answer; the "#### N" line stays as it was. */
function noisyAnswer<T extends Example>(e: T, kind: Exclude<NoiseGroup, 'clean'>, random: () => number, rate: number): T & Noisy {
  const cut = e.completion.lastIndexOf('\n####');
  const reasoning = cut >= 0 ? e.completion.slice(0, cut) : e.completion;
  const noisy = injectNoise({ id: e.id, prompt: e.prompt, completion: reasoning }, kind, random, { rate });
  return { ...e, completion: noisy.completion + e.completion.slice(reasoning.length), group: kind, noise: noisy.noise };
}
