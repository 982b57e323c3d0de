import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { randn, rng } from '../helpers/random.ts';
import { expectClose } from '../helpers/compare.ts';
import { finiteDiff, projectionLoss } from '../helpers/finite-diff.ts';
import {
  attentionBackwardRef,
  attentionForwardRef,
  attentionReceivedRef,
  type AttentionDims,
} from '../reference/attention.ts';
import { attentionBackward, attentionForward, attentionProbs, attentionReceived } from '../../src/ops/attention.ts';
import type { Runtime } from '../../src/gpu/index.ts';

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

const name = (d: AttentionDims) =>
  `B=${d.batch} Tq=${d.tq} Tk=${d.tk} H=${d.heads} Hkv=${d.kvHeads} D=${d.headDim}`;

function makeInputs(d: AttentionDims, seed: number): Inputs {
  // q scaled up so that some rows are peaked (the online-softmax rescale matters).
  return {
    q: randn(d.batch * d.tq * d.heads * d.headDim, seed, 2),
    k: randn(d.batch * d.tk * d.kvHeads * d.headDim, seed + 1),
    v: randn(d.batch * d.tk * d.kvHeads * d.headDim, seed + 2),
  };
}

function upload(rt: Runtime, d: AttentionDims, x: Inputs) {
  return {
    q: rt.upload(x.q, [d.batch, d.tq, d.heads, d.headDim], 'f32', 'q'),
    k: rt.upload(x.k, [d.batch, d.tk, d.kvHeads, d.headDim], 'f32', 'k'),
    v: rt.upload(x.v, [d.batch, d.tk, d.kvHeads, d.headDim], 'f32', 'v'),
  };
}

const dims = (batch: number, tq: number, tk: number, heads: number, kvHeads: number, headDim: number): AttentionDims => ({
  batch,
  tq,
  tk,
  heads,
  kvHeads,
  headDim,
});

// GQA ratios 1, 2, 4; T in {1, 5, 33, 70} (the GPU tiles 32 query rows by 4 keys); D in {4, 8, 16, 64};
// B in {1, 3}; the last three put the queries at the end of a longer key sequence (KV cache).
const CASES: AttentionDims[] = [
  dims(1, 1, 1, 4, 4, 4),
  dims(3, 5, 5, 4, 2, 8),
  dims(1, 33, 33, 8, 2, 16),
  dims(3, 70, 70, 4, 1, 8),
  dims(1, 70, 70, 2, 2, 64),
  dims(3, 33, 33, 6, 3, 64),
  dims(1, 5, 5, 8, 2, 4),
  dims(3, 5, 33, 4, 2, 16),
  dims(1, 1, 70, 8, 2, 8),
  dims(1, 33, 70, 4, 1, 4),
];

async function checkProbs(d: AttentionDims): Promise<void> {
  const rt = await gpu();
  const x = makeInputs(d, 400);
  const t = upload(rt, d, x);
  const ref = attentionForwardRef(x.q, x.k, x.v, d);
  const fwd = attentionForward(rt, t.q, t.k, t.v);
  const probs = await attentionProbs(rt, t.q, t.k, fwd.logSumExp).read();
  expectClose(probs, ref.probs, 1e-6, 1e-4, 'probs');
  for (let row = 0; row < d.batch * d.heads * d.tq; row++) {
    const i = row % d.tq;
    let sum = 0;
    for (let j = 0; j < d.tk; j++) {
      const pij = probs[row * d.tk + j];
      if (j > d.tk - d.tq + i) expect(pij, `probs above the diagonal, row ${row} key ${j}`).toBe(0);
      sum += pij;
    }
    expect(Math.abs(sum - 1), `row ${row} sums to ${sum}`).toBeLessThan(1e-5);
  }
}

async function checkKeyStarts(d: AttentionDims, cacheRows: number, starts: number[]): Promise<void> {
  const rt = await gpu();
  const x = makeInputs(d, 500);
  // The cache holds garbage past the filled rows; the kernel must not read it.
  const rowSize = d.kvHeads * d.headDim;
  const pad = (src: Float32Array) => {
    const dst = randn(d.batch * cacheRows * rowSize, 501, 1e3);
    for (let b = 0; b < d.batch; b++) dst.set(src.subarray(b * d.tk * rowSize, (b + 1) * d.tk * rowSize), b * cacheRows * rowSize);
    return rt.upload(dst, [d.batch, cacheRows, d.kvHeads, d.headDim]);
  };
  const q = rt.upload(x.q, [d.batch, d.tq, d.heads, d.headDim]);
  const k = pad(x.k), v = pad(x.v);
  const keyStart = rt.upload(Uint32Array.from(starts), [d.batch], 'u32');
  const ref = attentionForwardRef(x.q, x.k, x.v, d, undefined, starts);
  const fwd = attentionForward(rt, q, k, v, { kvLength: d.tk, keyStart });
  const out = await fwd.out.read();
  expect(out.every(Number.isFinite)).toBe(true);
  expectClose(out, ref.out, 2e-5, 1e-4, 'out');
  expectClose(await fwd.logSumExp.read(), ref.logSumExp, 2e-5, 1e-5, 'logSumExp');
  for (const tensor of [q, k, v, keyStart, fwd.out, fwd.logSumExp]) tensor.release();
}

