// The storage of a model's frozen base weights (--base-dtype): f32, or compact on the GPU as f16 pairs or
// 8-/4-bit blocks (src/ops/matmul-packed.ts owns the layout and the matmuls that read it). Only the 2-D
// weights (the projections, the token embedding, an untied classifier) are ever compact; norms and biases,
// LoRA weights, gradients, optimiser state and activations stay f32. This file packs on the host, picks the
// default per checkpoint, and refuses what a compact base cannot do.
//
// Quantization follows ggml's reference quantizers bit for bit (quantize_row_q8_0_ref / q4_0_ref, in f32
// arithmetic), so that a GGUF's own Q8_0 / Q4_0 blocks, decoded to f32 by gguf-quants.ts and quantized again
// here, come back as the very same blocks: "keeping" a GGUF's quantization needs no raw-block path.
import type { Runtime, Tensor } from '../gpu/index.ts';
import { PackedWeight, packedLayout, QUANT_BLOCK, type PackedFormat } from '../ops/matmul-packed.ts';
import { f16ToF32, f32ToF16 } from './dtypes.ts';
import { ModelError } from './errors.ts';
import type { ModelFormat } from './source.ts';
import { llamaWeightShapes, type LlamaWeights, type Shape } from './weights.ts';

export type BaseDtype = 'f32' | PackedFormat;
export const BASE_DTYPES: readonly BaseDtype[] = ['f32', 'f16', 'q8', 'q4'];
/** 'auto': the checkpoint's own precision (see defaultBaseDtype). */
export type BaseDtypeChoice = BaseDtype | 'auto';

/** A --base-dtype value (or library option) that names no storage type. */
export class BaseDtypeError extends ModelError {
  constructor(public readonly source: string, detail: string) {
    super(`${source}: ${detail}`);
  }
}

/** Something a compact (f16 / q8 / q4) base cannot do: full fine-tuning, or a path that needs the f32 weight. */
export class CompactBaseError extends ModelError {
  constructor(public readonly tensor: string, public readonly dtype: PackedFormat, detail: string) {
    super(`${tensor} is stored as ${dtype} (--base-dtype ${dtype}): ${detail}`);
  }
}

export function parseBaseDtype(value: string, source = '--base-dtype'): BaseDtypeChoice {
  if (value === 'auto' || (BASE_DTYPES as readonly string[]).includes(value)) return value as BaseDtypeChoice;
  throw new BaseDtypeError(source, `'${value}' is not a base dtype; use one of auto, ${BASE_DTYPES.join(', ')}`);
}

/** The weights that may be compact: the 2-D ones (projections, embedding, classifier). */
export function isCompactable(shape: Shape): boolean {
  return shape.length === 2;
}

/** Full fine-tuning updates every base weight in f32: refused on a compact base, naming the first one. */
export function refuseFullFineTuning(dtypes: Readonly<Record<string, BaseDtype>>): void {
  const compact = Object.entries(dtypes).find(([, d]) => d !== 'f32');
  if (compact) {
    throw new CompactBaseError(compact[0], compact[1] as PackedFormat, 'full fine-tuning updates the base weights in f32; load the model with --base-dtype f32 (or train LoRA adapters)');
  }
}

// ---- host packing -----------------------------------------------------------------------------------------

const f = Math.fround;

/** W [rows, cols] f32 as the words of `format` (packedLayout). f16 rounds to nearest even. */
export function packWeight(format: PackedFormat, data: Float32Array, rows: number, cols: number, name = 'weight'): Uint32Array {
  if (data.length !== rows * cols) throw new RangeError(`${name}: ${data.length} values for [${rows}, ${cols}]`);
  const layout = packedLayout(format, rows, cols);
  const words = new Uint32Array(layout.words);
  // Halves and bytes in memory order: the buffer goes to the GPU as it is (little-endian, as WebGPU hosts are).
  const halves = new Uint16Array(words.buffer);
  if (format === 'f16') {
    for (let r = 0; r < rows; r++) {
      const at = r * layout.rowWords * 2;
      for (let c = 0; c < cols; c++) {
        const h = f32ToF16(data[r * cols + c]);
        if ((h & 0x7c00) === 0x7c00 && Number.isFinite(data[r * cols + c])) {
          throw new RangeError(`${name}[${r}, ${c}] = ${data[r * cols + c]} is beyond f16's range (±65504); use --base-dtype f32 or q8 for this model`);
        }
        halves[at + c] = h;
      }
    }
    return words;
  }
  const bytes = new Uint8Array(words.buffer);
  const block = new Float32Array(QUANT_BLOCK);
  const quantize = format === 'q8' ? quantizeQ8Block : quantizeQ4Block;
  const blockBytes = format === 'q8' ? 32 : 16;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < layout.blocksPerRow; b++) {
      const from = r * cols + b * QUANT_BLOCK;
      block.fill(0); // a partial last block is padded with zeros, which change neither max nor values
      block.set(data.subarray(from, Math.min(from + QUANT_BLOCK, (r + 1) * cols)));
      const index = r * layout.blocksPerRow + b;
      halves[layout.scaleOffset * 2 + index] = quantize(block, bytes, index * blockBytes);
    }
  }
  return words;
}

