// CPU reference for the batched matmul in f64: C_b = alpha·op(A_b)·op(B_b) (+ C_b), row-major,
// A [batch?, M, K] (transA: [batch?, K, M]), B [batch?, K, N] (transB: [batch?, N, K]). An operand
// without a batch dim is shared by every batch; with `sumBatch` the batch is summed into one C.

export interface MatmulRefDims {
  M: number;
  N: number;
  K: number;
  batch: number;
  aBatched: boolean;
  bBatched: boolean;
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  sumBatch?: boolean;
}

/** op(A_b)[m][k] */
function aAt(a: ArrayLike<number>, d: MatmulRefDims, batch: number, m: number, k: number): number {
  const base = d.aBatched ? batch * d.M * d.K : 0;
  return a[base + (d.transA ? k * d.M + m : m * d.K + k)];
}

/** op(B_b)[k][n] */
function bAt(b: ArrayLike<number>, d: MatmulRefDims, batch: number, k: number, n: number): number {
  const base = d.bBatched ? batch * d.K * d.N : 0;
  return b[base + (d.transB ? n * d.K + k : k * d.N + n)];
}

/** C, plus `c0` when given (accumulation). */
export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, d: MatmulRefDims, c0?: ArrayLike<number>): Float64Array {
  const { M, N, K, batch } = d;
  const alpha = d.alpha ?? 1;
  const outBatches = d.sumBatch ? 1 : batch;
  const c = new Float64Array(outBatches * M * N);
  for (let bi = 0; bi < batch; bi++) {
    const cBase = d.sumBatch ? 0 : bi * M * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += aAt(a, d, bi, m, k) * bAt(b, d, bi, k, n);
        c[cBase + m * N + n] += alpha * s;
      }
    }
  }
  if (c0) for (let i = 0; i < c.length; i++) c[i] += c0[i];
  return c;
}

/**
 * Analytic gradients of L = Σ dC·C for C = alpha·op(A)·op(B): dA and dB in the operands' storage
 * layouts, summed over the batch for a shared operand. Written out element by element (not via
 * matmulRef) so that it is an independent check of the GPU backward's matmul formulation.
 */
export function matmulBackwardRef(a: ArrayLike<number>, b: ArrayLike<number>, dC: ArrayLike<number>, d: MatmulRefDims): { dA: Float64Array; dB: Float64Array } {
  const { M, N, K, batch } = d;
  const alpha = d.alpha ?? 1;
  const dA = new Float64Array((d.aBatched ? batch : 1) * M * K);
  const dB = new Float64Array((d.bBatched ? batch : 1) * K * N);
  for (let bi = 0; bi < batch; bi++) {
    const aBase = d.aBatched ? bi * M * K : 0;
    const bBase = d.bBatched ? bi * K * N : 0;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const g = alpha * dC[bi * M * N + m * N + n];
        for (let k = 0; k < K; k++) {
          // ∂C[m][n]/∂op(A)[m][k] = op(B)[k][n], ∂C[m][n]/∂op(B)[k][n] = op(A)[m][k]
          dA[aBase + (d.transA ? k * M + m : m * K + k)] += g * bAt(b, d, bi, k, n);
          dB[bBase + (d.transB ? n * K + k : k * N + n)] += g * aAt(a, d, bi, m, k);
        }
      }
    }
  }
  return { dA, dB };
}
