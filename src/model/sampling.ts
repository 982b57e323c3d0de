// Choosing the next token from logits: greedy, temperature, top-k, top-p (nucleus), seeded.
import { seededRandom } from './random.ts';

export interface SamplingOptions {
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 = all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1 = all). */
  topP?: number;
  seed?: number;
}

export function validateSampling(o: SamplingOptions): void {
  if (o.temperature !== undefined && !(o.temperature >= 0)) throw new RangeError(`temperature must be >= 0, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) throw new RangeError(`topK must be a whole number >= 0, got ${o.topK}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new RangeError(`topP must be in (0, 1], got ${o.topP}`);
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** A sampler keeps its own random stream, so a seeded generation is repeatable. */
export function createSampler(options: SamplingOptions = {}): (logits: ArrayLike<number>) => number {
  validateSampling(options);
  const temperature = options.temperature ?? 1;
  const topK = options.topK ?? 0;
  const topP = options.topP ?? 1;
  const random = seededRandom(options.seed ?? 0);
  return (logits) => {
    if (temperature === 0) return argmax(logits);
    // Candidates by descending logit, cut by top-k; softmax at the temperature; cut by top-p.
    let order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => logits[b] - logits[a]);
    if (topK > 0) order = order.slice(0, topK);
    const max = logits[order[0]];
    const weights = order.map((i) => Math.exp((logits[i] - max) / temperature));
    const total = weights.reduce((a, b) => a + b, 0);
    let keep = order.length;
    if (topP < 1) {
      let cumulative = 0;
      for (let j = 0; j < order.length; j++) {
        cumulative += weights[j] / total;
        if (cumulative >= topP) {
          keep = j + 1;
          break;
        }
      }
    }
    const kept = weights.slice(0, keep);
    let u = random() * kept.reduce((a, b) => a + b, 0);
    for (let j = 0; j < keep; j++) {
      u -= kept[j];
      if (u <= 0) return order[j];
    }
    return order[keep - 1];
  };
}
