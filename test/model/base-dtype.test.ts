// A compact frozen base (src/model/base-dtype.ts, --base-dtype): host packing against values worked out here,
// the default storage per checkpoint, a tiny model with an f16 / q8 / q4 base against the f64 reference run on
// the dequantized weights (logits, and LoRA gradients by finite differences), the refusal of full fine-tuning,
// and the memory plan of Llama-3.2-1B by storage type.
import { describe, expect, it } from 'vitest';
import { baseDtypeOptions } from '../../src/cli/model-args.ts';
import { BaseDtypeError, baseDtypes, CompactBaseError, decodePacked, defaultBaseDtype, packWeight, parseBaseDtype, roundTripWeights, type BaseDtype } from '../../src/model/base-dtype.ts';
import { f16ToF32 } from '../../src/model/dtypes.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { hfConfigToLlama } from '../../src/model/hf-config.ts';
import { loadHfFolder } from '../../src/model/hf.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { LORA_DEFAULTS, LORA_TARGETS, type LoraConfig } from '../../src/model/lora.ts';
import { formatMemoryReport, memoryReport } from '../../src/model/memory.ts';
import { HfTokenizer } from '../../src/model/tokenizer-hf.ts';
import { expectClose } from '../helpers/compare.ts';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { llamaReferenceForward } from '../reference/llama.ts';
import { quantize } from './ggml-quantize.ts';
import { batchOf, checkAgainstFiniteDifferences, cpuLoss, gpuGradients, mergedLora } from './gradient-check.ts';
import { memoryFolder, qwenLikeTokenizer } from './hf-fixtures.ts';

const halvesOf = (words: Uint32Array) => Array.from(new Uint16Array(words.buffer));
const bytesOf = (words: Uint32Array) => Array.from(new Uint8Array(words.buffer));

