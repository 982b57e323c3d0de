import { describe, expect, it } from 'vitest';
import { parseSafetensors, safetensorToF32, writeSafetensors } from '../../src/model/safetensors.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/model/dtypes.ts';
import { CheckpointFormatError, UnsupportedModelError } from '../../src/model/errors.ts';
import { randn } from '../helpers/random.ts';
import { errorOf as errorOfType } from '../helpers/errors.ts';

/** A file from a header object and a data region, exactly as given (for malformed cases). */
function rawFile(header: unknown, data: Uint8Array, headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const errorOf = (f: () => unknown) => errorOfType<CheckpointFormatError>(f);

describe('f16 / bf16 conversion', () => {
  it('converts special values and rounds to nearest even', () => {
    expect([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x8000].map(f16ToF32))
      .toEqual([1, -2, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity, -0]);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect([1, -2, 65504, 2 ** -24, 2 ** -14, 1e6, -0, 0.1].map(f32ToF16)).toEqual([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0x8000, 0x2e66]);
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie -> even mantissa
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16(2 ** -25)).toBe(0); // half the smallest subnormal ties to 0
    expect(f32ToF16(2 ** -25 * 1.5)).toBe(1);
    for (let h = 0; h < 0x7c00; h += 7) expect(f32ToF16(f16ToF32(h))).toBe(h); // exact round trip of every finite f16
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(f32ToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(bf16ToF32(f32ToBf16(NaN))).toBeNaN();
  });
});

describe('safetensors', () => {
  it('round-trips f32 exactly and f16 / bf16 within their precision, with metadata', () => {
    const a = randn(6 * 5, 1), b = randn(7, 2, 3), c = randn(3 * 4, 3, 100);
    const bytes = writeSafetensors({
      'w.a': { shape: [6, 5], data: a },
      'w.b': { shape: [7], data: b, dtype: 'F16' },
      'w.c': { shape: [3, 4], data: c, dtype: 'BF16' },
      scalar: { shape: [], data: Float32Array.of(42) },
    }, { format: 'pt' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0); // data starts aligned
    const file = parseSafetensors(bytes, 'x.safetensors');
    expect(file.metadata).toEqual({ format: 'pt' });
    expect([...file.tensors.keys()].sort()).toEqual(['scalar', 'w.a', 'w.b', 'w.c']);
    const t = (n: string) => file.tensors.get(n)!;
    expect([t('w.a').dtype, t('w.b').dtype, t('w.c').dtype]).toEqual(['F32', 'F16', 'BF16']);
    expect(t('w.a').shape).toEqual([6, 5]);
    expect(safetensorToF32(t('w.a'))).toEqual(a);
    expect(safetensorToF32(t('scalar'))).toEqual(Float32Array.of(42));
    const f16 = safetensorToF32(t('w.b')), bf16 = safetensorToF32(t('w.c'));
    b.forEach((v, i) => expect(Math.abs(f16[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11));
    c.forEach((v, i) => expect(Math.abs(bf16[i] - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -8));
    expect(Array.from(f16)).toEqual(Array.from(b, (v) => f16ToF32(f32ToF16(v))));
  });

  it('reads a hand-made file with unpadded header and unaligned f32 data', () => {
    const values = Float32Array.of(1.5, -2, 3.25);
    const data = new Uint8Array(values.buffer);
    const bytes = rawFile({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, data, '{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}');
    expect(safetensorToF32(parseSafetensors(bytes).tensors.get('t')!)).toEqual(values);
  });

  it('names the file, the problem and the byte offset of a malformed header', () => {
    const data = new Uint8Array(16);
    const cases: [Uint8Array, RegExp, number][] = [
      [new Uint8Array(5), /expected an 8-byte header length, the file has 5 bytes/, 0],
      [rawFile({}, data).subarray(0, 9), /header length 2 runs past the end of the 9-byte file/, 0],
      [rawFile(null, data, '{"t": '), /header is not valid UTF-8 JSON/, 8],
      [rawFile(null, data, '[1,2]'), /header must be a JSON object/, 8],
      [rawFile({ t: { dtype: 'F128', shape: [4], data_offsets: [0, 16] } }, data), /tensor t: unknown dtype "F128"/, 8],
      [rawFile({ t: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, data), /tensor t: shape must be an array of non-negative integers/, 8],
      [rawFile({ t: { dtype: 'F32', shape: [4], data_offsets: [0] } }, data), /data_offsets must be \[begin, end\]/, 8],
      [rawFile({ t: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, data), /data_offsets \[0, 32\] lie outside the 16-byte data region/, -1],
      [rawFile({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 16] } }, data), /F32 \[3\] needs 12 bytes, data_offsets \[0, 16\] give 16/, -1],
      [rawFile({ t: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data), /8 bytes before tensor t belong to no tensor/, -1],
      [rawFile({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data), /tensor b overlaps the tensor before it/, -1],
      [rawFile({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, data), /8 bytes after the last tensor belong to no tensor/, -1],
    ];
    for (const [bytes, message, offset] of cases) {
      const err = errorOf(() => parseSafetensors(bytes, 'bad.safetensors'));
      expect(err, String(message)).toBeInstanceOf(CheckpointFormatError);
      expect(err.message).toMatch(/^bad\.safetensors: /);
      expect(err.message).toMatch(message);
      expect(err.message).toMatch(new RegExp(`\\(byte offset ${err.byteOffset.toLocaleString('en-US')}\\)$`));
      if (offset >= 0) expect(err.byteOffset, String(message)).toBe(offset);
      else expect(err.byteOffset, String(message)).toBeGreaterThan(8); // inside the data region
    }
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1n << 40n, true);
    expect(() => parseSafetensors(huge, 'big.safetensors')).toThrow(/over the 100,000,000-byte limit/);
  });

  it('refuses to convert integer tensors to f32', () => {
    const file = parseSafetensors(rawFile({ ids: { dtype: 'I64', shape: [2], data_offsets: [0, 16] } }, new Uint8Array(16)));
    expect(() => safetensorToF32(file.tensors.get('ids')!, 'x.safetensors')).toThrow(UnsupportedModelError);
    expect(() => safetensorToF32(file.tensors.get('ids')!, 'x.safetensors')).toThrow('x.safetensors: tensor ids is I64; only F32, F16 and BF16 weights are supported');
  });
});
