import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn } from '../helpers/random.ts';
import { globalGradNorm } from '../../src/ops/grad-norm.ts';
import { globalGradNormRef } from '../reference/grad-norm.ts';

export const gradNormCases: PortableCase[] = [
  {
    name: 'global gradient norm and clip factor over tensors of odd sizes',
    async run(rt) {
      const host = [1, 7, 1025, 5003].map((n, k) => randn(n, 50 + k));
      const maxNorm = 10;
      const { norm, clipFactor } = globalGradNorm(rt, host.map((g) => rt.upload(g, [g.length])), maxNorm);
      const ref = globalGradNormRef(host, maxNorm);
      assertClose(await norm.read(), [ref.norm], 0, 1e-5, 'norm');
      assertClose(await clipFactor.read(), [ref.clipFactor], 0, 1e-5, 'clip factor');
    },
  },
];
