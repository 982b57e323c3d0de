// RMSNorm over the last axis (Llama's attention and FFN norms): y = x · rsqrt(mean(x²) + eps) · weight.
// The forward pass saves the per-row rstd for the backward pass.
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { ceilDiv, flatGrid } from './grid.ts';

const WG = 64;
/** Rows one invocation sums for the weight gradient; more chunks than one add a second pass. */
const ROWS_PER_CHUNK = 64;

interface Dims {
  rows: number;
  cols: number;
  /** Rows are read as vec4 (cols % 4 == 0). */
  vec4: boolean;
}

function dimsOf(op: string, x: Tensor, weight: Tensor): Dims {
  const cols = weight.shape[0];
  if (x.shape.length < 1 || weight.shape.length !== 1 || x.shape[x.shape.length - 1] !== cols || cols === 0) {
    throw new RangeError(`${op}: x [${x.shape.join(', ')}] and weight [${weight.shape.join(', ')}] must be [..., C] and [C] with C > 0`);
  }
  return { rows: x.size / cols, cols, vec4: cols % 4 === 0 };
}

function params(d: Dims, eps: number, rowGroups: number, rowsPerChunk = 0, chunks = 0, accumulate = false): ArrayBuffer {
  return new Uniforms().u32(d.rows).u32(d.cols).f32(eps).u32(rowGroups).u32(rowsPerChunk).u32(chunks).u32(accumulate ? 1 : 0).u32(0).bytes();
}

/** One invocation per row. */
function rowwise(rt: Runtime, entryPoint: string, d: Dims, eps: number, bindings: Tensor[]): void {
  const grid = flatGrid(d.rows, WG);
  rt.dispatch({
    shader: 'rmsnorm',
    entryPoint: d.vec4 ? `${entryPoint}4` : entryPoint,
    constants: { WG },
    uniforms: params(d, eps, grid.rowGroups),
    bindings,
    workgroups: grid.workgroups,
  });
}

export interface RmsNormForward {
  y: Tensor;
  /** 1 / sqrt(mean(x²) + eps) per row, [rows]: saved for the backward pass. */
  rstd: Tensor;
}

/** x [..., C], weight [C]; eps from the model config (1e-5 for llama2.c models). */
export function rmsnormForward(rt: Runtime, x: Tensor, weight: Tensor, eps: number, y = rt.empty(x.shape, 'f32', 'rmsnorm out')): RmsNormForward {
  const d = dimsOf('rmsnorm', x, weight);
  if (y.size !== x.size) throw new RangeError(`rmsnorm: output ${y} does not match x [${x.shape.join(', ')}]`);
  const rstd = rt.empty([d.rows], 'f32', 'rmsnorm rstd');
  rowwise(rt, 'forward', d, eps, [x, weight, rstd, y]);
  return { y, rstd };
}

/**
 * The residual add fused with the norm after it: sum = a + b (the residual stream, returned) and
 * RMSNorm(sum), in one dispatch. The same values as addForward then rmsnormForward, bit for bit; the
 * backward pass is rmsnormBackward on `sum`, as for the two.
 */
export function addRmsnormForward(rt: Runtime, a: Tensor, b: Tensor, weight: Tensor, eps: number): RmsNormForward & { sum: Tensor } {
  const d = dimsOf('add + rmsnorm', a, weight);
  if (b.size !== a.size) throw new RangeError(`add + rmsnorm: b [${b.shape.join(', ')}] does not match a [${a.shape.join(', ')}]`);
  const sum = rt.empty(a.shape, 'f32', 'sum');
  const y = rt.empty(a.shape, 'f32', 'rmsnorm out');
  const rstd = rt.empty([d.rows], 'f32', 'rmsnorm rstd');
  rowwise(rt, 'add_forward', d, eps, [a, weight, rstd, y, b, sum]);
  return { sum, y, rstd };
}

export interface RmsNormBackwardOptions {
  /** false: skip the weight gradient (a frozen norm, as in LoRA). Default true. */
  weightGrad?: boolean;
  /** Add the weight gradient into this [C] tensor instead of allocating a new one. */
  accumulateInto?: Tensor;
}

export interface RmsNormBackward {
  dX: Tensor;
  /** null when `weightGrad: false`. */
  dWeight: Tensor | null;
}

export function rmsnormBackward(
  rt: Runtime,
  dOut: Tensor,
  x: Tensor,
  weight: Tensor,
  rstd: Tensor,
  options: RmsNormBackwardOptions = {},
): RmsNormBackward {
  const d = dimsOf('rmsnorm backward', x, weight);
  if (dOut.size !== x.size) throw new RangeError(`rmsnorm backward: dOut [${dOut.shape.join(', ')}] does not match x [${x.shape.join(', ')}]`);
  if (rstd.size !== d.rows) throw new RangeError(`rmsnorm backward: rstd [${rstd.shape.join(', ')}] must have ${d.rows} values, one per row of x [${x.shape.join(', ')}]`);
  const { weightGrad = true, accumulateInto } = options;
  if (accumulateInto && accumulateInto.size !== d.cols) throw new RangeError(`rmsnorm backward: accumulateInto ${accumulateInto} must have ${d.cols} values`);

  const dX = rt.empty(x.shape, 'f32', 'rmsnorm dx');
  rowwise(rt, 'backward_input', d, 0, [x, weight, rstd, dX, dOut]);
  if (!weightGrad) return { dX, dWeight: null };

  const dWeight = accumulateInto ?? rt.empty([d.cols], 'f32', 'rmsnorm dweight');
  const accumulate = accumulateInto !== undefined;
  const chunks = Math.max(1, ceilDiv(d.rows, ROWS_PER_CHUNK));
  // One chunk writes the gradient directly; more write partial rows that a second pass sums.
  const partial = chunks === 1 ? dWeight : rt.empty([chunks, d.cols], 'f32', 'rmsnorm dweight partial');
  const columnGroups = ceilDiv(d.vec4 ? d.cols / 4 : d.cols, WG);
  rt.dispatch({
    shader: 'rmsnorm',
    entryPoint: d.vec4 ? 'weight_grad4' : 'weight_grad',
    constants: { WG },
    uniforms: params(d, 0, 0, ROWS_PER_CHUNK, chunks, accumulate && chunks === 1),
    bindings: [x, dOut, rstd, partial],
    workgroups: [columnGroups, chunks],
  });
  if (chunks > 1) {
    rt.dispatch({
      shader: 'rmsnorm',
      entryPoint: 'sum_partials',
      constants: { WG },
      uniforms: params(d, 0, 0, ROWS_PER_CHUNK, chunks, accumulate),
      bindings: [partial, dWeight],
      workgroups: [ceilDiv(d.cols, WG)],
    });
    partial.release();
  }
  return { dX, dWeight };
}
