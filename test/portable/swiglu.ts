import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn } from '../helpers/random.ts';
import { swigluBackward, swigluForward } from '../../src/ops/swiglu.ts';
import { swigluBackwardRef, swigluForwardRef } from '../reference/swiglu.ts';

export const swigluCases: PortableCase[] = [
  {
    name: 'swiglu forward and backward [7, 43]',
    async run(rt) {
      const n = 7 * 43;
      const gate = randn(n, 81, 3), up = randn(n, 82), dOut = randn(n, 83);
      const tg = rt.upload(gate, [7, 43]), tu = rt.upload(up, [7, 43]);
      assertClose(await swigluForward(rt, tg, tu).read(), swigluForwardRef(gate, up), 1e-6, 1e-5, 'out');
      const { dGate, dUp } = swigluBackward(rt, rt.upload(dOut, [7, 43]), tg, tu);
      const ref = swigluBackwardRef(dOut, gate, up);
      assertClose(await dGate.read(), ref.dGate, 1e-6, 1e-5, 'dgate');
      assertClose(await dUp.read(), ref.dUp, 1e-6, 1e-5, 'dup');
    },
  },
];
