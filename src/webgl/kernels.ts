// The inference ops of a Llama forward as gpu.js kernels (WebGL2 / WebGL, or JavaScript in 'cpu' mode).
// A matrix [rows, cols] is a kernel output of size [cols, rows]: thread.x is the column, thread.y the
// row, and a kernel reads it as m[row][col]. Results stay on the GPU as textures (pipeline) until
// read; each op frees nothing of its inputs (the caller does, llama.ts).
//
// gpu.js fixes a kernel's output size and constants when it compiles, so kernels are cached per shape
// (llama.ts pads sequence lengths to a few sizes to keep the count small). Loops run to a constant
// bound and break, as GLSL ES needs. Sums accumulate in f32 on WebGL (f64 in 'cpu' mode, rounded to f32
// at each kernel's output).
import { readValue, releaseValue, type GpuJsInstance, type GpuJsKernel, type GpuJsLibrary, type GpuJsMode, type GpuJsValue } from './gpujs.ts';

export type { GpuJsValue } from './gpujs.ts';

// y[r][o] = Σ_k x[r][k]·w[o][k] (+ b[o]) (+ res[r][o]): a linear layer x·Wᵀ with W stored [out, in].
const MATMUL_T = (bias: boolean, residual: boolean) => `function (x, w${bias ? ', b' : ''}${residual ? ', res' : ''}) {
  let s = 0.0;
  for (let k = 0; k < this.constants.K; k++) { s += x[this.thread.y][k] * w[this.thread.x][k]; }
  return s${bias ? ' + b[this.thread.x]' : ''}${residual ? ' + res[this.thread.y][this.thread.x]' : ''};
}`;

// SwiGLU's first half fused: silu(x·w1ᵀ) * (x·w3ᵀ).
const SWIGLU = `function (x, w1, w3) {
  let g = 0.0;
  let u = 0.0;
  for (let k = 0; k < this.constants.K; k++) {
    const v = x[this.thread.y][k];
    g += v * w1[this.thread.x][k];
    u += v * w3[this.thread.x][k];
  }
  return g / (1.0 + Math.exp(-g)) * u;
}`;

// 1 / sqrt(mean(x²) + eps) of each group of G columns of a row: out [groups, rows] (G = the row for
// RMSNorm, one head for the q/k norms).
const RSTD = `function (x) {
  let s = 0.0;
  const base = this.thread.x * this.constants.G;
  for (let k = 0; k < this.constants.G; k++) { const v = x[this.thread.y][base + k]; s += v * v; }
  return 1.0 / Math.sqrt(s / this.constants.G + this.constants.eps);
}`;

const SCALE = `function (x, r, w) {
  const g = Math.floor(this.thread.x / this.constants.G);
  const c = this.thread.x - g * this.constants.G;
  return x[this.thread.y][this.thread.x] * r[this.thread.y][g] * w[c];
}`;

// RoPE: pair i of a head turns by angle pos·inv_freq[i], cos/sin from host tables [positions, pairs]
// (computed in f64, so long positions lose nothing to f32 sin/cos). pos = row mod T.
const ROPE = (interleaved: boolean) => `function (x, cosT, sinT) {
  const f = this.thread.x;
  const head = Math.floor(f / this.constants.HD);
  const within = f - head * this.constants.HD;
  const pos = this.thread.y - Math.floor(this.thread.y / this.constants.T) * this.constants.T;
  ${interleaved ? `const i = Math.floor(within / 2);
  const a = head * this.constants.HD + 2 * i;
  const b = a + 1;
  const second = within - 2 * i;` : `const half = this.constants.HD / 2;
  let i = within;
  let second = 0;
  if (within >= half) { i = within - half; second = 1; }
  const a = head * this.constants.HD + i;
  const b = a + half;`}
  const x0 = x[this.thread.y][a];
  const x1 = x[this.thread.y][b];
  const c = cosT[pos][i];
  const s = sinT[pos][i];
  if (second > 0) { return x0 * s + x1 * c; }
  return x0 * c - x1 * s;
}`;

// Causal attention of B sequences of T positions (rows b·T + i), H query heads over KV heads of HD
// features (head h reads kv head floor(h / GROUP)). lse[row][h] = log Σ_{s ≤ i} exp(q·k_s · SCALE).
const LOG_SUM_EXP = `function (q, k) {
  const row = this.thread.y;
  const h = this.thread.x;
  const i = row - Math.floor(row / this.constants.T) * this.constants.T;
  const base = row - i;
  const qo = h * this.constants.HD;
  const ko = Math.floor(h / this.constants.GROUP) * this.constants.HD;
  let m = -1e30;
  let l = 0.0;
  for (let s = 0; s < this.constants.T; s++) {
    if (s > i) { break; }
    let dot = 0.0;
    for (let d = 0; d < this.constants.HD; d++) { dot += q[row][qo + d] * k[base + s][ko + d]; }
    const sc = dot * this.constants.SCALE;
    if (sc > m) { l = l * Math.exp(m - sc) + 1.0; m = sc; } else { l += Math.exp(sc - m); }
  }
  return m + Math.log(l);
}`;

