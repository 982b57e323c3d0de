import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { finiteDiff, projectionLoss } from '../helpers/finite-diff.ts';
import { swigluBackwardRef, swigluForwardRef } from '../reference/swiglu.ts';
import { swigluBackward, swigluForward } from '../../src/ops/swiglu.ts';

// Element counts not a multiple of 4 (the per-invocation quad) or of the 1024-element workgroup,
// and the stories260K FFN shape (hidden 172).
const SHAPES: [number, number][] = [
  [1, 1],
  [1, 3],
  [3, 7],
  [5, 172],
  [33, 301],
];

describe('swiglu', () => {
  for (const [rows, hidden] of SHAPES) {
    it(`forward and backward on [${rows}, ${hidden}]`, async () => {
      const rt = await gpu();
      const n = rows * hidden;
      const gate = randn(n, n, 3), up = randn(n, n + 1), dOut = randn(n, n + 2);
      const tg = rt.upload(gate, [rows, hidden]), tu = rt.upload(up, [rows, hidden]);
      expectClose(await swigluForward(rt, tg, tu).read(), swigluForwardRef(gate, up), 1e-6, 1e-5, 'out');
      const ref = swigluBackwardRef(dOut, gate, up);
      const { dGate, dUp } = swigluBackward(rt, rt.upload(dOut, [rows, hidden]), tg, tu);
      expectClose(await dGate.read(), ref.dGate, 1e-6, 1e-5, 'dgate');
      expectClose(await dUp.read(), ref.dUp, 1e-6, 1e-5, 'dup');
    });
  }

  it('stays finite for gates far into both tails', async () => {
    const rt = await gpu();
    const gate = Float32Array.from([-200, -90, -30, 0, 30, 90, 200]);
    const up = new Float32Array(gate.length).fill(2);
    const tg = rt.upload(gate, [gate.length]), tu = rt.upload(up, [gate.length]);
    expectClose(await swigluForward(rt, tg, tu).read(), swigluForwardRef(gate, up), 1e-6, 1e-6, 'out');
    const ref = swigluBackwardRef(up, gate, up);
    const { dGate, dUp } = swigluBackward(rt, tu, tg, tu);
    expectClose(await dGate.read(), ref.dGate, 1e-6, 1e-6, 'dgate');
    expectClose(await dUp.read(), ref.dUp, 1e-6, 1e-6, 'dup');
  });

  it('the CPU backward matches finite differences of the CPU forward', () => {
    const n = 17;
    const gate = Float64Array.from(randn(n, 41, 3)), up = Float64Array.from(randn(n, 42));
    const proj = randn(n, 43);
    const { dGate, dUp } = swigluBackwardRef(proj, gate, up);
    expectClose(dGate, finiteDiff((g) => projectionLoss(swigluForwardRef(g, up), proj), gate), 1e-8, 1e-6, 'dgate vs finite differences');
    expectClose(dUp, finiteDiff((u) => projectionLoss(swigluForwardRef(gate, u), proj), up), 1e-8, 1e-6, 'dup vs finite differences');
  });

  it('rejects mismatched shapes', async () => {
    const rt = await gpu();
    expect(() => swigluForward(rt, rt.zeros([2, 3]), rt.zeros([3, 2, 2]))).toThrow(/swiglu: up \[3, 2, 2\] does not match gate \[2, 3\]/);
    expect(() => swigluBackward(rt, rt.zeros([5]), rt.zeros([6]), rt.zeros([6]))).toThrow(RangeError);
  });
});
