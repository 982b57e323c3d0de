// Batched f32 matmul C = alpha·op(A)·op(B) (+ C), op = identity or transpose, and its backward.
// Storage is row-major: A [..., M, K] (transA: [..., K, M]), B [..., K, N] (transB: [..., N, K]),
// C [..., M, N]. Leading dims are a batch; an operand without them is shared across the batch
// (weights), and its gradient is summed over the batch inside the kernel.
//
// Kernels (src/shaders/matmul.wgsl, matmul_quad.wgsl) read rows as vec4s and K in steps of 4;
// operands whose rows are not whole vec4s, or whose K is not a multiple of 4, are first copied
// into zero-padded scratch buffers (one cheap pass, only for such shapes). With the `subgroups`
// feature the quad kernel shares loads between the four invocations of a quad, and where the subgroups
// are exactly 8 lanes wide (lavapipe) the octet kernels share them across all 8 (kernel-choice.ts).
// Outputs of a few rows (a decode step) take `skinny`, one 4x4 block per invocation.
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { ceilDiv, flatGrid } from './grid.ts';
import { eightLaneSubgroups, kernelChoices } from './kernel-choice.ts';

export type MatmulKernel = 'auto' | 'portable' | 'subgroups' | 'octets' | 'skinny';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  /** Scales the product (default 1). */
  alpha?: number;
  /** C += alpha·op(A)·op(B) into this tensor, which is returned. */
  accumulateInto?: Tensor;
  /** C = alpha·op(A)·op(B) into this tensor instead of a new one. */
  out?: Tensor;
  /** Sum the batch into one [M, N] output: C = Σ_b alpha·op(A_b)·op(B_b). */
  sumBatch?: boolean;
  /** Force a kernel family (tests and benchmarks); 'auto' takes the octets where the subgroups are 8 lanes
   *  wide, else the quads where the device has subgroups (pickKernel). */
  kernel?: MatmulKernel;
  /** A low-rank term added in the same dispatch (LoRA fused into its projection). */
  lowRank?: LowRankTerm;
}

/**
 * The term lowRank.alpha·op(a)·op(b) of C = alpha·op(A)·op(B) + lowRank.alpha·op(a)·op(b), under the main
 * product's transposes: op(a) [M, r], op(b) [r, N], with the main product's batch dims or none (shared).
 * The kernel sums it after the main product's k loop into the same accumulators: one dispatch and one
 * pass over C instead of two, which is most of what a rank-8 product costs on small models.
 */
export interface LowRankTerm {
  a: Tensor;
  b: Tensor;
  alpha: number;
}

export interface MatmulBackwardOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  /** Add dA into this tensor instead of returning a new one. */
  accumulateA?: Tensor;
  /** Add dB into this tensor instead of returning a new one. */
  accumulateB?: Tensor;
  /** Skip dA (frozen or input operand). */
  skipA?: boolean;
  /** Skip dB. */
  skipB?: boolean;
  kernel?: MatmulKernel;
}

/** The sizes of one matmul call after shape checks. */
export interface MatmulDims {
  M: number;
  N: number;
  K: number;
  /** Leading (batch) dims of the output, [] when neither operand is batched. */
  batchShape: number[];
  batch: number;
  aBatched: boolean;
  bBatched: boolean;
}

const TILE_M = 16; // output rows per group of four invocations
const QUADS_PER_GROUP = 16;
const OCTETS_PER_GROUP = 8; // subgroups of 8 in a workgroup of 64 (the octet kernels)
const PAD_WG = 256;
// Outputs short enough for `skinny` (4x4 blocks per invocation): per adapter, in ./kernel-choice.ts.

const shapeOf = (t: Tensor) => `[${t.shape.join(', ')}]`;
const sameShape = (x: readonly number[], y: readonly number[]) => x.length === y.length && x.every((d, i) => d === y[i]);
const prod = (xs: readonly number[]) => xs.reduce((s, d) => s * d, 1);
const roundUp4 = (n: number) => Math.ceil(n / 4) * 4;

