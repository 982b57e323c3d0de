// Matmuls against compact frozen weights (src/ops/matmul-packed.ts, matmul_packed.wgsl) against f64 on the
// dequantized weights: the forward y = x·Wᵀ and the backward dX = dY·W, at shapes that cut through blocks,
// tiles and vec4s; the embedding gather and the f32 unpack bit for bit against the host decoder; and a GGUF's
// own Q8_0 / Q4_0 blocks (made by ggml) kept exactly as they are.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodePacked, packWeight } from '../../src/model/base-dtype.ts';
import { GGML_TYPES } from '../../src/model/gguf-quants.ts';
import { embedRows, matmulWeight, matmulWeightT, packedLayout, PackedWeight, unpackWeight, type PackedFormat } from '../../src/ops/matmul-packed.ts';
import { expectClose } from '../helpers/compare.ts';
import { gpu } from '../helpers/gpu.ts';
import { randn } from '../helpers/random.ts';
import { matmulRef } from '../reference/matmul.ts';

const FORMATS: PackedFormat[] = ['f16', 'q8', 'q4'];

// [N rows of x, in, out]: in = 96 (whole 32-value blocks), 70 (a partial block and a row that is not whole
// vec4s: the padded path), 40 and 4; outputs that are not multiples of the 8x8 blocks; one row (decoding);
// and more blocks than one workgroup holds.
const SHAPES: [number, number, number][] = [
  [7, 96, 13],
  [7, 70, 13],
  [1, 40, 5],
  [3, 4, 9],
  [130, 64, 67],
];

const tol = (K: number) => ({ atol: 3e-6 * K, rtol: 1e-5 });

async function packed(format: PackedFormat, rows: number, cols: number, seed: number): Promise<{ w: PackedWeight; values: Float32Array }> {
  const rt = await gpu();
  const data = randn(rows * cols, seed, 0.5);
  const words = packWeight(format, data, rows, cols);
  return { w: PackedWeight.upload(rt, format, [rows, cols], words, 'W'), values: decodePacked(format, words, rows, cols) };
}

describe('matmuls against a packed weight', () => {
  for (const format of FORMATS) {
    for (const [N, inF, out] of SHAPES) {
      it(`${format}: x [${N}, ${inF}]·Wᵀ and dY [${N}, ${out}]·W (W [${out}, ${inF}]) match f64 on the dequantized W`, async () => {
        const rt = await gpu();
        const { w, values } = await packed(format, out, inF, N * 1000 + inF + out);
        const x = randn(N * inF, 1), dY = randn(N * out, 2);
        const xT = rt.upload(x, [N, inF]), dYT = rt.upload(dY, [N, out]);
        const y = matmulWeightT(rt, xT, w);
        expect(y.shape).toEqual([N, out]);
        expectClose((await y.read()) as Float32Array, matmulRef(x, values, { M: N, N: out, K: inF, batch: 1, aBatched: false, bBatched: false, transB: true }), tol(inF).atol, tol(inF).rtol, 'y');
        const dX = matmulWeight(rt, dYT, w);
        expect(dX.shape).toEqual([N, inF]);
        const dXRef = matmulRef(dY, values, { M: N, N: inF, K: out, batch: 1, aBatched: false, bBatched: false });
        expectClose((await dX.read()) as Float32Array, dXRef, tol(out).atol, tol(out).rtol, 'dX');
        // Accumulating (the q/k/v projections add their dX into one tensor).
        matmulWeight(rt, dYT, w, { accumulateInto: dX });
        expectClose((await dX.read()) as Float32Array, dXRef.map((v) => 2 * v), 2 * tol(out).atol, tol(out).rtol, 'dX accumulated');
        for (const t of [xT, dYT, y, dX, w]) t.release();
      });
    }

    it(`${format}: the embedding gather and the f32 unpack give the host decoder's values exactly; an id past the table gives zeros`, async () => {
      const rt = await gpu();
      const [rows, cols] = [11, 70];
      const { w, values } = await packed(format, rows, cols, 5);
      const ids = [3, 0, 10, 99, 3];
      const idsT = rt.upload(new Uint32Array(ids), [1, ids.length], 'u32');
      const got = (await embedRows(rt, idsT, w).read()) as Float32Array;
      const want = new Float32Array(ids.length * cols);
      ids.forEach((id, t) => id < rows && want.set(values.subarray(id * cols, (id + 1) * cols), t * cols));
      expect(Array.from(got)).toEqual(Array.from(want));
      const all = unpackWeight(rt, w);
      expect(all.shape).toEqual([rows, cols]);
      expect(Array.from((await all.read()) as Float32Array)).toEqual(Array.from(values));
      for (const t of [idsT, all, w]) t.release();
    });
  }

  it('refuses activations whose width is not the weight\'s, and a word count that is not the layout\'s', async () => {
    const rt = await gpu();
    const { w } = await packed('q4', 5, 64, 9);
    const x = rt.upload(randn(2 * 63, 1), [2, 63]);
    expect(() => matmulWeightT(rt, x, w)).toThrow(/last dimension must be 64/);
    expect(() => matmulWeight(rt, x, w)).toThrow(/last dimension must be 5/);
    expect(() => PackedWeight.upload(rt, 'q8', [5, 64], new Uint32Array(10), 'W')).toThrow(/takes 85 u32 words, 10 given/);
    for (const t of [x, w]) t.release();
  });

  it('lays out f16 as two halves per word (rows of whole vec4s) and q8 / q4 as blocks then one f16 scale per block', () => {
    expect(packedLayout('f16', 3, 70)).toMatchObject({ rowGroups: 18, rowWords: 36, words: 108 });
    // 70 values: 3 blocks of 32 per row (the last one 6 values and zeros).
    expect(packedLayout('q8', 3, 70)).toMatchObject({ blocksPerRow: 3, rowWords: 24, scaleOffset: 72, words: 72 + 5 });
    expect(packedLayout('q4', 3, 70)).toMatchObject({ blocksPerRow: 3, rowWords: 12, scaleOffset: 36, words: 36 + 5 });
    // Per 32 values: q8 34 bytes and q4 18 bytes, as GGML's Q8_0 and Q4_0.
    expect(packedLayout('q8', 64, 4096).words * 4).toBe((64 * 4096 / 32) * 34);
    expect(packedLayout('q4', 64, 4096).words * 4).toBe((64 * 4096 / 32) * 18);
  });
});