// The probabilities P[(b·H + h)·T + i][s] (zero for keys after the query).
const PROBS = `function (q, k, lse) {
  const r = this.thread.y;
  const s = this.thread.x;
  const bh = Math.floor(r / this.constants.T);
  const i = r - bh * this.constants.T;
  if (s > i) { return 0.0; }
  const b = Math.floor(bh / this.constants.H);
  const h = bh - b * this.constants.H;
  const qo = h * this.constants.HD;
  const ko = Math.floor(h / this.constants.GROUP) * this.constants.HD;
  let dot = 0.0;
  for (let d = 0; d < this.constants.HD; d++) { dot += q[b * this.constants.T + i][qo + d] * k[b * this.constants.T + s][ko + d]; }
  return Math.exp(dot * this.constants.SCALE - lse[b * this.constants.T + i][h]);
}`;

// Each head's output: out[b·T + i][h·HD + d] = Σ_{s ≤ i} P[(b·H + h)·T + i][s] · v[b·T + s][kv·HD + d].
const ATTEND = `function (p, v) {
  const row = this.thread.y;
  const b = Math.floor(row / this.constants.T);
  const i = row - b * this.constants.T;
  const h = Math.floor(this.thread.x / this.constants.HD);
  const d = this.thread.x - h * this.constants.HD;
  const vo = Math.floor(h / this.constants.GROUP) * this.constants.HD + d;
  const pr = (b * this.constants.H + h) * this.constants.T + i;
  let s = 0.0;
  for (let t = 0; t < this.constants.T; t++) {
    if (t > i) { break; }
    s += p[pr][t] * v[b * this.constants.T + t][vo];
  }
  return s;
}`;

// XTF's attention received: out[b·H + h][j] = Σ_{i > j} w[b][i] · P[(b·H + h)·T + i][j], the same sum
// as the WebGPU kernel attention_received (src/shaders/attention.part.wgsl).
const RECEIVED = `function (p, w) {
  const j = this.thread.x;
  const bh = this.thread.y;
  const b = Math.floor(bh / this.constants.H);
  let s = 0.0;
  for (let i = 0; i < this.constants.T; i++) {
    if (i > j) { s += w[b][i] * p[bh * this.constants.T + i][j]; }
  }
  return s;
}`;

// p(target) = exp(logit[target] − logsumexp(logits)) per row; targets as float ids.
const TARGET_PROB = `function (logits, targets) {
  const r = this.thread.x;
  let m = -1e30;
  for (let v = 0; v < this.constants.V; v++) { m = Math.max(m, logits[r][v]); }
  let l = 0.0;
  for (let v = 0; v < this.constants.V; v++) { l += Math.exp(logits[r][v] - m); }
  return Math.exp(logits[r][targets[r]] - m) / l;
}`;

const ROWS = `function (x, rows) { return x[rows[this.thread.y]][this.thread.x]; }`;
const COPY_2D = `function (a) { return a[this.thread.y][this.thread.x]; }`;
const COPY_1D = `function (a) { return a[this.thread.x]; }`;

/** An argument's shape, for the kernel cache: a texture's output size, an input()'s size, or an array's lengths ('cpu' mode). */
function shapeKey(v: GpuJsValue): string {
  const o = v as { output?: ArrayLike<number>; size?: ArrayLike<number>; length?: number; 0?: unknown };
  if (o.output) return Array.from(o.output).join('x');
  if (o.size) return Array.from(o.size).join('x');
  if (typeof o.length === 'number') return typeof o[0] === 'object' && o[0] !== null ? `${o.length}x${(o[0] as ArrayLike<number>).length}` : `${o.length}`;
  return typeof v;
}

/** The attention geometry one batch runs with. */
export interface AttentionShape {
  batch: number;
  seqLen: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

export class GpuJsOps {
  private readonly kernels = new Map<string, GpuJsKernel>();

  constructor(
    private readonly lib: GpuJsLibrary,
    readonly gpu: GpuJsInstance,
    readonly mode: GpuJsMode,
  ) {}

  /**
   * The op for this source, output size and constants; called with its arguments, it runs the kernel
   * compiled for them (on first use). gpu.js bakes each texture argument's size into the shader it
   * compiles, so a kernel compiled for one input size reads another wrongly: the argument shapes are part
   * of the key too (gatherRows reads a hidden state whose length the output does not fix).
   */
  private kernel(name: string, source: string, output: number[], constants: Record<string, number> = {}): (...args: GpuJsValue[]) => GpuJsValue {
    const base = `${name}|${output.join('x')}|${Object.entries(constants).map(([k, v]) => `${k}=${v}`).join(',')}`;
    return (...args) => {
      const key = `${base}|${args.map(shapeKey).join(';')}`;
      let k = this.kernels.get(key);
      if (!k) {
        // immutable: every call returns its own texture (otherwise a kernel reuses its output texture and a
        // second call overwrites the first's result); optimizeFloatMemory packs 4 floats a texel in a
        // square texture, so a long [rows, cols] output stays within the maximum texture size.
        k = this.gpu.createKernel(source, { output, constants, pipeline: true, immutable: true, precision: 'single', optimizeFloatMemory: true, tactic: 'precision' });
        this.kernels.set(key, k);
      }
      return k(...args);
    };
  }

