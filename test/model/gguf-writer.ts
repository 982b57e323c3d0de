// A minimal GGUF v3 writer for tests (written from the spec, independent of the loader): metadata of the
// usual scalar / string / array types, and F32, F16, BF16 tensors or blocks of the quantized types (quantized
// by ggml-quantize.ts).
import { f32ToBf16, f32ToF16 } from '../../src/model/dtypes.ts';
import { type QuantType, quantize } from './ggml-quantize.ts';

const T = { UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12 } as const;
export type GgufKv =
  | { type: 'u32' | 'i32' | 'f32' | 'u64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'strings'; value: string[] }
  | { type: 'f32s' | 'i32s'; value: number[] };

export const u32 = (value: number): GgufKv => ({ type: 'u32', value });
export const f32 = (value: number): GgufKv => ({ type: 'f32', value });
export const str = (value: string): GgufKv => ({ type: 'string', value });

/** Q2_K is a type the loader refuses; it is written as zero bytes of its size (84 bytes per 256 values). */
export type GgufDtype = 'F32' | 'F16' | 'BF16' | QuantType | 'Q2_K';
const GGML_TYPE: Record<GgufDtype, number> = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q2_K: 10, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 };

export interface GgufTensor {
  name: string;
  /** Row-major shape, slowest first (written reversed, as GGUF's ne[]). */
  shape: number[];
  dtype: GgufDtype;
  data: Float32Array;
  /** Stored bytes to write instead of encoding `data` (for malformed tensors). */
  bytes?: Uint8Array;
}

class Writer {
  private parts: Uint8Array[] = [];
  length = 0;
  bytes(b: Uint8Array) {
    this.parts.push(b);
    this.length += b.length;
  }
  private num(n: number, set: (v: DataView) => void) {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    this.bytes(b);
  }
  u32 = (v: number) => this.num(4, (d) => d.setUint32(0, v, true));
  i32 = (v: number) => this.num(4, (d) => d.setInt32(0, v, true));
  f32 = (v: number) => this.num(4, (d) => d.setFloat32(0, v, true));
  u64 = (v: number) => this.num(8, (d) => d.setBigUint64(0, BigInt(v), true));
  string(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number) {
    const n = (alignment - (this.length % alignment)) % alignment;
    if (n) this.bytes(new Uint8Array(n));
  }
  result(): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function encode(t: GgufTensor): Uint8Array {
  if (t.bytes) return t.bytes;
  switch (t.dtype) {
    case 'F32': return new Uint8Array(t.data.slice().buffer);
    case 'F16': case 'BF16': {
      const conv = t.dtype === 'F16' ? f32ToF16 : f32ToBf16;
      return new Uint8Array(Uint16Array.from(t.data, conv).buffer);
    }
    case 'Q2_K': return new Uint8Array((t.data.length / 256) * 84);
    default: return quantize(t.dtype, t.data).bytes;
  }
}

export function writeGguf(kv: Record<string, GgufKv>, tensors: GgufTensor[], alignment = 32): Uint8Array<ArrayBuffer> {
  const w = new Writer();
  w.bytes(new TextEncoder().encode('GGUF'));
  w.u32(3);
  w.u64(tensors.length);
  const entries = Object.entries({ ...(alignment !== 32 ? { 'general.alignment': u32(alignment) } : {}), ...kv });
  w.u64(entries.length);
  for (const [key, v] of entries) {
    w.string(key);
    switch (v.type) {
      case 'u32': w.u32(T.UINT32); w.u32(v.value); break;
      case 'i32': w.u32(T.INT32); w.i32(v.value); break;
      case 'f32': w.u32(T.FLOAT32); w.f32(v.value); break;
      case 'u64': w.u32(T.UINT64); w.u64(v.value); break;
      case 'bool': w.u32(T.BOOL); w.bytes(Uint8Array.of(v.value ? 1 : 0)); break;
      case 'string': w.u32(T.STRING); w.string(v.value); break;
      case 'strings': w.u32(T.ARRAY); w.u32(T.STRING); w.u64(v.value.length); v.value.forEach((s) => w.string(s)); break;
      case 'f32s': w.u32(T.ARRAY); w.u32(T.FLOAT32); w.u64(v.value.length); v.value.forEach(w.f32); break;
      case 'i32s': w.u32(T.ARRAY); w.u32(T.INT32); w.u64(v.value.length); v.value.forEach(w.i32); break;
    }
  }
  const blobs = tensors.map(encode);
  let offset = 0;
  tensors.forEach((t, i) => {
    w.string(t.name);
    w.u32(t.shape.length);
    [...t.shape].reverse().forEach(w.u64);
    w.u32(GGML_TYPE[t.dtype]);
    w.u64(offset);
    offset += Math.ceil(blobs[i].length / alignment) * alignment;
  });
  w.pad(alignment);
  blobs.forEach((b) => {
    w.bytes(b);
    w.pad(alignment);
  });
  return w.result();
}
