// GGML block decoding (src/model/gguf-quants.ts) against the tests' own reference quantizer (ggml-quantize.ts),
// which computes each block's values from the integer fields it chose, not from the bytes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GGMLQuantizationType } from '@huggingface/gguf';
import { GGML_TYPES, SUPPORTED_GGML_TYPE_NAMES, kScaleMin } from '../../src/model/gguf-quants.ts';
import { f32ToF16 } from '../../src/model/dtypes.ts';
import { randn, rng } from '../helpers/random.ts';
import { type KBlock, type Q6KBlock, type QuantType, BLOCK_VALUES, firstDifference, kBlockValues, packKBlock, packQ6KBlock, q6KBlockValues, quantize } from './ggml-quantize.ts';

const typeNamed = (name: string) => [...GGML_TYPES.values()].find((t) => t.name === name)!;
const decode = (type: QuantType, bytes: Uint8Array, count: number) => typeNamed(type).decode(bytes, count);

/**
 * `rows` rows of `rowLength` values whose blocks are awkward on purpose: random blocks of scales from 1e-3 to
 * 30, an all-zero block, an all-negative and an all-positive block, a block with one non-zero value, and
 * (for 256-value blocks) 32-value sub-blocks of very different ranges within one block, one of them zero.
 */
function awkwardRows(rows: number, rowLength: number, block: number, seed: number): Float32Array {
  const x = randn(rows * rowLength, seed);
  const r = rng(seed + 1000);
  const blocks = x.length / block;
  for (let b = 0; b < blocks; b++) {
    const v = x.subarray(b * block, (b + 1) * block);
    const kind = b % 6;
    if (kind === 0) v.fill(0);
    else if (kind === 1) v.forEach((e, i) => (v[i] = -Math.abs(e) - 0.25));
    else if (kind === 2) v.forEach((e, i) => (v[i] = Math.abs(e) + 2));
    else if (kind === 3) {
      const at = Math.floor(r() * block), value = v[at] * 5;
      v.fill(0);
      v[at] = value;
    } else if (kind === 4 && block === 256) {
      for (let s = 0; s < 8; s++) {
        const sub = v.subarray(32 * s, 32 * s + 32), scale = s === 5 ? 0 : 10 ** (-2 + 3 * r());
        sub.forEach((e, i) => (sub[i] = e * scale));
      }
    } else {
      const scale = 10 ** (-3 + 4.5 * r());
      v.forEach((e, i) => (v[i] = e * scale));
    }
  }
  return x;
}

/** ggml's own quantization and dequantization of 1,024 awkward values (written by fixtures/ggml-blocks.c). */
function ggmlFixture(): { input: Float32Array; types: { id: number; bytes: Uint8Array; values: Float32Array }[] } {
  const file = readFileSync(new URL('./fixtures/ggml-blocks.bin', import.meta.url));
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const n = 1024;
  const f32s = (at: number) => new Float32Array(file.buffer.slice(file.byteOffset + at, file.byteOffset + at + 4 * n));
  const input = f32s(0);
  const types = [];
  for (let at = 4 * n; at < file.length;) {
    const id = view.getUint32(at, true), size = view.getUint32(at + 4, true);
    types.push({ id, bytes: file.subarray(at + 8, at + 8 + size), values: f32s(at + 8 + size) });
    at += 8 + size + 4 * n;
  }
  return { input, types };
}