  /** Host data [rows, cols] (rows = 0: a vector of cols) onto the GPU. */
  upload(data: Float32Array, rows: number, cols: number): GpuJsValue {
    if (data.length !== Math.max(rows, 1) * cols) throw new RangeError(`upload: ${data.length} values for [${rows}, ${cols}]`);
    if (rows === 0) return this.kernel('copy1', COPY_1D, [cols])(this.lib.input(data, [cols]));
    return this.kernel('copy2', COPY_2D, [cols, rows])(this.lib.input(data, [cols, rows]));
  }

  /** x [n, inF] · wᵀ (w [outF, inF]) (+ bias [outF]) (+ residual [n, outF]). */
  linear(x: GpuJsValue, w: GpuJsValue, n: number, inF: number, outF: number, extra: { bias?: GpuJsValue; residual?: GpuJsValue } = {}): GpuJsValue {
    const k = this.kernel(`mm${extra.bias ? 'b' : ''}${extra.residual ? 'r' : ''}`, MATMUL_T(!!extra.bias, !!extra.residual), [outF, n], { K: inF });
    const args = [x, w];
    if (extra.bias) args.push(extra.bias);
    if (extra.residual) args.push(extra.residual);
    return k(...args);
  }

  /** silu(x·w1ᵀ) * (x·w3ᵀ): [n, hidden]. */
  swiglu(x: GpuJsValue, w1: GpuJsValue, w3: GpuJsValue, n: number, dim: number, hidden: number): GpuJsValue {
    return this.kernel('swiglu', SWIGLU, [hidden, n], { K: dim })(x, w1, w3);
  }

  /** RMSNorm of each group of `group` columns of x [n, cols] with weight [group] (group = cols: the whole row). */
  rmsnorm(x: GpuJsValue, weight: GpuJsValue, n: number, cols: number, group: number, eps: number): GpuJsValue {
    const rstd = this.kernel('rstd', RSTD, [cols / group, n], { G: group, eps })(x);
    const y = this.kernel('scale', SCALE, [cols, n], { G: group })(x, rstd, weight);
    releaseValue(rstd);
    return y;
  }

  /** RoPE of x [n = B·T, cols] (heads of headDim back to back) at positions row mod T. */
  rope(x: GpuJsValue, cos: GpuJsValue, sin: GpuJsValue, n: number, cols: number, seqLen: number, headDim: number, interleaved: boolean): GpuJsValue {
    return this.kernel(interleaved ? 'rope-i' : 'rope-h', ROPE(interleaved), [cols, n], { HD: headDim, T: seqLen })(x, cos, sin);
  }

  /** Causal attention: the head outputs [B·T, H·HD] and the probabilities [B·H·T, T] (the caller frees them). */
  attention(q: GpuJsValue, k: GpuJsValue, v: GpuJsValue, a: AttentionShape): { out: GpuJsValue; probs: GpuJsValue } {
    const n = a.batch * a.seqLen;
    const c = { T: a.seqLen, HD: a.headDim, GROUP: a.heads / a.kvHeads, SCALE: 1 / Math.sqrt(a.headDim) };
    const lse = this.kernel('lse', LOG_SUM_EXP, [a.heads, n], c)(q, k);
    const probs = this.kernel('probs', PROBS, [a.seqLen, a.batch * a.heads * a.seqLen], { ...c, H: a.heads })(q, k, lse);
    releaseValue(lse);
    const out = this.kernel('attend', ATTEND, [a.heads * a.headDim, n], { T: a.seqLen, HD: a.headDim, GROUP: c.GROUP, H: a.heads })(probs, v);
    return { out, probs };
  }

  /** Attention received [B·H, T] from the probabilities and the query weights [B, T]. */
  received(probs: GpuJsValue, queryWeights: GpuJsValue, a: AttentionShape): GpuJsValue {
    return this.kernel('received', RECEIVED, [a.seqLen, a.batch * a.heads], { T: a.seqLen, H: a.heads })(probs, queryWeights);
  }

  /** p(targets[r]) under softmax(logits[r]) for logits [n, vocab]: [n]. */
  targetProb(logits: GpuJsValue, targets: GpuJsValue, n: number, vocab: number): GpuJsValue {
    return this.kernel('target-prob', TARGET_PROB, [n], { V: vocab })(logits, targets);
  }

  /** Rows `rows` (a vector of indices) of x [*, cols]: [rows.length, cols]. */
  gatherRows(x: GpuJsValue, rows: GpuJsValue, count: number, cols: number): GpuJsValue {
    return this.kernel('rows', ROWS, [cols, count])(x, rows);
  }

  read(v: GpuJsValue): Float32Array {
    return readValue(v);
  }

  release(...values: GpuJsValue[]): void {
    for (const v of values) releaseValue(v);
  }

  /** Kernels compiled so far (one per op and shape). */
  get compiled(): number {
    return this.kernels.size;
  }

  destroy(): void {
    for (const k of this.kernels.values()) k.destroy?.();
    this.kernels.clear();
  }
}
