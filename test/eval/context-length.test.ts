// A model with a sliding window shorter than max_position_embeddings (Mistral-7B-v0.1: 4096 of 32768) runs
// sequences up to the window only, so the data paths cut examples at contextLength (the window) instead of at
// maxSeqLen, where the forward pass would refuse them. stories260K (context 512) stands in with a window of 40.
import { describe, expect, it } from 'vitest';
import { exampleRecord } from '../../src/data/records.ts';
import { readRecordsFile } from '../../src/data/files-fs.ts';
import { taskExamples } from '../../src/data/tasks.ts';
import { evaluateHeldOutLoss, evaluateTask } from '../../src/eval/metrics.ts';
import { contextLength, llamaConfig } from '../../src/model/config.ts';
import { newKvCache, releaseKvCache } from '../../src/model/kv-cache.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { gpu } from '../helpers/gpu.ts';
import { loadModel, loadTokenizer } from '../model/stories260k.ts';

const DATA = new URL('../../../shared/data/', import.meta.url).pathname;
const WINDOW = 40;

function windowed() {
  const weights = loadModel();
  return { ...weights, config: llamaConfig({ ...weights.config, slidingWindow: WINDOW }) };
}

describe('data is cut at the context length, sliding window included', () => {
  const examples = taskExamples('gsm8k', readRecordsFile(`${DATA}gsm8k/test.jsonl`).slice(0, 3), 'test.jsonl');

  it('contextLength is the window when it is shorter than maxSeqLen', () => {
    const c = windowed().config;
    expect(c.maxSeqLen).toBe(512);
    expect(contextLength(c)).toBe(WINDOW);
  });

  it('held-out loss cuts examples at the window, as an explicit maxLength of the window does without it', async () => {
    const rt = await gpu();
    const plain = LlamaModel.fromWeights(rt, loadModel());
    const model = LlamaModel.fromWeights(rt, windowed());
    try {
      const records = examples.map(exampleRecord);
      // Every example is longer than the window: before the cut it would reach the forward pass and be refused.
      expect(examples.every((e) => loadTokenizer().encode(`${e.prompt}${e.completion}`).length > WINDOW)).toBe(true);
      const cut = await evaluateHeldOutLoss(model, loadTokenizer(), records, { batchSize: 2 });
      expect(cut.truncatedExamples).toBe(3);
      const same = await evaluateHeldOutLoss(plain, loadTokenizer(), records, { batchSize: 2, maxLength: WINDOW });
      expect(cut.tokens).toBe(same.tokens);
      expect(cut.loss).toBeCloseTo(same.loss, 5);
      // A longer maxLength asked for is still held to the window.
      const asked = await evaluateHeldOutLoss(model, loadTokenizer(), records, { batchSize: 2, maxLength: 200 });
      expect(asked.tokens).toBe(same.tokens);
    } finally {
      plain.release();
      model.release();
    }
  });

  it('task evaluation bounds maxNewTokens by the window; a KV cache defaults to the window', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, windowed());
    try {
      await expect(evaluateTask(model, loadTokenizer(), examples, { task: 'gsm8k', maxNewTokens: WINDOW })).rejects.toThrow(`1..${WINDOW - 1}`);
      const r = await evaluateTask(model, loadTokenizer(), examples, { task: 'gsm8k', maxNewTokens: 8, limit: 1 });
      expect(r.perExample[0].generatedTokens).toBeGreaterThan(0);
      const cache = newKvCache(model);
      try {
        expect(cache.keys[0].shape[1]).toBe(WINDOW);
      } finally {
        releaseKvCache(cache);
      }
    } finally {
      model.release();
    }
  });
});
