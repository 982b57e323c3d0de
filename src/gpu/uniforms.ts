// Packs a kernel's scalar parameters (shapes, eps, scale...) into a uniform buffer's bytes,
// in declaration order, each field 4 bytes, padded to 16 as WGSL uniform structs require.
export class Uniforms {
  private words: number[] = [];
  private kinds: ('u32' | 'i32' | 'f32')[] = [];

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`uniform u32 out of range: ${v}`);
    return this.push(v, 'u32');
  }

  i32(v: number): this {
    if (!Number.isInteger(v)) throw new RangeError(`uniform i32 not an integer: ${v}`);
    return this.push(v, 'i32');
  }

  f32(v: number): this {
    return this.push(v, 'f32');
  }

  bytes(): ArrayBuffer {
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const buf = new ArrayBuffer(n * 4);
    const u = new Uint32Array(buf);
    const i = new Int32Array(buf);
    const f = new Float32Array(buf);
    this.words.forEach((w, k) => {
      const kind = this.kinds[k];
      if (kind === 'u32') u[k] = w;
      else if (kind === 'i32') i[k] = w;
      else f[k] = w;
    });
    return buf;
  }

  private push(v: number, kind: 'u32' | 'i32' | 'f32'): this {
    this.words.push(v);
    this.kinds.push(kind);
    return this;
  }
}
