import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn } from '../helpers/random.ts';
import { ropeBackward, ropeForward, ropePairForward, ropeTable, type RopeLayout } from '../../src/ops/rope.ts';
import { ropeRef } from '../reference/rope.ts';

function ropeCase(layout: RopeLayout): PortableCase {
  return {
    name: `rope ${layout} forward and backward [2, 40, 3, 10], start 100, and q with a 1-head k in one dispatch`,
    async run(rt) {
      const s = { batch: 2, seqLen: 40, heads: 3, headDim: 10 };
      const shape = [s.batch, s.seqLen, s.heads, s.headDim];
      const x = randn(2400, 71), dy = randn(2400, 72);
      const table = ropeTable(rt, s.headDim, 10000);
      const options = { layout, startPos: 100 };
      // Our own sin/cos: the built-ins are only promised to 2^-11 and differ between implementations.
      assertClose(await ropeForward(rt, rt.upload(x, shape), table, options).read(), ropeRef(x, s, 10000, layout, 100), 2e-6, 0, 'y');
      assertClose(await ropeBackward(rt, rt.upload(dy, shape), table, options).read(), ropeRef(dy, s, 10000, layout, 100, -1), 2e-6, 0, 'dx');
      // q and k (grouped-query: 1 head) in one dispatch, by the same angles.
      const ks = { ...s, heads: 1 };
      const k = randn(800, 73);
      const pair = ropePairForward(rt, rt.upload(x, shape), rt.upload(k, [s.batch, s.seqLen, 1, s.headDim]), table, options);
      assertClose(await pair.q.read(), ropeRef(x, s, 10000, layout, 100), 2e-6, 0, 'q');
      assertClose(await pair.k.read(), ropeRef(k, ks, 10000, layout, 100), 2e-6, 0, 'k');
    },
  };
}

export const ropeCases: PortableCase[] = [ropeCase('interleaved'), ropeCase('half')];