/** Checks the operand shapes of C = op(A)·op(B) and returns the sizes. */
export function matmulDims(a: Tensor, b: Tensor, transA = false, transB = false): MatmulDims {
  const what = () => `matmul: A ${shapeOf(a)}${transA ? 'ᵀ' : ''} · B ${shapeOf(b)}${transB ? 'ᵀ' : ''}`;
  if (a.dtype !== 'f32' || b.dtype !== 'f32') throw new RangeError(`${what()}: f32 tensors only (got ${a.dtype}, ${b.dtype})`);
  if (a.shape.length < 2 || b.shape.length < 2) throw new RangeError(`${what()}: operands need at least 2 dims`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [M, Ka] = transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = transB ? [bc, br] : [br, bc];
  if (Ka !== Kb) throw new RangeError(`${what()}: inner dimensions differ (${Ka} vs ${Kb})`);
  const aLead = a.shape.slice(0, -2);
  const bLead = b.shape.slice(0, -2);
  const aBatched = aLead.length > 0;
  const bBatched = bLead.length > 0;
  if (aBatched && bBatched && !sameShape(aLead, bLead)) {
    throw new RangeError(`${what()}: batch dims differ ([${aLead.join(', ')}] vs [${bLead.join(', ')}]); one operand may also have none`);
  }
  const batchShape = aBatched ? aLead : bLead;
  return { M, N, K: Ka, batchShape, batch: prod(batchShape), aBatched, bBatched };
}

/** Operand storage as the kernel reads it: rows of whole vec4s, K padded to a multiple of 4. */
interface Operand {
  tensor: Tensor;
  /** Row stride in vec4s. */
  rowStride4: number;
  /** Rows in storage (per batch matrix). */
  rows: number;
  scratch: boolean;
}

/**
 * Copies x (matrices [rows, cols]) to zero-padded storage [rowsOut, roundUp4(cols)] when its rows
 * are not whole vec4s or its K side (the rows when kAlongRows) must grow to a multiple of 4.
 */
function prepareOperand(rt: Runtime, x: Tensor, K: number, kAlongRows: boolean): Operand {
  const [rows, cols] = x.shape.slice(-2);
  const cols4 = Math.ceil(cols / 4);
  const rowsOut = kAlongRows ? roundUp4(K) : rows;
  if (cols % 4 === 0 && rowsOut === rows) return { tensor: x, rowStride4: cols / 4, rows, scratch: false };
  const batch = prod(x.shape.slice(0, -2));
  const total4 = batch * rowsOut * cols4;
  const padded = rt.empty([batch, rowsOut, cols4 * 4], 'f32', `${x.label} (padded for matmul)`);
  const grid = flatGrid(total4, PAD_WG);
  rt.dispatch({
    shader: 'matmul',
    entryPoint: 'pad',
    uniforms: new Uniforms().u32(rows).u32(cols).u32(rowsOut).u32(cols4).u32(total4).u32(grid.rowGroups).bytes(),
    bindings: [x, padded],
    workgroups: total4 === 0 ? [0] : grid.workgroups,
  });
  return { tensor: padded, rowStride4: cols4, rows: rowsOut, scratch: true };
}

interface KernelChoice {
  shader: string;
  entryPoint: string;
  /** Output rows and columns of a tile, and tiles per workgroup. */
  tileM: number;
  tileN: number;
  tilesPerGroup: number;
}

/** Which shader and entry point `matmul` runs for an M x N output here (benchmark headers). */
export function describeMatmulKernel(rt: Runtime, M: number, N: number, kernel: MatmulKernel = 'auto'): string {
  const k = pickKernel(rt, M, N, kernel);
  return `${k.shader}.${k.entryPoint}`;
}

/** The one place a kernel variant is chosen: by output height, device feature, then output width. */
function pickKernel(rt: Runtime, M: number, N: number, kernel: MatmulKernel = 'auto'): KernelChoice {
  if (kernel === 'subgroups' && !rt.hasFeature('subgroups')) throw new Error("matmul: kernel 'subgroups' requested but the device has no 'subgroups' feature");
  if (kernel === 'octets' && !eightLaneSubgroups(rt)) {
    const sizes = rt.report.subgroupSizes;
    throw new Error(`matmul: kernel 'octets' requested but the device's subgroups are not exactly 8 lanes wide (${sizes ? `${sizes.min}-${sizes.max}` : 'width not reported'}${rt.hasFeature('subgroups') ? '' : ', no subgroups feature'})`);
  }
  if (kernel === 'skinny' || (kernel === 'auto' && M <= kernelChoices(rt).matmul.skinnyMaxM)) return { shader: 'matmul', entryPoint: 'skinny', tileM: 4, tileN: 4, tilesPerGroup: 64 };
  const octets = kernel === 'octets' || (kernel === 'auto' && kernelChoices(rt).matmul.octets);
  const quads = octets || kernel === 'subgroups' || (kernel === 'auto' && rt.hasFeature('subgroups'));
  if (!quads) return { shader: 'matmul', entryPoint: 'main', tileM: TILE_M, tileN: 16, tilesPerGroup: QUADS_PER_GROUP };
  // Narrow outputs (LoRA rank) take 16-column tiles: wider ones would waste most of their columns. Tall
  // ones of at most 8 columns (x·Aᵀ and dY·B over all B·T rows) take the octets' 128x8 tiles: 1.45-1.65x
  // on lavapipe from K 172 up (1.03x at K 64); on fewer rows than a workgroup's 8 tiles (the gradient of
  // B, out x 8) they idled most of its lanes and took twice as long.
  if (octets && N <= 8 && M >= 128 * OCTETS_PER_GROUP) return { shader: 'matmul_quad', entryPoint: 'octet_narrow', tileM: 128, tileN: 8, tilesPerGroup: OCTETS_PER_GROUP };
  if (N <= 16) return { shader: 'matmul_quad', entryPoint: 'narrow', tileM: TILE_M, tileN: 16, tilesPerGroup: QUADS_PER_GROUP };
  // 32x64 octet tiles were the fastest on lavapipe from 64 columns up (even at 100 or 288, with a partial
  // last tile), 32x32 ones at 32 columns (1.7x the wide ones there).
  if (octets) return N <= 32 ? { shader: 'matmul_quad', entryPoint: 'octet', tileM: 32, tileN: 32, tilesPerGroup: OCTETS_PER_GROUP } : { shader: 'matmul_quad', entryPoint: 'octet_wide', tileM: 32, tileN: 64, tilesPerGroup: OCTETS_PER_GROUP };
  // 16x32 tiles are ~10% faster than 16x16 on wide outputs.
  return { shader: 'matmul_quad', entryPoint: 'main', tileM: TILE_M, tileN: 32, tilesPerGroup: QUADS_PER_GROUP };
}

/**
 * C = alpha·op(A)·op(B), or C += ... into `accumulateInto`. Returns C [...batch, M, N]
 * ([M, N] with `sumBatch`). Recorded on the runtime's encoder like every op; nothing is read back.
 */
export function matmul(rt: Runtime, a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const alpha = opts.alpha ?? 1;
  const d = matmulDims(a, b, transA, transB);
  const { M, N, K } = d;
  const outShape = opts.sumBatch ? [M, N] : [...d.batchShape, M, N];
  const batchOut = opts.sumBatch ? 1 : d.batch;
  const reduce = opts.sumBatch ? d.batch : 1;
  if (opts.out && opts.accumulateInto) throw new RangeError('matmul: give either out or accumulateInto, not both');
  const target = opts.accumulateInto ?? opts.out;
  if (target) {
    if (target.dtype !== 'f32' || target.size !== prod(outShape)) {
      throw new RangeError(`matmul: ${opts.accumulateInto ? 'accumulateInto' : 'out'} ${shapeOf(target)} does not hold the result [${outShape.join(', ')}]`);
    }
    if ([a, b, opts.lowRank?.a, opts.lowRank?.b].some((t) => t?.buffer === target.buffer)) throw new RangeError('matmul: the output must not share a buffer with an operand');
  }
  const c = target ?? rt.empty(outShape, 'f32', 'matmul out');
  if (M === 0 || N === 0 || batchOut === 0) return c;
  if (K === 0 && opts.lowRank && reduce !== 0) {
    // Nothing to fuse into: the low-rank term alone.
    const { lowRank, alpha: _, ...rest } = opts;
    return matmul(rt, lowRank.a, lowRank.b, { ...rest, alpha: lowRank.alpha, ...(target ? {} : { out: c }) });
  }
  if (K === 0 || reduce === 0) {
    // An empty sum: C = 0 (or unchanged when accumulating).
    if (!opts.accumulateInto) rt.clear(c);
    return c;
  }

  const low = opts.lowRank ? lowRankOperands(rt, d, opts, transA, transB) : null;
  const main = kernelOperands(rt, a, b, d, transA, transB);
  const kern = pickKernel(rt, M, N, opts.kernel);
  const tilesN = ceilDiv(N, kern.tileN);
  const tiles = ceilDiv(M, kern.tileM) * tilesN;
  const groups = ceilDiv(tiles, kern.tilesPerGroup);
  // A square-ish 2D grid: far below the per-dimension limit for any size, and the same code path
  // (tile = (y·groups_x + x)·16 + quad) for small and large outputs alike.
  const groupsX = Math.ceil(Math.sqrt(groups));
  const uniforms = new Uniforms()
    .u32(M).u32(N).u32(main.k4).u32(tilesN)
    .u32(tiles).u32(reduce).u32(opts.accumulateInto ? 1 : 0).f32(alpha);
  for (const v of main.layout) uniforms.u32(v);
  uniforms.u32(M * N).u32(groupsX).u32(low?.k4 ?? 0).f32(low?.scale ?? 0);
  // Without a low-rank term its layout is zeros and its bindings the main operands again (never read: lr_k4 is 0).
  for (const v of low?.layout ?? main.layout.map(() => 0)) uniforms.u32(v);
  rt.dispatch({
    shader: kern.shader,
    entryPoint: kern.entryPoint,
    constants: { TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0 },
    uniforms: uniforms.bytes(),
    bindings: [main.A.tensor, main.B.tensor, c, (low ?? main).A.tensor, (low ?? main).B.tensor],
    workgroups: [groupsX, ceilDiv(groups, groupsX), batchOut],
  });
  // Released scratch is recycled only after the submit that carries this dispatch.
  for (const o of [main.A, main.B, low?.A, low?.B]) if (o?.scratch) o.tensor.release();
  return c;
}

/**
 * Both operands of one product as the kernel reads them, and their layout in the order of the kernel's
 * Params: A's row stride, last valid M-side index (a row, or a vec4 column when transposed) and batch
 * stride (0 when shared), then B's likewise on the N side; all in vec4s except the row index.
 */
interface KernelOperands {
  A: Operand;
  B: Operand;
  k4: number;
  layout: [number, number, number, number, number, number];
}

function kernelOperands(rt: Runtime, a: Tensor, b: Tensor, d: MatmulDims, transA: boolean, transB: boolean): KernelOperands {
  const A = prepareOperand(rt, a, d.K, transA);
  const B = prepareOperand(rt, b, d.K, !transB);
  return {
    A,
    B,
    k4: roundUp4(d.K) / 4,
    layout: [
      A.rowStride4, transA ? A.rowStride4 - 1 : d.M - 1, d.aBatched ? A.rows * A.rowStride4 : 0,
      B.rowStride4, transB ? d.N - 1 : B.rowStride4 - 1, d.bBatched ? B.rows * B.rowStride4 : 0,
    ],
  };
}

/**
 * Checks a low-rank term against the main product's sizes and lays its operands out like the main ones;
 * `scale` is its alpha relative to the main product's (the kernel scales the sum by alpha).
 */
function lowRankOperands(rt: Runtime, d: MatmulDims, opts: MatmulOptions, transA: boolean, transB: boolean): KernelOperands & { scale: number } {
  const term = opts.lowRank!;
  const l = matmulDims(term.a, term.b, transA, transB);
  const what = `matmul: low-rank term ${shapeOf(term.a)}·${shapeOf(term.b)}`;
  if (l.M !== d.M || l.N !== d.N) throw new RangeError(`${what} is [${l.M}, ${l.N}], the product [${d.M}, ${d.N}]`);
  if ((l.aBatched && !sameShape(l.batchShape, d.batchShape)) || (l.bBatched && !sameShape(l.batchShape, d.batchShape))) {
    throw new RangeError(`${what}: batch dims [${l.batchShape.join(', ')}] differ from the product's [${d.batchShape.join(', ')}]`);
  }
  if (opts.sumBatch) throw new RangeError(`${what}: not with sumBatch`);
  const alpha = opts.alpha ?? 1;
  if (alpha === 0) throw new RangeError(`${what}: the product's alpha must not be 0`);
  return { ...kernelOperands(rt, term.a, term.b, l, transA, transB), scale: term.alpha / alpha };
}

/**
 * Gradients of C = alpha·op(A)·op(B) given dC: dA (shape of a) and dB (shape of b). An operand
 * shared across the batch gets its gradient summed over the batch.
 *   dop(A) = alpha·dC·op(B)ᵀ,  dop(B) = alpha·op(A)ᵀ·dC
 */
export function matmulBackward(rt: Runtime, a: Tensor, b: Tensor, dC: Tensor, opts: MatmulBackwardOptions = {}): { dA: Tensor | null; dB: Tensor | null } {
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const alpha = opts.alpha ?? 1;
  const d = matmulDims(a, b, transA, transB);
  const cShape = [...d.batchShape, d.M, d.N];
  if (dC.size !== prod(cShape)) throw new RangeError(`matmul backward: dC ${shapeOf(dC)} does not match C [${cShape.join(', ')}]`);
  // Give dC the batch dims the forward output had, so that the calls below see matching batches.
  const dCv = sameShape(dC.shape, cShape) ? dC : dC.view(cShape);
  const kernel = opts.kernel;
  let dA: Tensor | null = null;
  let dB: Tensor | null = null;
  if (!opts.skipA) {
    const common = { alpha, sumBatch: !d.aBatched && d.bBatched, kernel, ...(opts.accumulateA ? { accumulateInto: opts.accumulateA } : {}) };
    // dA = dC·op(B)ᵀ, or transposed: dA = op(B)·dCᵀ.
    dA = transA ? matmul(rt, b, dCv, { ...common, transA: transB, transB: true }) : matmul(rt, dCv, b, { ...common, transB: !transB });
    if (!opts.accumulateA && !sameShape(dA.shape, a.shape)) dA = dA.view(a.shape);
  }
  if (!opts.skipB) {
    const common = { alpha, sumBatch: !d.bBatched && d.aBatched, kernel, ...(opts.accumulateB ? { accumulateInto: opts.accumulateB } : {}) };
    // dB = op(A)ᵀ·dC, or transposed: dB = dCᵀ·op(A).
    dB = transB ? matmul(rt, dCv, a, { ...common, transA: true, transB: transA }) : matmul(rt, a, dCv, { ...common, transA: !transA });
    if (!opts.accumulateB && !sameShape(dB.shape, b.shape)) dB = dB.view(b.shape);
  }
  return { dA, dB };
}