/** ggml's quantize_row_q8_0_ref for one block: q = round(x / d), d = max|x| / 127. Returns d's f16 bits. */
function quantizeQ8Block(x: Float32Array, out: Uint8Array, at: number): number {
  let amax = 0;
  for (let j = 0; j < QUANT_BLOCK; j++) amax = Math.max(amax, Math.abs(x[j]));
  const d = f(amax / 127);
  const id = d ? f(1 / d) : 0;
  for (let j = 0; j < QUANT_BLOCK; j++) {
    const v = f(x[j] * id);
    out[at + j] = (Math.sign(v) * Math.round(Math.abs(v))) & 0xff; // roundf: halves away from zero
  }
  return f32ToF16(d);
}

/** ggml's quantize_row_q4_0_ref: d = (the value of largest magnitude) / −8, q = min(15, trunc(x / d + 8.5)). */
function quantizeQ4Block(x: Float32Array, out: Uint8Array, at: number): number {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < QUANT_BLOCK; j++) {
    if (amax < Math.abs(x[j])) {
      amax = Math.abs(x[j]);
      max = x[j];
    }
  }
  const d = f(max / -8);
  const id = d ? f(1 / d) : 0;
  const half = QUANT_BLOCK / 2;
  for (let j = 0; j < half; j++) {
    const lo = Math.min(15, Math.trunc(f(f(x[j] * id) + 8.5)));
    const hi = Math.min(15, Math.trunc(f(f(x[half + j] * id) + 8.5)));
    out[at + j] = lo | (hi << 4);
  }
  return f32ToF16(d);
}

/** The f32 values the GPU decodes from packed words (the exact weights a compact base computes with). */
export function decodePacked(format: PackedFormat, words: Uint32Array, rows: number, cols: number): Float32Array {
  const layout = packedLayout(format, rows, cols);
  if (words.length !== layout.words) throw new RangeError(`${format} [${rows}, ${cols}]: ${words.length} words, expected ${layout.words}`);
  const out = new Float32Array(rows * cols);
  const halves = new Uint16Array(words.buffer, words.byteOffset, words.length * 2);
  if (format === 'f16') {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = f16ToF32(halves[r * layout.rowWords * 2 + c]);
    return out;
  }
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.length * 4);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const index = r * layout.blocksPerRow + Math.floor(c / QUANT_BLOCK);
      const d = f16ToF32(halves[layout.scaleOffset * 2 + index]);
      const j = c % QUANT_BLOCK;
      let q: number;
      if (format === 'q8') q = (bytes[index * 32 + j] << 24) >> 24;
      else q = ((j < 16 ? bytes[index * 16 + j] : bytes[index * 16 + j - 16] >> 4) & 15) - 8;
      out[r * cols + c] = f(q * d);
    }
  }
  return out;
}

/** Every compactable weight rounded through its storage type: the base a compact model computes with. */
export function roundTripWeights(weights: LlamaWeights, dtypes: Readonly<Record<string, BaseDtype>>): LlamaWeights {
  const tensors = { ...weights.tensors };
  for (const [name, dtype] of Object.entries(dtypes)) {
    if (dtype === 'f32') continue;
    const [rows, cols] = weights.shapes[name];
    tensors[name] = decodePacked(dtype, packWeight(dtype, weights.tensors[name], rows, cols, name), rows, cols);
  }
  return { ...weights, tensors };
}

// ---- on the GPU ------------------------------------------------------------------------------------------

/**
 * Uploads every base weight in its storage type. `params` holds the f32 ones under their names; a compact
 * weight's name there is a getter that throws CompactBaseError, so that code written for f32 weights
 * (merges, export, a plain embedding lookup) fails with a clear message instead of reading packed words
 * as floats. LlamaModel.baseWeight(name) gives either storage.
 */
