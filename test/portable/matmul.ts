import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn } from '../helpers/random.ts';
import { matmul, matmulBackward } from '../../src/ops/matmul.ts';
import { matmulBackwardRef, matmulRef, type MatmulRefDims } from '../reference/matmul.ts';
import type { Runtime } from '../../src/gpu/index.ts';

/** y = x·Wᵀ [M, K]·[N, K]ᵀ (a linear layer) and alpha·A·B [m, k]·[k, n], each against the CPU reference. */
async function linearAndPlain(rt: Runtime, [M, N, K]: number[], [m, n, k]: number[], alpha: number, seed: number): Promise<void> {
  const x = randn(M * K, seed), w = randn(N * K, seed + 1);
  const y = await matmul(rt, rt.upload(x, [M, K]), rt.upload(w, [N, K]), { transB: true }).read();
  assertClose(y, matmulRef(x, w, { M, N, K, batch: 1, aBatched: false, bBatched: false, transB: true }), 1e-4, 1e-5, 'x·Wᵀ');
  const a = randn(m * k, seed + 2), b = randn(k * n, seed + 3);
  const c = await matmul(rt, rt.upload(a, [m, k]), rt.upload(b, [k, n]), { alpha }).read();
  assertClose(c, matmulRef(a, b, { M: m, N: n, K: k, batch: 1, aBatched: false, bBatched: false, alpha }), 1e-4, 1e-5, `${alpha}·A·B`);
}

export const matmulCases: PortableCase[] = [
  {
    // The linear-layer forward (y = x·Wᵀ) on odd sizes (padded path), and an aligned A·B.
    name: 'matmul x·Wᵀ [37, 29]·[45, 29]ᵀ and A·B [24, 20]·[20, 40]',
    run: (rt) => linearAndPlain(rt, [37, 45, 29], [24, 40, 20], 0.5, 91),
  },
  {
    // A decode step's linear layers: few rows take the `skinny` kernel.
    name: 'matmul with few rows: x·Wᵀ [3, 29]·[45, 29]ᵀ and A·B [1, 20]·[20, 40]',
    run: (rt) => linearAndPlain(rt, [3, 45, 29], [1, 40, 20], 1, 98),
  },
  {
    // Batched input, weight shared across the batch: dW is summed over the batch.
    name: 'matmul backward, batched x [2, 11, 18] · shared Wᵀ [21, 18]',
    async run(rt) {
      const [batch, M, N, K] = [2, 11, 21, 18];
      const x = randn(batch * M * K, 95), w = randn(N * K, 96), dY = randn(batch * M * N, 97);
      const d: MatmulRefDims = { M, N, K, batch, aBatched: true, bBatched: false, transB: true };
      const { dA, dB } = matmulBackward(rt, rt.upload(x, [batch, M, K]), rt.upload(w, [N, K]), rt.upload(dY, [batch, M, N]), { transB: true });
      const ref = matmulBackwardRef(x, w, dY, d);
      assertClose(await dA!.read(), ref.dA, 1e-4, 1e-5, 'dX');
      assertClose(await dB!.read(), ref.dB, 1e-4, 1e-5, 'dW');
    },
  },
];
