import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn } from '../helpers/random.ts';
import { addForward } from '../../src/ops/elementwise.ts';

export const elementwiseCases: PortableCase[] = [
  {
    name: 'add (n = 1027)',
    async run(rt) {
      const n = 1027;
      const a = randn(n, 11), b = randn(n, 12);
      const out = await addForward(rt, rt.upload(a, [n]), rt.upload(b, [n]), 2).read();
      assertClose(out, a.map((x, i) => x + 2 * b[i]), 1e-6, 1e-6, 'add');
    },
  },
];
