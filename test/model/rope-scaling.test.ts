// RoPE inverse frequencies (src/model/rope-scaling.ts) against values worked by hand from the formulas,
// and the validation of scaling parameters.
import { describe, expect, it } from 'vitest';
import { ropeInverseFrequencies } from '../../src/model/rope-scaling.ts';
import { llamaConfig } from '../../src/model/config.ts';
import { ModelConfigError } from '../../src/model/errors.ts';
import { applyRope } from '../reference/llama.ts';

describe('RoPE inverse frequencies', () => {
  it('plain RoPE: theta^(-2i/headDim)', () => {
    // headDim 8, theta 10000: 10000^(-i/4) = 1, 0.1, 0.01, 0.001
    const f = ropeInverseFrequencies(8, 10000);
    [1, 0.1, 0.01, 0.001].forEach((v, i) => expect(f[i]).toBeCloseTo(v, 15));
  });

  it('linear: every frequency divided by the factor', () => {
    const f = ropeInverseFrequencies(8, 10000, { type: 'linear', factor: 4 });
    [0.25, 0.025, 0.0025, 0.00025].forEach((v, i) => expect(f[i]).toBeCloseTo(v, 15));
  });

  it('llama3: high frequencies kept, low ones divided by the factor, the band between smoothed', () => {
    // headDim 8, theta 10000: inv_freq 1, 0.1, 0.01, 0.001 -> wavelengths 2π·(1, 10, 100, 1000) = 6.28, 62.8, 628, 6283.
    // original context 2000, low_freq_factor 1, high_freq_factor 4: low-frequency wavelength 2000 / 1 = 2000,
    // high-frequency wavelength 2000 / 4 = 500. So pairs 0 and 1 (< 500) keep their frequency, pair 3 (> 2000)
    // is divided by the factor 8, and pair 2 (628, between) is smoothed with
    //   s = (2000 / 628.3 − 1) / (4 − 1) = (10/π − 1) / 3 = 0.72770,  f = (1 − s)·0.01/8 + s·0.01 = 0.0076174.
    const f = ropeInverseFrequencies(8, 10000, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 2000 });
    expect(f[0]).toBeCloseTo(1, 15);
    expect(f[1]).toBeCloseTo(0.1, 15);
    const s = (10 / Math.PI - 1) / 3;
    expect(s).toBeCloseTo(0.72770, 5);
    expect(f[2]).toBeCloseTo((1 - s) * 0.01 / 8 + s * 0.01, 15);
    expect(f[2]).toBeCloseTo(0.0076174, 7);
    expect(f[3]).toBeCloseTo(0.001 / 8, 15);
  });

  it('llama3 at the borders: a wavelength equal to either bound is smoothed, which meets the unscaled and divided values', () => {
    // inv_freq 0.1 has wavelength 20π; with original = 20π·4 (high-frequency bound 20π) s = 1: unchanged;
    // with original = 20π (low-frequency bound 20π) s = 0: divided by the factor. Continuous at both ends.
    const at = (original: number) => ropeInverseFrequencies(8, 10000, { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: original })[1];
    expect(at(80 * Math.PI)).toBeCloseTo(0.1, 12);
    expect(at(20 * Math.PI)).toBeCloseTo(0.1 / 8, 12);
  });

  it('the reference rotates by the scaled angles: linear scaling at position p is plain RoPE at p / factor', () => {
    const plain = ropeInverseFrequencies(16, 10000);
    const linear = ropeInverseFrequencies(16, 10000, { type: 'linear', factor: 4 });
    const x = Float64Array.from({ length: 32 }, (_, i) => Math.sin(i + 1));
    for (const layout of ['half', 'interleaved'] as const) {
      const a = x.slice(), b = x.slice();
      applyRope(a, 12, linear, layout);
      applyRope(b, 3, plain, layout);
      a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 12));
    }
  });

  it('a config refuses bad scaling parameters by field', () => {
    const sizes = { dim: 16, hiddenDim: 28, nLayers: 1, nHeads: 2, nKvHeads: 1, vocabSize: 10, maxSeqLen: 32 };
    expect(() => llamaConfig({ ...sizes, ropeScaling: { type: 'linear', factor: 0 } }, 'c.json')).toThrow(new ModelConfigError('ropeScaling', '.factor must be a positive number, got 0', 'c.json'));
    expect(() => llamaConfig({ ...sizes, ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 4, highFreqFactor: 1, originalMaxPositionEmbeddings: 8192 } }))
      .toThrow('ropeScaling .highFreqFactor (1) must be greater than lowFreqFactor (4)');
    expect(() => llamaConfig({ ...sizes, ropeScaling: { type: 'yarn', factor: 4 } as never })).toThrow("ropeScaling .type 'yarn' is not supported; supported: linear, llama3");
  });
});