describe('host packing', () => {
  it('f16: round to nearest even, subnormals, signed zero, infinity; a finite value beyond f16 is refused', () => {
    const x = new Float32Array([
      1 + 2 ** -11, // halfway between 1 and the next f16: to even, 1
      1 + 3 * 2 ** -11, // halfway between 1 + 2^-10 and 1 + 2^-9: to even, 1 + 2^-9
      2 ** -24, // the smallest subnormal
      2 ** -25, // half of it: to even, 0
      3 * 2 ** -25, // 1.5 of it: to even, 2 of it
      -0,
      65504, // the largest f16
      -Infinity,
    ]);
    // Rows padded to whole vec4s: 8 values, 4 words.
    const words = packWeight('f16', x, 1, 8);
    expect(halvesOf(words)).toEqual([0x3c00, 0x3c02, 0x0001, 0x0000, 0x0002, 0x8000, 0x7bff, 0xfc00]);
    expect(Array.from(decodePacked('f16', words, 1, 8))).toEqual([1, 1 + 2 ** -9, 2 ** -24, 0, 2 ** -23, -0, 65504, -Infinity]);
    // Three values in a row of whole vec4s: the fourth half is padding (zero).
    expect(halvesOf(packWeight('f16', new Float32Array([1, 2, 3]), 1, 3))).toEqual([0x3c00, 0x4000, 0x4200, 0]);
    expect(() => packWeight('f16', new Float32Array([1, 65520]), 1, 2, 'layers.0.w2')).toThrow(/layers\.0\.w2\[0, 1\] = 65520 is beyond f16's range/);
  });

  it('q8: d = max|x| / 127 as f16, q = round(x / d) half away from zero; the padded rest of a block is zero', () => {
    // max|x| = 1.27: d = 0.01, f16 0x211f (0.0100021362...). q = 127, -50, 12 (12.3), 0 (-0.4), 1 (0.6).
    const x = new Float32Array([1.27, -0.5, 0.123, -0.004, 0.006]);
    const words = packWeight('q8', x, 1, 5);
    expect(words.length).toBe(8 + 1); // one block of 8 words, one word of scales
    expect(bytesOf(words).slice(0, 6)).toEqual([127, 256 - 50, 12, 0, 1, 0]);
    expect(bytesOf(words).slice(6, 32).every((b) => b === 0)).toBe(true);
    expect(halvesOf(words).slice(16)).toEqual([0x211f, 0]);
    const d = f16ToF32(0x211f);
    expect(Array.from(decodePacked('q8', words, 1, 5))).toEqual([127, -50, 12, 0, 1].map((q) => Math.fround(q * d)));
  });

  it('q4: d = (the value of largest magnitude) / -8 as f16, q = min(15, trunc(x / d + 8.5)), value j and j + 16 in one byte', () => {
    // The largest magnitude is -1.6: d = 0.2 (f16 0x3266 = 0.19995...), 1/d = 5.
    // q = trunc(5x + 8.5): -1.6 -> 0, 0.8 -> 12, 0.35 -> 10, -0.25 -> 7, 1.59 -> 16 clamped to 15; zeros -> 8; x[16] = 0.6 -> 11.
    const x = new Float32Array(32);
    x.set([-1.6, 0.8, 0.35, -0.25, 1.59]);
    x[16] = 0.6;
    const words = packWeight('q4', x, 1, 32);
    expect(words.length).toBe(4 + 1);
    expect(bytesOf(words).slice(0, 16)).toEqual([0 | (11 << 4), 12 | (8 << 4), 10 | (8 << 4), 7 | (8 << 4), 15 | (8 << 4), ...Array(11).fill(8 | (8 << 4))]);
    expect(halvesOf(words)[8]).toBe(0x3266);
    const d = f16ToF32(0x3266);
    const q = [0, 12, 10, 7, 15, ...Array(11).fill(8), 11, ...Array(15).fill(8)];
    expect(Array.from(decodePacked('q4', words, 1, 32))).toEqual(q.map((v) => Math.fround((v - 8) * d)));
  });

  it('q8 and q4 stay within half a step (q8) or a step (q4, where 15 clamps) of the input, row by row with padded blocks', () => {
    const [rows, cols] = [5, 70];
    const x = randn(rows * cols, 3);
    for (const format of ['q8', 'q4'] as const) {
      const back = decodePacked(format, packWeight(format, x, rows, cols), rows, cols);
      for (let i = 0; i < x.length; i++) {
        const r = Math.floor(i / cols), b = Math.floor((i % cols) / 32);
        const block = x.subarray(r * cols + 32 * b, Math.min(r * cols + 32 * b + 32, (r + 1) * cols));
        const amax = Math.max(...block.map(Math.abs));
        // Half a step, plus the f16 rounding of d times |q| <= 127 (q8); a whole step where 15 clamps (q4).
        const bound = format === 'q8' ? (amax / 127) * (0.5 + 127 * 2 ** -11) : (amax / 8) * (1 + 8 * 2 ** -11);
        if (Math.abs(back[i] - x[i]) > bound) expect.fail(`${format} value ${i}: ${x[i]} -> ${back[i]}, bound ${bound}`);
      }
    }
  });
});

describe('the default storage of each checkpoint (auto)', () => {
  const w = randn(4 * 64, 7, 0.3);
  const bf16 = new Float32Array(new Uint32Array(w.buffer.slice(0)).map((b) => b & 0xffff0000).buffer);
  const f16 = w.map((v) => f16ToF32(packHalf(v)));

  it('llama2.c: f32; Hugging Face: f16 for F16 / BF16 values within range, else f32; GGUF: Q4_0 / Q8_0 kept, the rest f16', () => {
    expect(defaultBaseDtype('llama2c', bf16, [4, 64])).toBe('f32');
    expect(defaultBaseDtype('hf', bf16, [4, 64])).toBe('f16');
    expect(defaultBaseDtype('hf', f16, [4, 64])).toBe('f16');
    expect(defaultBaseDtype('hf', w, [4, 64])).toBe('f32');
    const big = bf16.slice();
    big[5] = 131072; // a bf16 value past f16's range
    expect(defaultBaseDtype('hf', big, [4, 64])).toBe('f32');
    // GGUF tensors as the loader hands them over: the blocks' values decoded to f32 (by the tests' own quantizer).
    expect(defaultBaseDtype('gguf', quantize('Q4_0', w).values, [4, 64])).toBe('q4');
    expect(defaultBaseDtype('gguf', quantize('Q8_0', w).values, [4, 64])).toBe('q8');
    for (const other of ['Q4_K', 'Q6_K'] as const) expect(defaultBaseDtype('gguf', quantize(other, randn(256, 8)).values, [1, 256]), other).toBe('f16');
    expect(defaultBaseDtype('gguf', w, [4, 64])).toBe('f16');
  });

  it('an F16 and a BF16 Hugging Face folder load as f16 (2-D weights only); an F32 one as f32', async () => {
    const config = tinyConfig({ vocabSize: 300, dim: 32, nHeads: 2, nKvHeads: 1 });
    const tok = qwenLikeTokenizer();
    for (const [dtype, want] of [['F16', 'f16'], ['BF16', 'f16'], ['F32', 'f32']] as const) {
      const files = hfFolderFiles(randomWeights(config, 3), new HfTokenizer(tok.tokenizerJson, tok.tokenizerConfig), { dtype });
      const loaded = await loadHfFolder(memoryFolder(files), dtype);
      const dtypes = baseDtypes(loaded.weights, 'auto', 'hf');
      expect(Object.keys(dtypes)).not.toContain('layers.0.attnNorm');
      expect(new Set(Object.values(dtypes)), dtype).toEqual(new Set([want]));
    }
  });

  it('refuses an unknown --base-dtype, and auto without the checkpoint format', () => {
    expect(parseBaseDtype('q4')).toBe('q4');
    expect(() => parseBaseDtype('int8')).toThrow(new BaseDtypeError('--base-dtype', "'int8' is not a base dtype; use one of auto, f32, f16, q8, q4"));
    expect(() => baseDtypes(randomWeights(tinyConfig()), 'auto')).toThrow(BaseDtypeError);
  });
});

/** f32 -> f16 bits through the packer (one value). */
function packHalf(v: number): number {
  return new Uint16Array(packWeight('f16', new Float32Array([v]), 1, 1).buffer)[0];
}

const seq = [1, 5, 9, 2, 30, 7, 7, 11, 3, 36];
const tokenWeights = [0, 0, 1, 1, 0, 1, 1, 1, 1];

describe('a tiny model with a compact base against the f64 reference on its dequantized weights', () => {
  // dim 16 and hidden 28: every row is a partial 32-value block (padded), and 28 is no multiple of 8 either.
  for (const [format, tied] of [['f16', true], ['q8', false], ['q4', true]] as const) {
    const config = tinyConfig({ tiedEmbeddings: tied });
    const weights = randomWeights(config, 21);

    it(`${format}${tied ? '' : ' (untied classifier)'}: logits, and LoRA gradients (all seven targets) by finite differences`, async () => {
      const rt = await gpu();
      const model = LlamaModel.fromWeights(rt, weights, { baseDtype: format });
      const dtypes = model.baseDtypes();
      expect(new Set(Object.values(dtypes))).toEqual(new Set([format]));
      expect(Object.keys(dtypes)).toContain(tied ? 'tokEmbedding' : 'classifier');
      // The reference runs on exactly the weights the GPU computes with (the GPU's unpack is the host decode).
      const base = roundTripWeights(weights, dtypes);
      for (const name of ['layers.1.w2', 'tokEmbedding']) {
        const t = model.unpackedWeight(name);
        expect(Array.from((await t.read()) as Float32Array), name).toEqual(Array.from(base.tensors[name]));
        t.release();
      }
      expect(base.tensors['layers.0.wq']).not.toEqual(weights.tensors['layers.0.wq']);

      const { ids, T } = batchOf(rt, [seq]);
      const fwd = model.forward(ids);
      const logits = (await fwd.logits.read()) as Float32Array;
      model.releaseForward(fwd);
      ids.release();
      expectClose(logits.subarray(0, T * config.vocabSize), llamaReferenceForward(base, seq).logits.flatMap((r) => Array.from(r)), 2e-4, 1e-4, 'logits');

      const lora: LoraConfig = { rank: 3, alpha: 6, dropout: 0, targets: [...LORA_TARGETS] };
      model.addLora(lora, 4);
      const adapterHost: Record<string, Float32Array> = {};
      let seed = 100;
      for (const [name, t] of Object.entries(model.adapters)) {
        if (name.endsWith('lora_B')) rt.write(t, randn(t.size, seed++, 0.3)); // B = 0 would leave dA = 0
        adapterHost[name] = (await t.read()) as Float32Array;
      }
      const grads = await gpuGradients(model, seq, tokenWeights, 'lora');
      const perturb = (name: string, i: number, d: number) => {
        const t = Float32Array.from(adapterHost[name]);
        t[i] += d;
        return mergedLora(base, lora, { ...adapterHost, [name]: t });
      };
      expect(checkAgainstFiniteDifferences(grads, perturb, (w) => cpuLoss(w, seq, tokenWeights), 2)).toBe(2 * 2 * 7 * 2);
      model.release();
    });
  }

  it('refuses full fine-tuning, f32 reads of a compact weight, and --full with a compact --base-dtype, each with a typed error', async () => {
    const rt = await gpu();
    const model = LlamaModel.fromWeights(rt, randomWeights(tinyConfig(), 2), { baseDtype: 'q4' });
    expect(() => model.trainable('full')).toThrow(CompactBaseError);
    expect(() => model.trainable('full')).toThrow(/full fine-tuning updates the base weights in f32; load the model with --base-dtype f32/);
    expect(() => model.params['layers.0.wq']).toThrow(/layers\.0\.wq is stored as q4 \(--base-dtype q4\): this path needs the f32 weight/);
    expect(() => model.classifier()).toThrow(CompactBaseError);
    expect(model.params['layers.0.attnNorm'].dtype).toBe('f32'); // norms stay f32
    model.release();
    expect(() => memoryReport(tinyConfig(), { batch: 1, seqLen: 8, mode: 'full' }, null, 'f16')).toThrow(CompactBaseError);
    expect(() => baseDtypeOptions({ full: true, 'base-dtype': 'q8' }, 'hf')).toThrow(/--full trains every base weight in f32/);
    expect(baseDtypeOptions({ full: true, 'base-dtype': 'auto' }, 'hf')).toEqual({ baseDtype: 'f32' });
    expect(baseDtypeOptions({ 'base-dtype': 'auto' }, 'gguf')).toEqual({ baseDtype: 'auto', sourceFormat: 'gguf' });
  });
});

describe('the memory plan by storage type', () => {
  // Llama-3.2-1B's config.json (tied embeddings); one LoRA step at seq 256, batch 1, rank 8 on all seven targets.
  const llama32 = hfConfigToLlama({
    architectures: ['LlamaForCausalLM'], hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32,
    num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5, rope_theta: 500000,
    rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    tie_word_embeddings: true, attention_bias: false, mlp_bias: false,
  });
  const plan = { batch: 1, seqLen: 256, mode: 'lora' as const };
  const GiB = 2 ** 30;
  const peak = (d: BaseDtype) => memoryReport(llama32, plan, LORA_DEFAULTS, d).peakBytes;
  const label = (['f32', 'f16', 'q8', 'q4'] as const).map((d) => `${d} ${(peak(d) / GiB).toFixed(2)} GiB`).join(', ');

  it(`Llama-3.2-1B, LoRA r 8 at seq 256: ${label}; f16 within 3.5 GiB, q4 within 1.5 GiB`, () => {
    expect(peak('f16')).toBeLessThanOrEqual(3.5 * GiB);
    expect(peak('q4')).toBeLessThanOrEqual(1.5 * GiB);
    const f32 = memoryReport(llama32, plan, LORA_DEFAULTS, 'f32');
    const q4 = memoryReport(llama32, plan, LORA_DEFAULTS, 'q4');
    // 1,235,814,400 parameters; the 2-D ones 1,235,814,400 - 33 norms of 2048 = 1,235,746,816 at 18 bytes per
    // 32 values (every row here is whole blocks), the norms in f32.
    expect(f32.weightsBytes).toBe(4 * 1_235_814_400);
    expect(q4.weightsByDtype).toEqual({ f32: 4 * 33 * 2048, q4: (1_235_746_816 / 32) * 18 });
    expect(memoryReport(llama32, plan, LORA_DEFAULTS, 'f16').weightsByDtype.f16).toBe(2 * 1_235_746_816);
    // Only the weights (and the pool's rounding of their buffers) change with the storage type.
    expect(f32.peakBytes - q4.peakBytes).toBe(f32.weightsBytes + f32.roundingBytes - q4.weightsBytes - q4.roundingBytes);
    expect(formatMemoryReport(q4, plan)).toMatch(/weights \(q4 662\.9 MiB, f32 264\.0 KiB\)/);
  });
});
