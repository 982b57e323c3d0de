import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn } from '../helpers/random.ts';
import { matmul, matmulBackward } from '../../src/ops/matmul.ts';
import { matmulBackwardRef, matmulRef, type MatmulRefDims } from '../reference/matmul.ts';

export const matmulCases: PortableCase[] = [
  {
    // The linear-layer forward (y = x·Wᵀ) on odd sizes (padded path), and an aligned A·B.
    name: 'matmul x·Wᵀ [37, 29]·[45, 29]ᵀ and A·B [24, 20]·[20, 40]',
    async run(rt) {
      let [M, N, K] = [37, 45, 29];
      const x = randn(M * K, 91), w = randn(N * K, 92);
      const y = await matmul(rt, rt.upload(x, [M, K]), rt.upload(w, [N, K]), { transB: true }).read();
      assertClose(y, matmulRef(x, w, { M, N, K, batch: 1, aBatched: false, bBatched: false, transB: true }), 1e-4, 1e-5, 'x·Wᵀ');
      [M, N, K] = [24, 40, 20];
      const a = randn(M * K, 93), b = randn(K * N, 94);
      const c = await matmul(rt, rt.upload(a, [M, K]), rt.upload(b, [K, N]), { alpha: 0.5 }).read();
      assertClose(c, matmulRef(a, b, { M, N, K, batch: 1, aBatched: false, bBatched: false, alpha: 0.5 }), 1e-4, 1e-5, '0.5·A·B');
    },
  },
  {
    // A decode step's linear layers: few rows take the `skinny` kernel.
    name: 'matmul with few rows: x·Wᵀ [3, 29]·[45, 29]ᵀ and A·B [1, 20]·[20, 40]',
    async run(rt) {
      let [M, N, K] = [3, 45, 29];
      const x = randn(M * K, 98), w = randn(N * K, 99);
      const y = await matmul(rt, rt.upload(x, [M, K]), rt.upload(w, [N, K]), { transB: true }).read();
      assertClose(y, matmulRef(x, w, { M, N, K, batch: 1, aBatched: false, bBatched: false, transB: true }), 1e-4, 1e-5, 'x·Wᵀ');
      [M, N, K] = [1, 40, 20];
      const a = randn(M * K, 100), b = randn(K * N, 101);
      const c = await matmul(rt, rt.upload(a, [M, K]), rt.upload(b, [K, N])).read();
      assertClose(c, matmulRef(a, b, { M, N, K, batch: 1, aBatched: false, bBatched: false }), 1e-4, 1e-5, 'A·B');
    },
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