describe('attention reference (CPU, f64)', () => {
  for (const d of [dims(2, 3, 5, 4, 2, 3), dims(1, 4, 4, 2, 1, 5), dims(1, 6, 6, 3, 3, 2)]) {
    it(`analytic backward matches central differences, ${name(d)}`, () => {
      const x = makeInputs(d, 7);
      const q = Float64Array.from(x.q), k = Float64Array.from(x.k), v = Float64Array.from(x.v);
      const weights = randn(q.length, 99);
      const scale = 0.7;
      const grads = attentionBackwardRef(q, k, v, weights, d, scale);
      const loss = () => projectionLoss(attentionForwardRef(q, k, v, d, scale).out, weights);
      expectClose(grads.dQ, finiteDiff(loss, q), 1e-7, 1e-6, 'dQ vs finite differences');
      expectClose(grads.dK, finiteDiff(loss, k), 1e-7, 1e-6, 'dK vs finite differences');
      expectClose(grads.dV, finiteDiff(loss, v), 1e-7, 1e-6, 'dV vs finite differences');
    });
  }

  it('received counts strictly later rows only', () => {
    const d = dims(1, 3, 3, 1, 1, 4);
    const x = makeInputs(d, 3);
    const { probs } = attentionForwardRef(x.q, x.k, x.v, d);
    const received = attentionReceivedRef(probs, d);
    expect(received[2]).toBe(0);
    expect(received[1]).toBeCloseTo(probs[2 * 3 + 1], 12);
    expect(received[0]).toBeCloseTo(probs[1 * 3 + 0] + probs[2 * 3 + 0], 12);
  });
});

