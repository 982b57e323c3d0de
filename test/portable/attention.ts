import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn } from '../helpers/random.ts';
import { attentionBackwardRef, attentionForwardRef, attentionReceivedRef, type AttentionDims } from '../reference/attention.ts';
import { attentionBackward, attentionForward, attentionProbs, attentionReceived } from '../../src/ops/attention.ts';

export const attentionCases: PortableCase[] = [
  {
    name: 'attention forward + backward (B 2, T 37, H 4, Hkv 2, D 8)',
    async run(rt) {
      const d: AttentionDims = { batch: 2, tq: 37, tk: 37, heads: 4, kvHeads: 2, headDim: 8 };
      const q = randn(2 * 37 * 4 * 8, 61, 2), k = randn(2 * 37 * 2 * 8, 62), v = randn(2 * 37 * 2 * 8, 63);
      const dOut = randn(q.length, 64);
      const tq = rt.upload(q, [2, 37, 4, 8]), tk = rt.upload(k, [2, 37, 2, 8]), tv = rt.upload(v, [2, 37, 2, 8]);
      const fwd = attentionForward(rt, tq, tk, tv);
      const ref = attentionForwardRef(q, k, v, d);
      assertClose(await fwd.out.read(), ref.out, 2e-5, 1e-4, 'attention out');
      assertClose(await fwd.logSumExp.read(), ref.logSumExp, 2e-5, 1e-5, 'attention logSumExp');
      const grads = attentionBackward(rt, tq, tk, tv, fwd, rt.upload(dOut, [2, 37, 4, 8]));
      const refGrads = attentionBackwardRef(q, k, v, dOut, d);
      assertClose(await grads.dQ.read(), refGrads.dQ, 1e-4, 1e-3, 'attention dQ');
      assertClose(await grads.dK.read(), refGrads.dK, 1e-4, 1e-3, 'attention dK');
      assertClose(await grads.dV.read(), refGrads.dV, 1e-4, 1e-3, 'attention dV');
    },
  },
  {
    name: 'attention KV-cache shape, received and probs (Tq 6 of Tk 19, H 4, Hkv 1, D 16)',
    async run(rt) {
      const d: AttentionDims = { batch: 1, tq: 6, tk: 19, heads: 4, kvHeads: 1, headDim: 16 };
      const q = randn(6 * 4 * 16, 71), k = randn(19 * 16, 72), v = randn(19 * 16, 73);
      const weights = Float32Array.from([1, 0, 0.5, 1, 0, 1]);
      const tq = rt.upload(q, [1, 6, 4, 16]), tk = rt.upload(k, [1, 19, 1, 16]), tv = rt.upload(v, [1, 19, 1, 16]);
      const fwd = attentionForward(rt, tq, tk, tv);
      const ref = attentionForwardRef(q, k, v, d);
      assertClose(await fwd.out.read(), ref.out, 2e-5, 1e-4, 'attention out');
      const queryWeights = rt.upload(weights, [1, 6]);
      const received = await attentionReceived(rt, tq, tk, fwd.logSumExp, { queryWeights }).read();
      assertClose(received, attentionReceivedRef(ref.probs, d, weights), 1e-5, 1e-4, 'attention received');
      assertClose(await attentionProbs(rt, tq, tk, fwd.logSumExp).read(), ref.probs, 1e-6, 1e-4, 'attention probs');
    },
  },
  {
    name: 'attention decode step over left-padded KV caches (B 2, Tq 1 of Tk 45 in 50 rows, D 16)',
    async run(rt) {
      const d: AttentionDims = { batch: 2, tq: 1, tk: 45, heads: 4, kvHeads: 2, headDim: 16 };
      const starts = [0, 40];
      const q = randn(2 * 4 * 16, 81), k = randn(2 * 45 * 2 * 16, 82), v = randn(2 * 45 * 2 * 16, 83);
      // The filled 45 rows of a 50-row cache per sequence; the rest must not be read.
      const cache = (x: Float32Array) => {
        const out = randn(2 * 50 * 2 * 16, 84, 1e3);
        for (let b = 0; b < 2; b++) out.set(x.subarray(b * 45 * 32, (b + 1) * 45 * 32), b * 50 * 32);
        return rt.upload(out, [2, 50, 2, 16]);
      };
      const keyStart = rt.upload(Uint32Array.from(starts), [2], 'u32');
      const fwd = attentionForward(rt, rt.upload(q, [2, 1, 4, 16]), cache(k), cache(v), { kvLength: 45, keyStart });
      const ref = attentionForwardRef(q, k, v, d, undefined, starts);
      assertClose(await fwd.out.read(), ref.out, 2e-5, 1e-4, 'attention out');
      assertClose(await fwd.logSumExp.read(), ref.logSumExp, 2e-5, 1e-5, 'attention logSumExp');
    },
  },
];
