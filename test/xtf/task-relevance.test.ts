// Task relevance from the embedding table: GPU distances against an f64 CPU computation.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/compare.ts';
import { loadModel } from '../model/stories260k.ts';
import { taskRelevanceScores, tokenDistances } from '../../src/xtf/task-relevance.ts';
import { rng } from '../helpers/random.ts';

describe('task relevance', () => {
  const weights = loadModel();
  const E = weights.tensors.tokEmbedding;
  const { vocabSize: V, dim } = weights.config;
  const r = rng(4);
  const counts = new Float32Array(V);
  for (let i = 0; i < 300; i++) counts[3 + Math.floor(r() * 200)]++;

  function cpu(distance: 'cosine' | 'euclidean'): number[] {
    const total = counts.reduce((a, b) => a + b, 0);
    const v = new Float64Array(dim);
    for (let t = 0; t < V; t++) for (let d = 0; d < dim; d++) v[d] += (counts[t] / total) * E[t * dim + d];
    return Array.from({ length: V }, (_, t) => {
      let dot = 0, nt = 0, nv = 0, sq = 0;
      for (let d = 0; d < dim; d++) {
        const e = E[t * dim + d];
        dot += e * v[d]; nt += e * e; nv += v[d] * v[d]; sq += (e - v[d]) ** 2;
      }
      return distance === 'cosine' ? 1 - dot / Math.sqrt(nt * nv) : Math.sqrt(sq);
    });
  }

  for (const distance of ['cosine', 'euclidean'] as const) {
    it(`${distance} distance to the domain vector matches the CPU`, async () => {
      const rt = await gpu();
      const emb = rt.upload(E, [V, dim]);
      const got = await tokenDistances(rt, emb, counts, distance);
      expectClose(got, cpu(distance), 2e-5, 1e-4, `${distance} distances`);
      emb.release();
    });
  }

  it('S_TR is 1 − min-max distance over the types present, NaN elsewhere', () => {
    const d = new Float32Array([0.5, 0.1, 0.9, 0.3]);
    const s = taskRelevanceScores(d, (t) => t !== 2);
    expect(Number.isNaN(s[2])).toBe(true);
    expectClose([s[0], s[1], s[3]], [1 - (0.5 - 0.1) / 0.4, 1, 1 - (0.3 - 0.1) / 0.4], 1e-6, 0, 'S_TR');
  });
});
