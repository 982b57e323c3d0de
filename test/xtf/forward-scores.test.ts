// On-device XTF scores against a CPU computation from the f64 reference model: p against
// reference.json, attention received against the reference's attention probabilities.
import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/compare.ts';
import { loadModel, loadTokenizer, reference } from '../model/stories260k.ts';
import { llamaReferenceForward } from '../reference/llama.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { forwardScores } from '../../src/xtf/forward-scores.ts';
import { tokenizeRecord } from '../../src/data/tokenize.ts';
import { exampleRecord } from '../../src/data/records.ts';
import { XTF_DEFAULTS, type ReasoningImportanceOptions } from '../../src/xtf/options.ts';

describe('XTF forward scores', () => {
  const weights = loadModel();
  const tok = loadTokenizer();
  const examples = [
    tokenizeRecord(tok, exampleRecord({ id: 'a', prompt: 'Natalia sold clips to 48 of her friends.', completion: ' She sold 24 clips in May, 72 in all.' }), { maxLength: 512 }),
    tokenizeRecord(tok, exampleRecord({ id: 'b', prompt: 'Once upon a time', completion: ', there was a girl.' }), { maxLength: 512 }),
  ];

  /** CPU: Σ over counted later queries of P[i][j], reduced over heads, mean over layers, / count; NaN
   *  before the first label token after position 0 (never scored, so never computed). */
  function cpuRi(tokens: number[], lossMask: boolean[], opts: ReasoningImportanceOptions): number[] {
    const { attention } = llamaReferenceForward(weights, tokens, { attention: true });
    const c = weights.config;
    const T = tokens.length;
    const layers = opts.layers === 'all' ? [...Array(c.nLayers).keys()] : opts.layers === 'last' ? [c.nLayers - 1] : opts.layers;
    const counted = (i: number) => opts.queries === 'all' || lossMask[i];
    const first = lossMask.findIndex((m, j) => m && j > 0);
    return tokens.map((_, j) => {
      if (first < 0 || j < first) return NaN;
      let later = 0;
      for (let i = j + 1; i < T; i++) if (counted(i)) later++;
      if (later === 0) return NaN;
      let total = 0;
      for (const l of layers) {
        const perHead = Array.from({ length: c.nHeads }, (_, h) => {
          let s = 0;
          for (let i = j + 1; i < T; i++) if (counted(i)) s += attention![l][(h * T + i) * T + j];
          return s;
        });
        total += opts.headReduction === 'max' ? Math.max(...perHead) : perHead.reduce((a, b) => a + b, 0) / c.nHeads;
      }
      return total / layers.length / later;
    });
  }

  const variants: ReasoningImportanceOptions[] = [
    XTF_DEFAULTS.ri,
    { ...XTF_DEFAULTS.ri, queries: 'output', headReduction: 'max' },
    { ...XTF_DEFAULTS.ri, layers: [0, 3] },
    { ...XTF_DEFAULTS.ri, layers: 'last' },
  ];
  for (const opts of variants) {
    it(`attention received matches the CPU reference (layers ${JSON.stringify(opts.layers)}, heads ${opts.headReduction}, queries ${opts.queries})`, async () => {
      const rt = await gpu();
      const model = LlamaModel.fromWeights(rt, weights);
      const scores = await forwardScores(model, examples, opts);
      examples.forEach((e, b) => {
        const expected = cpuRi(e.tokens, e.lossMask, opts);
        const got = Array.from(scores[b].ri);
        expect(got.map(Number.isNaN)).toEqual(expected.map(Number.isNaN));
        expectClose(got.map((x) => (Number.isNaN(x) ? 0 : x)), expected.map((x) => (Number.isNaN(x) ? 0 : x)), 1e-5, 1e-4, `example ${e.id} ri`);
      });
      model.release();
    });
  }

  it('target probabilities match reference.json', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, weights);
    const c = reference.cases[0];
    const ex = { id: 'ref', tokens: c.tokens, lossMask: c.tokens.map((_, i) => i >= 5), truncated: 0 };
    const [s] = await forwardScores(model, [ex, examples[1]], XTF_DEFAULTS.ri, false);
    // p only where the loss reads it (labels from position 5 on): the forward computes no other logits.
    expect(Array.from(s.p.subarray(0, 5), Number.isNaN)).toEqual([true, true, true, true, true]);
    expectClose(Array.from(s.p.subarray(5), Math.log), c.next_token_logprobs.slice(4), 1e-4, 0, 'log p');
    const all = { ...ex, lossMask: c.tokens.map(() => true) };
    const [full] = await forwardScores(model, [all], XTF_DEFAULTS.ri, false);
    expectClose(Array.from(full.p.subarray(1), Math.log), c.next_token_logprobs, 1e-4, 0, 'log p, every position');
    model.release();
  });
});
