// gpu.js side of bench/kernels.ts, run inside headless Chromium next to gpu.js's browser bundle
// (WebGL2 through ANGLE on SwiftShader: the same software Vulkan driver the WebGPU numbers use).
// Plain browser JavaScript, loaded with a <script> tag: gpu.js compiles kernels from function
// source, so the kernels below must stay plain functions.
//
// Operands are uploaded to float textures once; each timed call runs the kernel into a texture and
// reads the result back (gpu.js has no other way to wait for the GPU), so the times include one
// readback of C (4 MB at 1024², small next to the multiply).

/* global GPU */
window.runGpuJsBench = async function runGpuJsBench(config) {
  const GPUClass = window.GPU.GPU || window.GPU;
  const gpu = new GPUClass({ mode: 'webgl2' });
  const out = { mode: gpu.mode, matmul: {}, layer: null };

  let seed = 12345;
  const random = (n) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      seed = (seed * 1664525 + 1013904223) >>> 0;
      a[i] = seed / 4294967296 - 0.5;
    }
    return a;
  };
  const uploaders = new Map();
  /** A [rows, cols] float texture with random contents. */
  const texture = (rows, cols) => {
    const key = `${rows}x${cols}`;
    if (!uploaders.has(key)) {
      uploaders.set(key, gpu.createKernel(function (x) { return x[this.thread.y][this.thread.x]; }, { output: [cols, rows], pipeline: true, immutable: true, precision: 'single' }));
    }
    return uploaders.get(key)(GPU.input(random(rows * cols), [cols, rows]));
  };
  // C [M, N] = A·B, A·Bᵀ (B stored [N, K]) and Aᵀ·B (A stored [K, M]).
  const kernels = {
    nn: function (a, b) { let s = 0; for (let k = 0; k < this.constants.K; k++) { s += a[this.thread.y][k] * b[k][this.thread.x]; } return s; },
    nt: function (a, b) { let s = 0; for (let k = 0; k < this.constants.K; k++) { s += a[this.thread.y][k] * b[this.thread.x][k]; } return s; },
    tn: function (a, b) { let s = 0; for (let k = 0; k < this.constants.K; k++) { s += a[k][this.thread.y] * b[k][this.thread.x]; } return s; },
  };
  const matmulKernel = (layout, M, N, K) => gpu.createKernel(kernels[layout], { output: [N, M], constants: { K }, pipeline: true, precision: 'single' });
  const best = async (fn, reps) => {
    let t = Infinity;
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      fn();
      t = Math.min(t, performance.now() - t0);
      await new Promise((r) => setTimeout(r, 0));
    }
    return t;
  };

  for (const [n, reps] of config.sizes) {
    const a = texture(n, n), b = texture(n, n);
    const mm = matmulKernel('nn', n, n, n);
    mm(a, b).toArray(); // compile and warm up
    const ms = await best(() => mm(a, b).toArray(), reps);
    out.matmul[n] = { ms, gflops: (2 * n ** 3) / ms / 1e6 };
  }

  if (config.layer) {
    const { tokens: T, projections } = config.layer;
    const xs = {};
    const steps = [];
    let flops = 0;
    for (const [name, outDim, inDim] of projections) {
      const x = xs[inDim] || (xs[inDim] = texture(T, inDim));
      const w = texture(outDim, inDim);
      const dY = texture(T, outDim);
      const fwd = matmulKernel('nt', T, outDim, inDim); // y = x·Wᵀ
      const dX = matmulKernel('nn', T, inDim, outDim); // dX = dY·W
      const dW = matmulKernel('tn', outDim, inDim, T); // dW = dYᵀ·x
      steps.push(() => fwd(x, w), () => dX(dY, w), () => dW(dY, x));
      flops += 3 * 2 * T * outDim * inDim;
      void name;
    }
    // WebGL runs in order: reading the last result waits for all of them.
    const run = () => { let last = null; for (const s of steps) last = s(); last.toArray(); };
    run(); // compile and warm up
    const ms = await best(run, config.layer.reps);
    out.layer = { ms, gflops: flops / ms / 1e6 };
  }
  return out;
};