export function uploadBaseWeights(rt: Runtime, weights: LlamaWeights, dtypes: Readonly<Record<string, BaseDtype>>):
  { params: Record<string, Tensor>; f32: Record<string, Tensor>; packed: Record<string, PackedWeight> } {
  const params: Record<string, Tensor> = {};
  const f32: Record<string, Tensor> = {};
  const packed: Record<string, PackedWeight> = {};
  for (const [name, shape] of Object.entries(llamaWeightShapes(weights.config))) {
    const data = weights.tensors[name];
    if (!data) throw new RangeError(`weights: tensor '${name}' [${shape.join(', ')}] is missing`);
    const dtype = dtypes[name] ?? 'f32';
    if (dtype === 'f32') {
      params[name] = f32[name] = rt.upload(data, shape, 'f32', name);
      continue;
    }
    if (!isCompactable(shape)) throw new BaseDtypeError(name, `[${shape.join(', ')}] cannot be stored as ${dtype}: only 2-D weights can`);
    const [rows, cols] = shape;
    const w = (packed[name] = PackedWeight.upload(rt, dtype, [rows, cols], packWeight(dtype, data, rows, cols, name), name));
    Object.defineProperty(params, name, {
      enumerable: true,
      get() {
        throw new CompactBaseError(name, w.format, 'this path needs the f32 weight; read it through LlamaModel.baseWeight(name) ' +
          '(matmulWeightT / matmulWeight / embedRows take either storage) or unpackedWeight(name), or load with --base-dtype f32');
      },
    });
  }
  return { params, f32, packed };
}

// ---- the storage type of each weight ---------------------------------------------------------------------

/**
 * The storage type of every compactable weight. An explicit dtype applies to all of them; 'auto' keeps the
 * checkpoint's own precision (defaultBaseDtype), which needs to know the format it came from.
 */
export function baseDtypes(weights: LlamaWeights, choice: BaseDtypeChoice, format?: ModelFormat): Record<string, BaseDtype> {
  if (choice === 'auto' && !format) throw new BaseDtypeError('baseDtype', "'auto' needs the checkpoint's format (sourceFormat: llama2c, hf or gguf)");
  const out: Record<string, BaseDtype> = {};
  for (const [name, shape] of Object.entries(llamaWeightShapes(weights.config))) {
    if (!isCompactable(shape)) continue;
    out[name] = choice === 'auto' ? defaultBaseDtype(format!, weights.tensors[name], shape) : choice;
  }
  return out;
}

/**
 * The checkpoint's own precision, judged from the values (loaders hand over f32 and keep no file dtype; the
 * tests below are exact, so a weight is only ever stored in a type that holds its values):
 *   llama2.c: f32.
 *   Hugging Face: f16 when every value is an f16 or bf16 value (an F16 / BF16 checkpoint) within f16's
 *     range; else f32. bf16 -> f16 keeps all 8 mantissa bits; only values under 2^-14 lose precision.
 *   GGUF: q4 when the values are exactly Q4_0 blocks, q8 when exactly Q8_0 blocks (rows of whole 32-value
 *     blocks, as GGUF has), else f16: k-quants, F16, BF16 and F32 tensors all decode to f16 (a k-quant's
 *     own error is far above f16's rounding).
 */
export function defaultBaseDtype(format: ModelFormat, data: Float32Array, shape: Shape): BaseDtype {
  if (format === 'llama2c') return 'f32';
  if (format === 'hf') return isHalfPrecision(data) ? 'f16' : 'f32';
  const [rows, cols] = shape;
  for (const q of ['q4', 'q8'] as const) if (cols % QUANT_BLOCK === 0 && holdsExactly(q, data, rows, cols)) return q;
  return 'f16';
}

/** Every value an f16 or a bf16 value, and none beyond f16's range. */
function isHalfPrecision(data: Float32Array): boolean {
  const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
  let bf16 = true;
  let f16 = true;
  for (let i = 0; i < data.length && (bf16 || f16); i++) {
    const v = data[i];
    if (!(Math.abs(v) <= 65504)) return false;
    if (bf16 && (bits[i] & 0xffff) !== 0) bf16 = false;
    if (f16 && f16ToF32(f32ToF16(v)) !== v) f16 = false;
  }
  return bf16 || f16;
}

/** Whether quantizing W and decoding it again gives every value back bit for bit. */
function holdsExactly(format: 'q8' | 'q4', data: Float32Array, rows: number, cols: number): boolean {
  // One row at a time, so that a float checkpoint is rejected after its first row.
  for (let r = 0; r < rows; r++) {
    const row = data.subarray(r * cols, (r + 1) * cols);
    const back = decodePacked(format, packWeight(format, row, 1, cols), 1, cols);
    for (let c = 0; c < cols; c++) if (back[c] !== row[c]) return false;
  }
  return true;
}
