import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn } from '../helpers/random.ts';
import { adamwUpdate } from '../../src/ops/adamw.ts';
import { adamwRef, type AdamWStateRef } from '../reference/adamw.ts';

export const adamwCases: PortableCase[] = [
  {
    name: 'adamw: 3 steps with weight decay, bias correction and a GPU grad scale (n = 1029)',
    async run(rt) {
      const n = 1029;
      const p0 = randn(n, 21);
      const param = rt.upload(p0, [n]);
      const m = rt.zeros([n]), v = rt.zeros([n]), grad = rt.empty([n]);
      const gradScale = rt.upload([0.5], [1]);
      const hyper = { lr: 1e-2, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
      let ref: AdamWStateRef = { param: Float64Array.from(p0), m: new Float64Array(n), v: new Float64Array(n) };
      for (let step = 1; step <= 3; step++) {
        const g = randn(n, 30 + step);
        rt.write(grad, g);
        adamwUpdate(rt, { param, grad, m, v }, { ...hyper, step }, gradScale);
        ref = adamwRef(ref, g, { ...hyper, step }, 0.5);
      }
      assertClose(await param.read(), ref.param, 1e-5, 1e-4, 'param');
      assertClose(await m.read(), ref.m, 1e-6, 1e-4, 'm');
      assertClose(await v.read(), ref.v, 1e-7, 1e-4, 'v');
    },
  },
];
