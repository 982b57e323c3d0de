// Half-precision conversions for checkpoint files: f16 (IEEE binary16) and bf16 (the top half of an f32).
// Every loader converts to f32 on load; writers round to nearest even.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One f16 bit pattern to its value. */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero or subnormal
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** The f16 bit pattern nearest to x (ties to even); overflow gives ±Infinity. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let m = mantissa >>> shift;
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m; // a carry into the exponent field gives the smallest normal, as it should
  }
  const rest = mantissa & 0x1fff;
  let h = sign | (e << 10) | (mantissa >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // may carry into Infinity, as it should
  return h;
}

export function bf16ToF32(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}

/** The bf16 bit pattern nearest to x (ties to even); NaN stays NaN. */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** `count` little-endian f16 or bf16 values starting at `bytes[0]`, as f32. */
export function halfBytesToF32(bytes: Uint8Array, count: number, kind: 'f16' | 'bf16'): Float32Array {
  const out = new Float32Array(count);
  if (kind === 'bf16') {
    const outBits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) outBits[i] = (bytes[2 * i] | (bytes[2 * i + 1] << 8)) << 16;
    return out;
  }
  const table = f16Table();
  for (let i = 0; i < count; i++) out[i] = table[bytes[2 * i] | (bytes[2 * i + 1] << 8)];
  return out;
}

/** f32 values as little-endian f16 or bf16 bytes. */
export function f32ToHalfBytes(values: Float32Array, kind: 'f16' | 'bf16'): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const convert = kind === 'f16' ? f32ToF16 : f32ToBf16;
  for (let i = 0; i < values.length; i++) {
    const h = convert(values[i]);
    out[2 * i] = h & 0xff;
    out[2 * i + 1] = h >>> 8;
  }
  return out;
}

let table16: Float32Array | undefined;
function f16Table(): Float32Array {
  if (!table16) {
    table16 = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table16[h] = f16ToF32(h);
  }
  return table16;
}

/** Little-endian f32 bytes as a Float32Array: a view when aligned, else a copy. */
export function f32View(bytes: Uint8Array, count: number): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
  return new Float32Array(bytes.slice(0, count * 4).buffer);
}
