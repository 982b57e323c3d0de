// Elementwise add / scale / residual. Backward: add passes d_out to both inputs unchanged
// (no kernel), scale multiplies d_out by the same alpha.
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { flatGrid } from './grid.ts';

const WG = 256;
const PER_THREAD = 4;

function sameSize(op: string, a: Tensor, b: Tensor): void {
  if (a.size !== b.size) throw new RangeError(`${op}: ${a} and ${b} differ in size`);
}

function run(rt: Runtime, entryPoint: string, n: number, alpha: number, bindings: Tensor[], cols = 1): void {
  const grid = flatGrid(Math.ceil(n / PER_THREAD), WG);
  rt.dispatch({
    shader: 'elementwise',
    entryPoint,
    uniforms: new Uniforms().u32(n).u32(grid.rowGroups).f32(alpha).u32(cols).bytes(),
    bindings,
    workgroups: grid.workgroups,
  });
}

/** out = a + alpha·b. */
export function addForward(rt: Runtime, a: Tensor, b: Tensor, alpha = 1, out = rt.empty(a.shape, 'f32', 'sum')): Tensor {
  sameSize('add', a, b);
  run(rt, 'add', a.size, alpha, [a, out, b]);
  return out;
}

/** out = a ⊙ b. */
export function mulForward(rt: Runtime, a: Tensor, b: Tensor, out = rt.empty(a.shape, 'f32', 'product')): Tensor {
  sameSize('mul', a, b);
  run(rt, 'mul', a.size, 1, [a, out, b]);
  return out;
}

/** d_a = d_out, d_b = alpha·d_out. */
export function addBackward(rt: Runtime, dOut: Tensor, alpha = 1): { dA: Tensor; dB: Tensor } {
  return { dA: dOut, dB: alpha === 1 ? dOut : scaleForward(rt, dOut, alpha) };
}

/** out = alpha·a. */
export function scaleForward(rt: Runtime, a: Tensor, alpha: number, out = rt.empty(a.shape, 'f32', 'scaled')): Tensor {
  run(rt, 'scale', a.size, alpha, [a, out]);
  return out;
}

export function scaleBackward(rt: Runtime, dOut: Tensor, alpha: number): Tensor {
  return scaleForward(rt, dOut, alpha);
}

/** acc += alpha·a in place: the residual stream, and gradient accumulation. */
export function accumulate(rt: Runtime, acc: Tensor, a: Tensor, alpha = 1): Tensor {
  sameSize('accumulate', acc, a);
  run(rt, 'axpy', a.size, alpha, [a, acc]);
  return acc;
}

/** out[r, :] += alpha·bias in place, for out [..., C] and bias [C] (q/k/v biases of Qwen2).
 *  Its backward, the column sum of d_out, is a matmul with a ones vector (see model/linear.ts). */
export function addBias(rt: Runtime, out: Tensor, bias: Tensor, alpha = 1): Tensor {
  const cols = bias.size;
  if (cols === 0 || out.size % cols !== 0) throw new RangeError(`addBias: ${out} is not a whole number of rows of ${bias}`);
  run(rt, 'add_bias', out.size, alpha, [bias, out], cols);
  return out;
}

/** Inverted dropout with probability `p`, its mask a pure function of (seed, element index): the
 *  backward is the same call on d_out with the same seed. */
export function dropoutForward(rt: Runtime, a: Tensor, p: number, seed: number, out = rt.empty(a.shape, 'f32', 'dropout out')): Tensor {
  if (!(p >= 0 && p < 1)) throw new RangeError(`dropout: probability must be in [0, 1), got ${p}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`dropout: seed must be a u32, got ${seed}`);
  run(rt, 'dropout', a.size, 1 / (1 - p), [a, out], seed);
  return out;
}
