// RoPE frequency scaling: the inverse frequencies every head pair rotates by, for plain RoPE and for the
// scaled variants of long-context checkpoints. One function computes them for the GPU model (uploaded
// through ops/rope.ts's ropeTable) and for the f64 CPU reference, so both rotate by the same angles.
//
//   plain:   inv_freq[i] = theta^(-2i/headDim)
//   linear:  inv_freq[i] / factor                       (positions / factor)
//   llama3:  Llama 3.1 / 3.2, per transformers' _compute_llama3_parameters: with wavelength 2π / inv_freq,
//            wavelength < original / high_freq_factor       -> unchanged (high frequencies)
//            wavelength > original / low_freq_factor        -> inv_freq / factor (low frequencies)
//            otherwise, with s = (original / wavelength − low) / (high − low):
//                                                            (1 − s)·inv_freq / factor + s·inv_freq
//   freq-factors: inv_freq[i] / factors[i]               (llama.cpp's rope_freqs.weight: its converter writes
//            llama3 scaling as these per-pair divisors, and ggml's RoPE rotates pair i by pos·inv_freq[i] / ff[i];
//            a GGUF states nothing else about the scaling, so the divisors themselves are the source)
//
// Other scalings (yarn, dynamic, longrope, ...) change more than the frequencies or depend on the sequence
// length; they are refused by name where a config is read.

export type RopeScaling =
  | { type: 'linear'; factor: number }
  | { type: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number }
  /** One divisor per pair (headDim / 2 of them), read from a GGUF's rope_freqs.weight; see the note above. */
  | { type: 'freq-factors'; factors: readonly number[] };

export type RopeScalingType = RopeScaling['type'];

/** The scalings a config file may name, for messages naming what is supported ('freq-factors' come from a tensor). */
export const SUPPORTED_ROPE_SCALINGS: readonly RopeScalingType[] = ['linear', 'llama3'];

/** inv_freq of each of the headDim/2 pairs of a head, in f64. */
export function ropeInverseFrequencies(headDim: number, theta: number, scaling?: RopeScaling): Float64Array {
  const plain = Float64Array.from({ length: headDim / 2 }, (_, i) => theta ** ((-2 * i) / headDim));
  if (!scaling) return plain;
  if (scaling.type === 'linear') return plain.map((f) => f / scaling.factor);
  if (scaling.type === 'freq-factors') {
    const { factors } = scaling;
    if (factors.length !== plain.length) throw new RangeError(`RoPE frequency factors: ${factors.length} given for ${plain.length} pairs (head size ${headDim})`);
    return plain.map((f, i) => f / factors[i]);
  }
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: original } = scaling;
  const lowFreqWavelength = original / lowFreqFactor;
  const highFreqWavelength = original / highFreqFactor;
  return plain.map((f) => {
    const wavelength = (2 * Math.PI) / f;
    if (wavelength < highFreqWavelength) return f;
    if (wavelength > lowFreqWavelength) return f / factor;
    const smooth = (original / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
    return ((1 - smooth) * f) / factor + smooth * f;
  });
}

/** Why `s` cannot be a RopeScaling of a head of `pairs` RoPE pairs (field and problem), or null when it is valid. */
export function ropeScalingProblem(s: RopeScaling, pairs: number): { field: string; problem: string } | null {
  const positive = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  if (s.type === 'freq-factors') {
    if (!Array.isArray(s.factors) || s.factors.length !== pairs) {
      return { field: 'factors', problem: `must hold one divisor per RoPE pair (${pairs}), got ${Array.isArray(s.factors) ? s.factors.length : String(s.factors)}` };
    }
    const bad = s.factors.findIndex((v) => !positive(v));
    return bad < 0 ? null : { field: `factors[${bad}]`, problem: `must be a positive number, got ${s.factors[bad]}` };
  }
  if (s.type !== 'linear' && s.type !== 'llama3') {
    return { field: 'type', problem: `'${(s as { type: unknown }).type}' is not supported; supported: ${SUPPORTED_ROPE_SCALINGS.join(', ')}` };
  }
  if (!positive(s.factor)) return { field: 'factor', problem: `must be a positive number, got ${s.factor}` };
  if (s.type === 'llama3') {
    if (!positive(s.lowFreqFactor)) return { field: 'lowFreqFactor', problem: `must be a positive number, got ${s.lowFreqFactor}` };
    if (!positive(s.highFreqFactor)) return { field: 'highFreqFactor', problem: `must be a positive number, got ${s.highFreqFactor}` };
    if (!(s.highFreqFactor > s.lowFreqFactor)) {
      return { field: 'highFreqFactor', problem: `(${s.highFreqFactor}) must be greater than lowFreqFactor (${s.lowFreqFactor})` };
    }
    if (!Number.isSafeInteger(s.originalMaxPositionEmbeddings) || s.originalMaxPositionEmbeddings <= 0) {
      return { field: 'originalMaxPositionEmbeddings', problem: `must be a positive integer, got ${s.originalMaxPositionEmbeddings}` };
    }
  }
  return null;
}
