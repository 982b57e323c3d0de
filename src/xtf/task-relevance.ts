// Task relevance (XTF.md §3): the domain vector V is the mean input embedding over the domain's token
// occurrences; each token TYPE t gets D(E(t), V) (cosine distance by default), and
// S_TR(t) = 1 − minmax(D) over the types present. The V x dim work runs on the GPU as matmuls.
import type { Runtime, Tensor } from '../gpu/index.ts';
import { matmul } from '../ops/matmul.ts';
import { mulForward } from '../ops/elementwise.ts';
import type { TaskRelevanceOptions } from './options.ts';

/** counts[t] = occurrences of token t in the domain text (by default every label token of the dataset). */
export async function tokenDistances(rt: Runtime, embedding: Tensor, counts: Float32Array, distance: TaskRelevanceOptions['distance']): Promise<Float32Array> {
  const [vocab, dim] = embedding.shape;
  if (counts.length !== vocab) throw new RangeError(`task relevance: ${counts.length} counts for a vocabulary of ${vocab}`);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) throw new RangeError('task relevance: the domain has no tokens (no label tokens, or expert words that encode to nothing)');
  const weights = rt.upload(counts.map((c) => c / total), [1, vocab], 'f32', 'domain token weights');
  const domain = matmul(rt, weights, embedding); // [1, dim]
  const dots = matmul(rt, embedding, domain, { transB: true }); // [vocab, 1]
  const squares = mulForward(rt, embedding, embedding);
  const ones = rt.upload(new Float32Array(dim).fill(1), [dim, 1], 'f32', 'ones');
  const normsSq = matmul(rt, squares, ones); // [vocab, 1]
  const [d, n, v] = await Promise.all([dots.read(), normsSq.read(), domain.read()]);
  for (const t of [weights, domain, dots, squares, ones, normsSq]) t.release();
  let vNormSq = 0;
  for (const x of v) vNormSq += x * x;
  const out = new Float32Array(vocab);
  for (let t = 0; t < vocab; t++) {
    out[t] =
      distance === 'cosine'
        ? 1 - d[t] / Math.max(1e-12, Math.sqrt(n[t] * vNormSq))
        : Math.sqrt(Math.max(0, n[t] - 2 * d[t] + vNormSq));
  }
  return out;
}

/** S_TR per token type present (types absent from the labels get NaN): 1 − min-max normalised distance. */
export function taskRelevanceScores(distances: Float32Array, present: (t: number) => boolean): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let t = 0; t < distances.length; t++) {
    if (!present(t)) continue;
    lo = Math.min(lo, distances[t]);
    hi = Math.max(hi, distances[t]);
  }
  const span = hi - lo;
  return distances.map((d, t) => (present(t) ? (span > 0 ? 1 - (d - lo) / span : 1) : NaN));
}
