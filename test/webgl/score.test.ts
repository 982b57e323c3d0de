// `xtf score` on the gpu.js backend against the WebGPU path: stories260K on a GSM8K sample, under the
// released rules (the default: TR from final hidden states, the task's domain words) and the paper's
// (TR from the input embeddings, Tukey fences). p must agree within 1e-3 and every loss mask must be
// the same. gpu.js runs in 'cpu' mode here (Node has no WebGL); demo-fallback.mjs repeats the
// comparison on WebGL2 in Chromium.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backendOf, chooseBackend, loadOnBackend, trainingRefusal } from '../../src/backend.ts';
import { exampleRecord, type TrainRecord } from '../../src/data/records.ts';
import { gsm8kExample } from '../../src/data/tasks.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { GpuJsLlama } from '../../src/webgl/llama.ts';
import { xtfOptions } from '../../src/xtf/options.ts';
import { scoreExamples, type ScoreResult } from '../../src/xtf/score.ts';
import { scoringModel } from '../../src/xtf/scoring-model.ts';
import { gpu } from '../helpers/gpu.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';

const GSM8K = new URL('../../../shared/data/gsm8k/train.jsonl', import.meta.url);
const N = 12;
const records: TrainRecord[] = readFileSync(GSM8K, 'utf8').split('\n').slice(0, N)
  .map((line, i) => exampleRecord(gsm8kExample({ line: i + 1, value: JSON.parse(line) }, 'train.jsonl', i)));

/** Largest |a − b| over the scores both give (nulls must sit at the same places). */
function maxDiff(a: ScoreResult, b: ScoreResult, field: 'p' | 'ri' | 'tr'): number {
  let worst = 0;
  a.scored.forEach((ex, e) => {
    const other = b.scored[e][field];
    ex[field].forEach((v, j) => {
      expect(v === null, `${field} of ${ex.id} at ${j}: null on one backend only`).toBe(other[j] === null);
      if (v !== null) worst = Math.max(worst, Math.abs(v - other[j]!));
    });
  });
  return worst;
}

describe('XTF scoring on gpu.js (cpu mode) matches the WebGPU path (stories260K, GSM8K sample)', () => {
  const weights = loadModel();
  const tok = loadTokenizer();
  const both = async (options: Parameters<typeof scoreExamples>[3]) => {
    const webgpu = LlamaModel.fromWeights(await gpu(), weights);
    const gpujs = await GpuJsLlama.fromWeights(weights, { mode: 'cpu' });
    try {
      return [await scoreExamples(webgpu, tok, records, options), await scoreExamples(gpujs, tok, records, options)];
    } finally {
      webgpu.release();
      gpujs.release();
    }
  };

  for (const rules of ['released', 'paper'] as const) {
    it(`${rules} rules: p within 1e-3, RI and TR close, the same masks`, async () => {
      const [webgpu, gpujs] = await both({ xtf: xtfOptions({ rules }), task: 'gsm8k' });
      // docs/backends.md quotes these (Node: Dawn's WebGPU, gpu.js as JavaScript).
      console.log(`${rules} rules: max |Δp| ${maxDiff(webgpu, gpujs, 'p').toExponential(2)}; WebGPU ${Math.round(webgpu.summary.tokensPerSecond)} tokens/s, gpu.js (cpu) ${Math.round(gpujs.summary.tokensPerSecond)} tokens/s`);
      expect(gpujs.scored.map((e) => e.id)).toEqual(webgpu.scored.map((e) => e.id));
      expect(maxDiff(webgpu, gpujs, 'p')).toBeLessThan(1e-3);
      expect(maxDiff(webgpu, gpujs, 'ri')).toBeLessThan(1e-4);
      expect(maxDiff(webgpu, gpujs, 'tr')).toBeLessThan(1e-4);
      const masked = webgpu.scored.reduce((n, ex) => n + ex.label.filter((l, j) => l && ex.lossMask[j] === 0).length, 0);
      expect(masked).toBeGreaterThan(0); // a selection to compare, not an empty one
      gpujs.scored.forEach((ex, e) => {
        expect(ex.lossMask, ex.id).toEqual(webgpu.scored[e].lossMask);
        expect(ex.flags, ex.id).toEqual(webgpu.scored[e].flags);
      });
      expect(gpujs.summary.fractionMasked).toBe(webgpu.summary.fractionMasked);
    });
  }
});

describe('choosing the backend', () => {
  it('takes WebGPU when a device is granted, gpu.js when asked (cpu in Node, which has no WebGL)', async () => {
    const webgpu = await chooseBackend();
    expect(webgpu.kind).toBe('webgpu');
    webgpu.rt?.destroy();
    const gpujs = await chooseBackend({ skipWebGpu: 'this test asks for gpu.js' });
    expect(gpujs).toMatchObject({ kind: 'cpu', rt: null, why: 'this test asks for gpu.js' });
    const model = await loadOnBackend(gpujs, loadModel());
    expect(backendOf(model)).toBe('cpu');
    expect(scoringModel(model).backend).toBe('cpu');
    expect(trainingRefusal(backendOf(model))).toMatch(/Training needs WebGPU/);
    expect(trainingRefusal('webgpu')).toBeNull();
  });
});