/** ggml's own quantization of 1,024 awkward values (test/model/fixtures/ggml-blocks.c): input and Q8_0 / Q4_0 blocks. */
function ggmlBlocks(): { input: Float32Array; blocks: Map<string, Uint8Array> } {
  const file = readFileSync(new URL('../model/fixtures/ggml-blocks.bin', import.meta.url));
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const n = 1024;
  const input = new Float32Array(file.buffer.slice(file.byteOffset, file.byteOffset + 4 * n));
  const blocks = new Map<string, Uint8Array>();
  for (let at = 4 * n; at < file.length;) {
    const id = view.getUint32(at, true), size = view.getUint32(at + 4, true);
    blocks.set(GGML_TYPES.get(id)!.name, file.subarray(at + 8, at + 8 + size));
    at += 8 + size + 4 * n;
  }
  return { input, blocks };
}

/** Our words of a [rows, cols] q8 / q4 weight as GGML blocks: the f16 scale, then the block's quantized bytes. */
function asGgmlBlocks(format: 'q8' | 'q4', words: Uint32Array, rows: number, cols: number): Uint8Array {
  const l = packedLayout(format, rows, cols);
  const data = new Uint8Array(words.buffer), dataBytes = format === 'q8' ? 32 : 16;
  const out = new Uint8Array(rows * l.blocksPerRow * (dataBytes + 2));
  for (let b = 0; b < rows * l.blocksPerRow; b++) {
    out.set(data.subarray(l.scaleOffset * 4 + 2 * b, l.scaleOffset * 4 + 2 * b + 2), b * (dataBytes + 2));
    out.set(data.subarray(b * dataBytes, (b + 1) * dataBytes), b * (dataBytes + 2) + 2);
  }
  return out;
}

describe("a GGUF's own Q8_0 / Q4_0 blocks", () => {
  const { input, blocks } = ggmlBlocks();
  const [rows, cols] = [4, 256];
  for (const [format, type] of [['q8', 'Q8_0'], ['q4', 'Q4_0']] as const) {
    it(`${type}: quantizing the input gives ggml's blocks; quantizing ggml's decoded blocks gives them back bit for bit; the GPU computes with them`, async () => {
      const ggml = blocks.get(type)!;
      expect(firstByteDifference(asGgmlBlocks(format, packWeight(format, input, rows, cols), rows, cols), ggml), 'from the input').toBeUndefined();
      // What loading a GGUF hands over (decoded f32), packed again: the same blocks, so the file's quantization is kept.
      const decoded = [...GGML_TYPES.values()].find((t) => t.name === type)!.decode(ggml, input.length);
      const words = packWeight(format, decoded, rows, cols);
      expect(firstByteDifference(asGgmlBlocks(format, words, rows, cols), ggml), 'from the decoded blocks').toBeUndefined();
      expect(Array.from(decodePacked(format, words, rows, cols))).toEqual(Array.from(decoded));

      const rt = await gpu();
      const w = PackedWeight.upload(rt, format, [rows, cols], words, type);
      const x = randn(5 * cols, 3), dY = randn(5 * rows, 4);
      const xT = rt.upload(x, [5, cols]), dYT = rt.upload(dY, [5, rows]);
      const y = matmulWeightT(rt, xT, w), dX = matmulWeight(rt, dYT, w);
      // Values up to ~30 here (awkward scales): tolerances relative to the largest product sums.
      expectClose((await y.read()) as Float32Array, matmulRef(x, decoded, { M: 5, N: rows, K: cols, batch: 1, aBatched: false, bBatched: false, transB: true }), 1e-4, 1e-5, 'y');
      expectClose((await dX.read()) as Float32Array, matmulRef(dY, decoded, { M: 5, N: cols, K: rows, batch: 1, aBatched: false, bBatched: false }), 1e-5, 1e-5, 'dX');
      for (const t of [w, xT, dYT, y, dX]) t.release();
    });
  }
});

function firstByteDifference(a: Uint8Array, b: Uint8Array): string | undefined {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  const i = a.findIndex((v, k) => v !== b[k]);
  return i < 0 ? undefined : `byte ${i}: ${a[i]} vs ${b[i]}`;
}
