// Task relevance (XTF.md §3): the domain vector V is the mean input embedding over the domain's token
// occurrences; each token TYPE t gets D(E(t), V) (cosine distance by default), and
// S_TR(t) = 1 − minmax(D) over the types present. The V x dim work runs on the GPU as matmuls.
import type { Runtime, Tensor } from '../gpu/index.ts';
import { matmul } from '../ops/matmul.ts';
import { addBias, mulForward, scaleForward } from '../ops/elementwise.ts';
import type { TaskRelevanceOptions } from './options.ts';

/** counts[t] = occurrences of token t in the domain text (by default every label token of the dataset). */
export async function tokenDistances(rt: Runtime, embedding: Tensor, counts: Float32Array, distance: TaskRelevanceOptions['distance']): Promise<Float32Array> {
  const [vocab, dim] = embedding.shape;
  const total = domainTotal(counts, vocab);
  const weights = rt.upload(counts.map((c) => c / total), [1, vocab], 'f32', 'domain token weights');
  const domain = matmul(rt, weights, embedding); // [1, dim]
  const ones = rt.upload(new Float32Array(dim).fill(1), [dim, 1], 'f32', 'ones');
  const rowSums = (x: Tensor) => matmul(rt, x, ones); // [vocab, 1]
  if (distance === 'euclidean') {
    // |E(t) − V|² summed directly: |E|² − 2 E·V + |V|² loses the small distances to cancellation in f32.
    const diff = addBias(rt, scaleForward(rt, embedding, 1), domain, -1);
    const squares = mulForward(rt, diff, diff);
    const sq = rowSums(squares);
    const out = await sq.read();
    for (const t of [weights, domain, ones, diff, squares, sq]) t.release();
    return Float32Array.from(out, (x) => Math.sqrt(Math.max(0, x)));
  }
  const dots = matmul(rt, embedding, domain, { transB: true }); // [vocab, 1]
  const squares = mulForward(rt, embedding, embedding);
  const normsSq = rowSums(squares);
  const [d, n, v] = await Promise.all([dots.read(), normsSq.read(), domain.read()]);
  for (const t of [weights, domain, dots, squares, ones, normsSq]) t.release();
  return distancesFrom(d, n, v, distance);
}

/** tokenDistances on the host, in f64 from an f32 embedding [vocab, dim] (a backend without GPU matmuls for it). */
export function hostTokenDistances(embedding: Float32Array, vocab: number, dim: number, counts: Float32Array, distance: TaskRelevanceOptions['distance']): Float32Array {
  const total = domainTotal(counts, vocab);
  const domain = new Float64Array(dim);
  for (let t = 0; t < vocab; t++) {
    const w = counts[t] / total;
    if (w !== 0) for (let k = 0; k < dim; k++) domain[k] += w * embedding[t * dim + k];
  }
  const dots = new Float64Array(vocab), normsSq = new Float64Array(vocab);
  for (let t = 0; t < vocab; t++) {
    let dot = 0, sq = 0;
    for (let k = 0, at = t * dim; k < dim; k++, at++) {
      dot += embedding[at] * domain[k];
      sq += embedding[at] * embedding[at];
    }
    dots[t] = dot;
    normsSq[t] = sq;
  }
  return distancesFrom(dots, normsSq, domain, distance);
}

/** The number of domain token occurrences, checked against the vocabulary. */
function domainTotal(counts: Float32Array, vocab: number): number {
  if (counts.length !== vocab) throw new RangeError(`task relevance: ${counts.length} counts for a vocabulary of ${vocab}`);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) throw new RangeError('task relevance: the domain has no tokens (no label tokens, or expert words that encode to nothing)');
  return total;
}

/** The distance of each token from its dot product with V, its squared norm, and V. */
function distancesFrom(d: ArrayLike<number>, n: ArrayLike<number>, v: ArrayLike<number>, distance: TaskRelevanceOptions['distance']): Float32Array {
  let vNormSq = 0;
  for (let k = 0; k < v.length; k++) vNormSq += v[k] * v[k];
  const out = new Float32Array(d.length);
  for (let t = 0; t < d.length; t++) {
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
