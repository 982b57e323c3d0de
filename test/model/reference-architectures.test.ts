// The f64 reference's architecture options, each shown by a property that can be worked out by hand:
// an explicit head_dim, Qwen3's per-head q/k RMSNorm, a sliding window, scaled RoPE through the KV cache.
import { describe, expect, it } from 'vitest';
import { headDim, type LlamaConfig } from '../../src/model/config.ts';
import type { LlamaWeights } from '../../src/model/weights.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { emptyKvCache, llamaReferenceForward, rmsNormPerHead } from '../reference/llama.ts';

const tokens = [3, 17, 8, 30, 1, 22, 5, 36, 11, 2];

function maxDiff(a: Float64Array[], b: Float64Array[]): number {
  let m = 0;
  a.forEach((row, t) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[t][j])))));
  return m;
}

function withTensors(model: LlamaWeights, config: LlamaConfig, edit: Record<string, Float32Array>): LlamaWeights {
  return { config, tensors: { ...model.tensors, ...edit }, shapes: model.shapes };
}

describe('f64 reference: architecture options', () => {
  it('explicit head_dim: heads of 32 with most pairs unused compute what heads of 8 compute', () => {
    // A: 4 heads of 8 (dim 32). B: 4 heads of 32 (head_dim explicit: q is 128 wide), the same theta. In the
    // rotate-half layout A's pair i (features i, i+4) turns by theta^(-2i/8) = theta^(-2·(4i)/32), the angle
    // of B's pair 4i (features 4i, 4i+16). So A's q/k row (h, j) goes to B's row (h, 4·(j mod 4) + 16·[j >= 4]),
    // B's other pairs stay zero, q doubles (B divides scores by √32 = 2·√8), v row j goes to row j of B's
    // head and wo's columns follow v. Every logit must agree (scaling by 2 is exact in f32).
    const a = tinyConfig({ dim: 32, nHeads: 4, nKvHeads: 2, ropeLayout: 'half', ropeTheta: 100, attentionBias: true });
    const b = tinyConfig({ dim: 32, nHeads: 4, nKvHeads: 2, ropeLayout: 'half', ropeTheta: 100, attentionBias: true, headDim: 32 });
    expect([headDim(a), headDim(b)]).toEqual([8, 32]);
    const model = randomWeights(a, 3);
    const qkRow = (j: number) => 4 * (j % 4) + (j >= 4 ? 16 : 0);
    const widen = (w: Float32Array, heads: number, cols: number, row: (j: number) => number, scale = 1) => {
      const out = new Float32Array(heads * 32 * cols);
      for (let h = 0; h < heads; h++) for (let j = 0; j < 8; j++) {
        for (let c = 0; c < cols; c++) out[(h * 32 + row(j)) * cols + c] = scale * w[(h * 8 + j) * cols + c];
      }
      return out;
    };
    const edit: Record<string, Float32Array> = {};
    for (let l = 0; l < a.nLayers; l++) {
      const p = `layers.${l}.`, t = model.tensors;
      edit[p + 'wq'] = widen(t[p + 'wq'], 4, 32, qkRow, 2);
      edit[p + 'bq'] = widen(t[p + 'bq'], 4, 1, qkRow, 2);
      edit[p + 'wk'] = widen(t[p + 'wk'], 2, 32, qkRow);
      edit[p + 'bk'] = widen(t[p + 'bk'], 2, 1, qkRow);
      edit[p + 'wv'] = widen(t[p + 'wv'], 2, 32, (j) => j);
      edit[p + 'bv'] = widen(t[p + 'bv'], 2, 1, (j) => j);
      const wo = new Float32Array(32 * 128); // [dim, nHeads·32]: column h·32 + j <- A's column h·8 + j
      for (let r = 0; r < 32; r++) for (let h = 0; h < 4; h++) for (let j = 0; j < 8; j++) wo[r * 128 + h * 32 + j] = t[p + 'wo'][r * 32 + h * 8 + j];
      edit[p + 'wo'] = wo;
    }
    const wide = withTensors(model, b, edit);
    const diff = maxDiff(llamaReferenceForward(wide, tokens).logits, llamaReferenceForward(model, tokens).logits);
    expect(diff).toBeLessThan(1e-10);
  });

  it('per-head RMSNorm normalises each head on its own', () => {
    const v = Float64Array.from([3, 4, 0, 0, 1, 1, 1, 1]);
    rmsNormPerHead(v, Float32Array.from([1, 1, 1, 1]), 0);
    // Head 0: rms = sqrt((9 + 16) / 4) = 2.5 -> 3/2.5, 4/2.5; head 1 has rms 1.
    [1.2, 1.6, 0, 0, 1, 1, 1, 1].forEach((x, i) => expect(v[i]).toBeCloseTo(x, 15));
    const w = Float64Array.from([2, 2, 2, 2]);
    rmsNormPerHead(w, Float32Array.from([1, 0.5]), 0);
    expect(Array.from(w)).toEqual([1, 0.5, 1, 0.5]);
  });

  it('Qwen3 q/k norms: scaling one head of wq or wk changes nothing, where it changes a model without them', () => {
    for (const qkNorm of [true, false]) {
      const config = tinyConfig({ nKvHeads: 2, ropeLayout: 'half', normEps: 1e-9, headDim: 8, qkNorm });
      const model = randomWeights(config, 5);
      const scaleRows = (w: Float32Array, from: number, to: number, by: number) => w.map((v, i) => (i >= from * 16 && i < to * 16 ? v * by : v));
      const scaled = withTensors(model, config, {
        // Powers of two, so the scaled f32 weights are exact.
        'layers.0.wq': scaleRows(model.tensors['layers.0.wq'], 8, 16, 4), // query head 1 of layer 0
        'layers.1.wk': scaleRows(model.tensors['layers.1.wk'], 0, 8, 0.25), // key head 0 of layer 1
      });
      const diff = maxDiff(llamaReferenceForward(scaled, tokens).logits, llamaReferenceForward(model, tokens).logits);
      if (qkNorm) expect(diff).toBeLessThan(1e-7); // only eps (1e-9) tells the scaled heads apart
      else expect(diff).toBeGreaterThan(1e-2);
    }
  });

  it('a sliding window: position t sees the last `window` positions, as a fresh run over them sees them', () => {
    // One layer, so a position's hidden state depends only on the keys its attention sees; RoPE depends only
    // on distances, so attending over tokens[t−3 .. t] at positions t−3 .. t equals attending over them at 0 .. 3.
    const config = tinyConfig({ nLayers: 1, ropeLayout: 'half', slidingWindow: 4 });
    const windowed = randomWeights(config, 9);
    const full = { ...windowed, config: { ...config, slidingWindow: undefined } };
    const out = llamaReferenceForward(windowed, tokens, { attention: true });
    for (let t = 3; t < tokens.length; t++) {
      const alone = llamaReferenceForward(full, tokens.slice(t - 3, t + 1)).logits[3];
      alone.forEach((v, j) => expect(Math.abs(v - out.logits[t][j])).toBeLessThan(1e-12));
    }
    const T = tokens.length, probs = out.attention![0];
    for (let h = 0; h < config.nHeads; h++) {
      const row = probs.subarray((h * T + 9) * T, (h * T + 10) * T); // position 9 attends to 6 .. 9 only
      expect(row.slice(0, 6).every((p) => p === 0)).toBe(true);
      expect(row.slice(6).reduce((x, y) => x + y, 0)).toBeCloseTo(1, 12);
    }
    // Within the window it changes nothing.
    expect(maxDiff(llamaReferenceForward(windowed, tokens.slice(0, 4)).logits, llamaReferenceForward(full, tokens.slice(0, 4)).logits)).toBe(0);
    expect(maxDiff(out.logits, llamaReferenceForward(full, tokens).logits)).toBeGreaterThan(1e-3);
  });

  it('explicit head_dim, q/k norms and llama3 RoPE give the same logits with a KV cache as by full recompute', () => {
    const config = tinyConfig({ dim: 32, nHeads: 4, nKvHeads: 2, headDim: 16, qkNorm: true, ropeLayout: 'half', ropeTheta: 100,
      ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } });
    const model = randomWeights(config, 13);
    const full = llamaReferenceForward(model, tokens).logits;
    const cache = emptyKvCache(config);
    llamaReferenceForward(model, tokens.slice(0, 6), { cache });
    const rest = llamaReferenceForward(model, tokens, { cache }).logits;
    expect(maxDiff(rest, full.slice(6))).toBeLessThan(1e-12);
    // The scaling matters at these positions: without it the logits differ.
    const plain = { ...model, config: { ...config, ropeScaling: undefined } };
    expect(maxDiff(llamaReferenceForward(plain, tokens).logits, full)).toBeGreaterThan(1e-3);
  });
});
