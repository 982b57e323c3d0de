import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn, rng } from '../helpers/random.ts';
import { crossEntropyForward, crossEntropyForwardBackward, weightedLoss } from '../../src/ops/cross-entropy.ts';
import { crossEntropyBackwardRef, crossEntropyRef, weightedLossRef } from '../reference/cross-entropy.ts';

function trainingCase(rows: number, vocab: number): PortableCase {
  return {
    name: `cross-entropy training pass [${rows}, ${vocab}] (${vocab % 4 === 0 ? 'vec4' : 'scalar'} path)`,
    async run(rt) {
      const r = rng(vocab);
      const x = randn(rows * vocab, rows + vocab, 3);
      const targets = Uint32Array.from({ length: rows }, () => Math.floor(r() * vocab));
      const w = Float32Array.from({ length: rows }, (_, i) => [0, 1, 0.5][i % 3]);
      const weightSum = 4;
      const logits = rt.upload(x, [rows, vocab]);
      const lossMask = rt.upload(w, [rows]);
      const out = crossEntropyForwardBackward(rt, logits, rt.upload(targets, [rows], 'u32'), lossMask, weightSum);
      const stepLoss = weightedLoss(rt, out.loss, lossMask, weightSum);
      const ref = crossEntropyRef(x, targets, rows, vocab);
      assertClose(await out.loss.read(), ref.loss, 1e-5, 1e-5, 'loss');
      assertClose(await out.prob.read(), ref.prob, 1e-6, 1e-4, 'p(target)');
      assertClose(await logits.read(), crossEntropyBackwardRef(x, targets, w, weightSum, rows, vocab), 1e-7, 1e-4, 'd_logits');
      assertClose(await stepLoss.read(), [weightedLossRef(ref.loss, w, weightSum)], 1e-5, 1e-5, 'weighted loss');
    },
  };
}

export const crossEntropyCases: PortableCase[] = [
  trainingCase(5, 1027),
  trainingCase(3, 2052),
  {
    name: 'cross-entropy scoring pass with logits ±80, target not the argmax',
    async run(rt) {
      const rows = 2, vocab = 300;
      const x = randn(rows * vocab, 9, 20).map((v) => Math.max(-80, Math.min(80, v)));
      x[0] = 80;
      x[vocab + 7] = 80;
      const targets = new Uint32Array([5, 8]);
      x[5] = 79;
      x[vocab + 8] = -70;
      const logits = rt.upload(x, [rows, vocab]);
      const { loss, prob } = crossEntropyForward(rt, logits, rt.upload(targets, [rows], 'u32'));
      const ref = crossEntropyRef(x, targets, rows, vocab);
      assertClose(await loss.read(), ref.loss, 1e-5, 1e-5, 'loss');
      assertClose(await prob.read(), ref.prob, 1e-6, 1e-4, 'p(target)');
      assertClose(await logits.read(), x, 0, 0, 'logits untouched');
    },
  },
];