describe('attention (GPU)', () => {
  CASES.forEach((d, n) => {
    it(`forward and backward match the reference, ${name(d)}`, async () => {
      const rt = await gpu();
      const x = makeInputs(d, 100 + 10 * n);
      const t = upload(rt, d, x);
      const ref = attentionForwardRef(x.q, x.k, x.v, d);
      const fwd = attentionForward(rt, t.q, t.k, t.v);
      expect(fwd.out.shape).toEqual([d.batch, d.tq, d.heads, d.headDim]);
      expectClose(await fwd.out.read(), ref.out, 2e-5, 1e-4, 'out');
      expectClose(await fwd.logSumExp.read(), ref.logSumExp, 2e-5, 1e-5, 'logSumExp');

      const dOut = randn(x.q.length, 200 + n);
      const refGrads = attentionBackwardRef(x.q, x.k, x.v, dOut, d);
      const dOutT = rt.upload(dOut, fwd.out.shape, 'f32', 'dOut');
      const grads = attentionBackward(rt, t.q, t.k, t.v, fwd, dOutT);
      expectClose(await grads.dQ.read(), refGrads.dQ, 1e-4, 1e-3, 'dQ');
      expectClose(await grads.dK.read(), refGrads.dK, 1e-4, 1e-3, 'dK');
      expectClose(await grads.dV.read(), refGrads.dV, 1e-4, 1e-3, 'dV');
      for (const tensor of [...Object.values(t), fwd.out, fwd.logSumExp, dOutT, grads.dQ, grads.dK, grads.dV]) tensor.release();
    });
  });

  it('a custom scale reaches forward and backward', async () => {
    const rt = await gpu();
    const d = dims(1, 9, 9, 2, 1, 8);
    const x = makeInputs(d, 5);
    const t = upload(rt, d, x);
    const scale = 0.05;
    const fwd = attentionForward(rt, t.q, t.k, t.v, { scale });
    expectClose(await fwd.out.read(), attentionForwardRef(x.q, x.k, x.v, d, scale).out, 2e-5, 1e-4, 'out');
    const dOut = randn(x.q.length, 6);
    const grads = attentionBackward(rt, t.q, t.k, t.v, fwd, rt.upload(dOut, fwd.out.shape), { scale });
    const ref = attentionBackwardRef(x.q, x.k, x.v, dOut, d, scale);
    expectClose(await grads.dQ.read(), ref.dQ, 1e-5, 1e-3, 'dQ');
    expectClose(await grads.dK.read(), ref.dK, 1e-5, 1e-3, 'dK');
  });

  for (const d of [dims(3, 33, 33, 4, 2, 8), dims(1, 70, 70, 4, 1, 16), dims(3, 5, 33, 8, 2, 4)]) {
    it(`attentionReceived with all-ones, all-zero and partial query weights, ${name(d)}`, async () => {
      const rt = await gpu();
      const x = makeInputs(d, 300);
      const t = upload(rt, d, x);
      const { probs } = attentionForwardRef(x.q, x.k, x.v, d);
      const fwd = attentionForward(rt, t.q, t.k, t.v);
      const n = d.batch * d.tq;
      const r = rng(301);
      // Partial: some rows off, some on, some fractional (an output-positions-only mask, generalised).
      const partial = Float32Array.from({ length: n }, () => [0, 1, r()][Math.floor(r() * 3)]);
      const cases: [string, Float32Array | undefined][] = [
        ['default weights', undefined],
        ['all-ones weights', new Float32Array(n).fill(1)],
        ['all-zero weights', new Float32Array(n)],
        ['partial weights', partial],
      ];
      for (const [what, w] of cases) {
        const queryWeights = w ? rt.upload(w, [d.batch, d.tq], 'f32', 'query weights') : undefined;
        const got = await attentionReceived(rt, t.q, t.k, fwd.logSumExp, { queryWeights }).read();
        expect(got.length).toBe(d.batch * d.heads * d.tk);
        expectClose(got, attentionReceivedRef(probs, d, w), 1e-5, 1e-4, what);
        if (w && w.every((value) => value === 0)) expect(got.every((value) => value === 0)).toBe(true);
      }
    });
  }

  for (const d of [dims(3, 70, 70, 4, 2, 8), dims(2, 130, 130, 2, 1, 16)]) {
    it(`attentionReceived with a first key per batch row: exact from it on, 0 before it, ${name(d)}`, async () => {
      const rt = await gpu();
      const x = makeInputs(d, 310);
      const t = upload(rt, d, x);
      const { probs } = attentionForwardRef(x.q, x.k, x.v, d);
      const fwd = attentionForward(rt, t.q, t.k, t.v);
      const starts = Array.from({ length: d.batch }, (_, b) => [0, d.tk - 1, Math.floor(d.tk / 2)][b % 3]);
      const keyStart = rt.upload(Uint32Array.from(starts), [d.batch], 'u32', 'key start');
      const got = await attentionReceived(rt, t.q, t.k, fwd.logSumExp, { keyStart }).read();
      const ref = attentionReceivedRef(probs, d);
      for (let b = 0; b < d.batch; b++) {
        for (let h = 0; h < d.heads; h++) {
          for (let j = 0; j < d.tk; j++) {
            const at = (b * d.heads + h) * d.tk + j;
            if (j >= starts[b]) expect(Math.abs(got[at] - ref[at]), `b ${b} h ${h} key ${j}`).toBeLessThanOrEqual(1e-5 + 1e-4 * Math.abs(ref[at]));
            else expect(got[at], `b ${b} h ${h} key ${j} (before the start)`).toBe(0);
          }
        }
      }
      expect(() => attentionReceived(rt, t.q, t.k, fwd.logSumExp, { keyStart: rt.upload(new Float32Array(d.batch), [d.batch]) })).toThrow(/keyStart .* must be u32/);
    });
  }

  for (const d of [dims(3, 33, 33, 4, 2, 8), dims(1, 5, 70, 2, 1, 64), dims(1, 1, 1, 1, 1, 4)]) {
    it(`attentionProbs matches the reference, ${name(d)}`, () => checkProbs(d));
  }

  it('attentionProbs refuses outputs larger than a storage binding', async () => {
    const rt = await gpu();
    const limit = rt.limits.maxStorageBufferBindingSize;
    // H·T² floats just over the limit; q, k and lse themselves stay small (never uploaded).
    const heads = 64;
    const t = Math.ceil(Math.sqrt(limit / 4 / heads)) + 8;
    const q = rt.empty([1, t, heads, 4]);
    const k = rt.empty([1, t, 1, 4]);
    const lse = rt.empty([1, heads, t]);
    expect(() => attentionProbs(rt, q, k, lse)).toThrow(RangeError);
    expect(() => attentionProbs(rt, q, k, lse)).toThrow(/maxStorageBufferBindingSize/);
    for (const tensor of [q, k, lse]) tensor.release();
  });

  it('rejects bad shapes with RangeErrors that name the shapes', async () => {
    const rt = await gpu();
    const q = rt.empty([2, 5, 6, 8]);
    const k = rt.empty([2, 5, 4, 8]);
    const good = rt.empty([2, 5, 3, 8]);
    const oddDim = rt.empty([2, 5, 3, 6]);
    const longQ = rt.empty([2, 7, 6, 8]);
    expect(() => attentionForward(rt, q, k, k)).toThrow(/6 query heads .* not a multiple of 4 kv heads/);
    expect(() => attentionForward(rt, q, good, k)).toThrow(RangeError);
    expect(() => attentionForward(rt, rt.empty([2, 5, 3, 6]), oddDim, oddDim)).toThrow(/multiple of 4/);
    const wide = rt.empty([1, 2, 1, 132]);
    expect(() => attentionForward(rt, wide, wide, wide)).toThrow(/head dim 132 .* at most 128/);
    expect(() => attentionBackward(rt, wide, wide, wide, { out: wide, logSumExp: rt.empty([1, 1, 2]) }, wide)).toThrow(/at most 128/);
    const gemma = rt.empty([1, 2, 1, 256]);
    expect(() => attentionReceived(rt, gemma, gemma, rt.empty([1, 1, 2]))).toThrow(/head dim 256 .* at most 128/);
    expect(() => attentionForward(rt, longQ, good, good)).toThrow(/7 query rows .* only 5 keys/);
    const fwd = attentionForward(rt, q, good, good);
    expect(() => attentionBackward(rt, q, good, good, fwd, rt.empty([2, 5, 6, 4]))).toThrow(/dOut \[2, 5, 6, 4\]/);
    expect(() => attentionReceived(rt, q, good, fwd.logSumExp, { queryWeights: rt.empty([2, 6]) })).toThrow(/queryWeights/);
    expect(() => attentionForward(rt, q, good, good, { kvLength: 4 })).toThrow(/kvLength 4 must be a whole number in 5\.\.5/);
    expect(() => attentionForward(rt, q, good, good, { keyStart: rt.upload(new Uint32Array(3), [3], 'u32') })).toThrow(/keyStart .* must be u32 \[2\]/);
    await rt.sync();
  });

  // Batched generation: left-padded rows (key starts 0, mid-block and past a 32-row block) over the filled
  // prefix of a longer cache, for the prompt pass (Tq = Tk) and decode steps (Tq <= 4: one invocation per
  // workgroup), including pad rows among them.
  for (const [d, cacheRows, starts] of [
    [dims(3, 70, 70, 4, 2, 8), 79, [0, 5, 37]],
    [dims(3, 1, 70, 4, 2, 8), 79, [0, 5, 37]],
    [dims(2, 6, 41, 2, 1, 64), 50, [40, 3]],
    [dims(2, 4, 101, 4, 2, 64), 110, [99, 0]],
  ] as [AttentionDims, number, number[]][]) {
    it(`forward with key starts ${starts.join(', ')} over ${d.tk} of ${cacheRows} cached rows, ${name(d)}`, () => checkKeyStarts(d, cacheRows, starts));
  }
});