describe('GGML block decoding', () => {
  it('reproduces ggml\'s own dequantisation of its own quantizer\'s blocks, bit for bit', () => {
    const { input, types } = ggmlFixture();
    expect(types.map((t) => GGML_TYPES.get(t.id)?.name)).toEqual(['Q4_0', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_0']);
    for (const t of types) {
      const type = GGML_TYPES.get(t.id)!;
      expect(t.bytes.length, type.name).toBe((input.length / type.blockValues) * type.blockBytes);
      const got = type.decode(t.bytes, input.length);
      expect(firstDifference(new Uint32Array(got.buffer, got.byteOffset, got.length), new Uint32Array(t.values.buffer)), type.name).toBeUndefined();
      // And near the input (ggml's quantizers search for scales, so only loosely): within one step of the
      // range ±max|x| of the value's 256-value group cut into 2^bits levels (measured: at most half that).
      const bits = { Q4_0: 4, Q4_K: 4, Q5_K: 5, Q6_K: 6, Q8_0: 8 }[type.name]!;
      input.forEach((v, i) => {
        const group = input.subarray(i - (i % 256), i - (i % 256) + 256);
        const step = (2 * Math.max(...group.map(Math.abs))) / 2 ** bits;
        if (Math.abs(got[i] - v) > step) expect.fail(`${type.name} value ${i}: ${v} decoded as ${got[i]}, more than ${step} away`);
      });
    }
  });

  it('maps GGML type ids to the types the GGUF library names, and lists them for refusals', () => {
    for (const [id, type] of GGML_TYPES) expect((GGMLQuantizationType as unknown as Record<number, string>)[id], type.name).toBe(type.name);
    expect(SUPPORTED_GGML_TYPE_NAMES).toBe('Q4_0, Q4_K, Q5_K, Q6_K, Q8_0, F16, BF16, F32');
    expect(Object.fromEntries([...GGML_TYPES.values()].map((t) => [t.name, [t.blockValues, t.blockBytes]])))
      .toMatchObject({ Q4_0: [32, 18], Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210], Q8_0: [32, 34] });
  });

  const shapes: Record<QuantType, [rows: number, rowLength: number][]> = {
    Q8_0: [[7, 96]],
    Q4_0: [[7, 96], [3, 32]],
    Q4_K: [[5, 256], [3, 512]],
    Q5_K: [[5, 256], [3, 512]],
    Q6_K: [[5, 256], [3, 512]],
  };
  for (const type of Object.keys(shapes) as QuantType[]) {
    for (const [rows, rowLength] of shapes[type]) {
      it(`${type} [${rows}, ${rowLength}]: decodes to the reference quantizer's values, within the format's error of the originals`, () => {
        const x = awkwardRows(rows, rowLength, BLOCK_VALUES[type], rows * rowLength + type.length);
        const q = quantize(type, x);
        const got = decode(type, q.bytes, x.length);
        expect(firstDifference(got, q.values)).toBeUndefined();
        const worst = x.reduce((w, v, i) => (Math.abs(got[i] - v) - q.bound[i] > w.excess ? { excess: Math.abs(got[i] - v) - q.bound[i], i } : w), { excess: -Infinity, i: -1 });
        expect(worst.excess, `value ${worst.i}: ${x[worst.i]} decoded as ${got[worst.i]}, bound ${q.bound[worst.i]}`).toBeLessThanOrEqual(0);
        // The zero block (the first of every six) decodes to zeros, and something else does not.
        expect(Array.from(got.subarray(0, BLOCK_VALUES[type])).every((v) => v === 0)).toBe(true);
        expect(got.some((v) => v !== 0)).toBe(true);
      });
    }
  }

  it('Q4_K and Q5_K: every sub-block\'s 6-bit scale and min, high bits included, and every level', () => {
    const r = rng(7);
    const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
    // Above 15 in every position (the top 2 bits of every one of the 12 bytes in use), then extremes and mixes.
    const scaleSets: [number[], number[]][] = [
      [Array.from({ length: 8 }, () => int(16, 63)), Array.from({ length: 8 }, () => int(16, 63))],
      [Array(8).fill(63), Array(8).fill(63)],
      [Array(8).fill(0), Array(8).fill(0)],
      [[0, 15, 16, 31, 32, 47, 48, 63], [63, 48, 47, 32, 31, 16, 15, 0]],
      ...Array.from({ length: 6 }, (): [number[], number[]] => [Array.from({ length: 8 }, () => int(0, 63)), Array.from({ length: 8 }, () => int(0, 63))]),
    ];
    for (const fifthBit of [false, true]) {
      const blocks: KBlock[] = scaleSets.map(([scales, mins]) => ({
        d: f32ToF16(pick([0.0123, -0.5, 3e-5, 1])), dmin: f32ToF16(pick([0.007, 2, 0, -0.25])), scales, mins,
        levels: Array.from({ length: 256 }, () => int(0, fifthBit ? 31 : 15)),
      }));
      const bytes = new Uint8Array(blocks.length * (fifthBit ? 176 : 144));
      blocks.forEach((k, b) => bytes.set(packKBlock(k, fifthBit), b * (fifthBit ? 176 : 144)));
      // The first block does use the top 2 bits of each of its first 8 scale bytes.
      expect(Array.from(bytes.subarray(4, 12), (s) => s >> 6).every((top) => top > 0)).toBe(true);
      blocks.forEach((k, b) => {
        for (let j = 0; j < 8; j++) expect(kScaleMin(bytes, b * (fifthBit ? 176 : 144) + 4, j), `block ${b} sub-block ${j}`).toEqual([k.scales[j], k.mins[j]]);
      });
      const expected = new Float32Array(blocks.length * 256);
      blocks.forEach((k, b) => expected.set(kBlockValues(k), b * 256));
      expect(firstDifference(decode(fifthBit ? 'Q5_K' : 'Q4_K', bytes, expected.length), expected)).toBeUndefined();
    }
  });

  it('Q6_K: signed 8-bit scales over their whole range and every 6-bit level', () => {
    const r = rng(8);
    const scaleSets = [
      Array.from({ length: 16 }, (_, j) => [-128, 127, -1, 0, 1, 64, -64, 100][j % 8]),
      ...Array.from({ length: 5 }, () => Array.from({ length: 16 }, () => Math.floor(r() * 256) - 128)),
    ];
    const blocks: Q6KBlock[] = scaleSets.map((scales, b) => ({
      d: f32ToF16([0.0031, -2, 6e-8, 1.5, 0.25, -0.01][b]), scales,
      levels: Array.from({ length: 256 }, (_, i) => (b === 0 ? i % 64 : Math.floor(r() * 64))),
    }));
    const bytes = new Uint8Array(blocks.length * 210);
    blocks.forEach((k, b) => bytes.set(packQ6KBlock(k), b * 210));
    const expected = new Float32Array(blocks.length * 256);
    blocks.forEach((k, b) => expected.set(q6KBlockValues(k), b * 256));
    expect(firstDifference(decode('Q6_K', bytes, expected.length), expected)).toBeUndefined();
  });

  it('Q4_0: every level, both halves of the block, negative and subnormal scales', () => {
    const ds = [0.75, -0.125, 6e-8, 0];
    const bytes = new Uint8Array(ds.length * 18);
    const expected = new Float32Array(ds.length * 32);
    ds.forEach((d, b) => {
      const bits = f32ToF16(d);
      bytes[b * 18] = bits & 0xff;
      bytes[b * 18 + 1] = bits >> 8;
      const levels = Array.from({ length: 32 }, (_, i) => (i * 7 + b) % 16); // value i: level (7i + b) mod 16
      for (let i = 0; i < 16; i++) bytes[b * 18 + 2 + i] = levels[i] | (levels[i + 16] << 4);
      levels.forEach((q, i) => (expected[b * 32 + i] = Math.fround(typeNamed('F16').decode(Uint8Array.of(bits & 0xff, bits >> 8), 1)[0] * (q - 8))));
    });
    expect(firstDifference(decode('Q4_0', bytes, expected.length), expected)).toBeUndefined();
  });
});