// Head dims of the larger models people fine-tune (D = 128: Llama 3.2 3B, Qwen2.5 1.5B+, Mistral 7B) and a
// multiple of 4 above 64 that is no power of two (96: Phi-3 mini), with grouped-query heads. T = 7 and 13
// leave partial 4-row blocks, 37 spans two 32-row workgroups; Tq < Tk is a KV-cached prompt continuation,
// Tq = 1 a decode step (the one-invocation workgroups).
const LARGE_CASES: AttentionDims[] = [
  dims(2, 7, 7, 4, 2, 128),
  dims(1, 13, 13, 6, 2, 128),
  dims(1, 37, 37, 2, 1, 128),
  dims(2, 7, 7, 6, 3, 96),
  dims(1, 13, 13, 4, 1, 96),
  dims(1, 5, 21, 4, 2, 128),
  dims(2, 1, 13, 4, 2, 128),
  dims(1, 1, 7, 6, 2, 96),
];

// The first test at each head dim compiles its pipelines: about 2 minutes of CPU on SwiftShader at D = 128,
// 1 at D = 96 (see attention.part.wgsl), several minutes of wall clock on a busy 2-core machine.
describe('attention at head dims above 64 (GPU)', { timeout: 600_000 }, () => {
  LARGE_CASES.forEach((d, n) => {
    it(`forward, backward and attentionReceived match the reference, ${name(d)}`, async () => {
      const rt = await gpu();
      const x = makeInputs(d, 600 + 10 * n);
      const t = upload(rt, d, x);
      const ref = attentionForwardRef(x.q, x.k, x.v, d);
      const fwd = attentionForward(rt, t.q, t.k, t.v);
      expectClose(await fwd.out.read(), ref.out, 2e-5, 1e-4, 'out');
      expectClose(await fwd.logSumExp.read(), ref.logSumExp, 2e-5, 1e-5, 'logSumExp');

      const dOut = randn(x.q.length, 700 + n);
      const refGrads = attentionBackwardRef(x.q, x.k, x.v, dOut, d);
      const dOutT = rt.upload(dOut, fwd.out.shape, 'f32', 'dOut');
      const grads = attentionBackward(rt, t.q, t.k, t.v, fwd, dOutT);
      expectClose(await grads.dQ.read(), refGrads.dQ, 1e-4, 1e-3, 'dQ');
      expectClose(await grads.dK.read(), refGrads.dK, 1e-4, 1e-3, 'dK');
      expectClose(await grads.dV.read(), refGrads.dV, 1e-4, 1e-3, 'dV');

      const r = rng(800 + n);
      const weights = Float32Array.from({ length: d.batch * d.tq }, () => [0, 1, r()][Math.floor(r() * 3)]);
      const queryWeights = rt.upload(weights, [d.batch, d.tq], 'f32', 'query weights');
      const received = attentionReceived(rt, t.q, t.k, fwd.logSumExp);
      const weighted = attentionReceived(rt, t.q, t.k, fwd.logSumExp, { queryWeights });
      expectClose(await received.read(), attentionReceivedRef(ref.probs, d), 1e-5, 1e-4, 'received');
      expectClose(await weighted.read(), attentionReceivedRef(ref.probs, d, weights), 1e-5, 1e-4, 'received, partial weights');
      const all = [...Object.values(t), fwd.out, fwd.logSumExp, dOutT, grads.dQ, grads.dK, grads.dV, queryWeights, received, weighted];
      for (const tensor of all) tensor.release();
    });
  });

  it(`attentionProbs matches the reference, ${name(dims(1, 7, 13, 4, 2, 128))}`, () => checkProbs(dims(1, 7, 13, 4, 2, 128)));

  // Left-padded batches over a longer cache (garbage past the filled rows): the prompt pass (batch row 1's
  // rows 0-5 are pad rows), a decode step (one-invocation workgroups; key starts 0, mid-block and 2 keys
  // before the end) and a 3-row continuation at D = 96.
  for (const [d, cacheRows, starts] of [
    [dims(2, 13, 13, 4, 2, 128), 16, [0, 6]],
    [dims(3, 1, 19, 4, 2, 128), 24, [0, 5, 17]],
    [dims(2, 3, 13, 6, 2, 96), 16, [9, 0]],
  ] as [AttentionDims, number, number[]][]) {
    it(`forward with key starts ${starts.join(', ')} over ${d.tk} of ${cacheRows} cached rows, ${name(d)}`, () => checkKeyStarts(d, cacheRows, starts));
  }

  it('backward matches central differences of the f64 forward, B=1 Tq=Tk=3 H=2 Hkv=1 D=128', async () => {
    // Independent of attentionBackwardRef: the GPU gradients of L = Σ out·w against finite differences
    // of the f64 reference forward at the same (f32) inputs.
    const rt = await gpu();
    const d = dims(1, 3, 3, 2, 1, 128);
    const x = makeInputs(d, 900);
    const t = upload(rt, d, x);
    const weights = randn(x.q.length, 901);
    const fwd = attentionForward(rt, t.q, t.k, t.v);
    const dOut = rt.upload(weights, fwd.out.shape, 'f32', 'dOut');
    const grads = attentionBackward(rt, t.q, t.k, t.v, fwd, dOut);
    const q = Float64Array.from(x.q), k = Float64Array.from(x.k), v = Float64Array.from(x.v);
    const loss = () => projectionLoss(attentionForwardRef(q, k, v, d).out, weights);
    expectClose(await grads.dQ.read(), finiteDiff(loss, q), 1e-4, 1e-3, 'dQ vs finite differences');
    expectClose(await grads.dK.read(), finiteDiff(loss, k), 1e-4, 1e-3, 'dK vs finite differences');
    expectClose(await grads.dV.read(), finiteDiff(loss, v), 1e-4, 1e-3, 'dV vs finite differences');
    for (const tensor of [...Object.values(t), fwd.out, fwd.logSumExp, dOut, grads.dQ, grads.dK, grads.dV]) tensor.release();
  });
});
