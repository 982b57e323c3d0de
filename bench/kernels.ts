// Kernel benchmark: f32 matmul GFLOP/s at 256, 512, 1024 and for the matmuls of one Llama layer
// (stories15M: dim 288, hidden 768, 6 heads, 2048 tokens; q, k, v, o, w1, w2, w3 forward plus their
// dX and dW backward), for this project's kernels and, on the same machine in the same run, two
// peers: TensorFlow.js's WebGPU backend (in this process, on the same Dawn adapter) and gpu.js
// (WebGL2 in headless Chromium: ANGLE on the same SwiftShader Vulkan driver, because gpu.js's
// Node path needs headless-gl, which does not build here).
//
//   npm run bench:kernels [-- --quick] [-- --no-peers]
//
// The machine's native BLAS is the yardstick: PyTorch on the CPU (bench/torch_llama.py --blas-only, run
// after ours so the two do not share the cores) times its matmul 1024 and names the BLAS it called; our
// matmul 1024 is printed as a share of it (none on the generic reference BLAS, which is not native speed).
//
// Times are wall clock, best of several runs after a warm-up: for WebGPU from the submit to
// onSubmittedWorkDone (one submit for a whole layer), for gpu.js including one readback of the
// result. The LAST line printed is one JSON object (see `summary` below) for scripts.
import { loadavg, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { create, globals } from 'webgpu';
import { Runtime, type Tensor } from '../src/gpu/index.ts';
import { describeMatmulKernel, matmul } from '../src/ops/matmul.ts';
import { describeKernelChoices, kernelChoices } from '../src/ops/kernel-choice.ts';
import { installQuietWait, uninstallQuietWait } from '../src/gpu/dawn-wait.ts';
import { describePeer, runTorchPeer } from './torch-peer.ts';
import { LAVAPIPE_FOR_DAWN, SWIFTSHADER_ICD } from '../scripts/gpu-env.mjs';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const PEERS = !args.has('--no-peers');
const here = dirname(fileURLToPath(import.meta.url));

/** [size, timed repetitions]; the slow peers get fewer. */
const SIZES: [number, number][] = [
  [256, 8],
  [512, 5],
  [1024, 4],
];
const PEER_SIZES: [number, number][] = [
  [256, 3],
  [512, 2],
  [1024, 1],
];

// stories15M: [name, out, in] of each projection of one layer (n_kv_heads = n_heads, so k and v
// are dim x dim too).
const TOKENS = 2048;
const DIM = 288;
const HIDDEN = 768;
const PROJECTIONS: [string, number, number][] = [
  ['wq', DIM, DIM],
  ['wk', DIM, DIM],
  ['wv', DIM, DIM],
  ['wo', DIM, DIM],
  ['w1', HIDDEN, DIM],
  ['w3', HIDDEN, DIM],
  ['w2', DIM, HIDDEN],
];
const LAYER_FLOPS = PROJECTIONS.reduce((s, [, o, i]) => s + 3 * 2 * TOKENS * o * i, 0);

const gflops = (flops: number, ms: number) => flops / ms / 1e6;
const fmt = (x: number | null | undefined, digits = 2) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits));

function random(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

async function best(run: () => Promise<void>, reps: number): Promise<number> {
  await run(); // warm-up: pipeline compilation, buffer allocation
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

// ---- this project ---------------------------------------------------------------------------

async function benchOurs(rt: Runtime): Promise<{ matmul: Record<number, number>; layer: number; busyWait1024: number; quad1024: number | null }> {
  const matmulGf: Record<number, number> = {};
  let busyWait1024 = NaN;
  let quad1024: number | null = null;
  for (const [n, reps] of SIZES) {
    const a = rt.upload(random(n * n, n), [n, n]);
    const b = rt.upload(random(n * n, n + 1), [n, n]);
    const c = rt.empty([n, n]);
    const run = async () => {
      matmul(rt, a, b, { out: c });
      await rt.sync();
    };
    matmulGf[n] = gflops(2 * n ** 3, await best(run, reps));
    if (n === 1024) {
      // The same kernel with Dawn's default busy-wait (see src/gpu/dawn-wait.ts), for the record.
      uninstallQuietWait();
      busyWait1024 = gflops(2 * n ** 3, await best(run, 2));
      installQuietWait();
      // Where the octet kernels are chosen, the quad kernel they replaced, in the same run.
      if (kernelChoices(rt).matmul.octets) {
        quad1024 = gflops(2 * n ** 3, await best(async () => {
          matmul(rt, a, b, { out: c, kernel: 'subgroups' });
          await rt.sync();
        }, reps));
      }
    }
    for (const t of [a, b, c]) t.release();
  }

  // One layer: forward y = x·Wᵀ, backward dX = dY·W and dW += dYᵀ·x, as src/model/linear.ts calls them.
  const xs = new Map<number, Tensor>();
  const tensors: Tensor[] = [];
  const steps: (() => void)[] = [];
  PROJECTIONS.forEach(([, out, inp], i) => {
    if (!xs.has(inp)) xs.set(inp, rt.upload(random(TOKENS * inp, 100 + inp), [TOKENS, inp]));
    const x = xs.get(inp)!;
    const w = rt.upload(random(out * inp, 200 + i), [out, inp]);
    const dY = rt.upload(random(TOKENS * out, 300 + i), [TOKENS, out]);
    const y = rt.empty([TOKENS, out]);
    const dX = rt.empty([TOKENS, inp]);
    const dW = rt.zeros([out, inp]);
    tensors.push(w, dY, y, dX, dW);
    steps.push(() => {
      matmul(rt, x, w, { transB: true, out: y });
      matmul(rt, dY, w, { out: dX });
      matmul(rt, dY, x, { transA: true, accumulateInto: dW });
    });
  });
  const layerMs = await best(async () => {
    for (const s of steps) s();
    await rt.sync();
  }, QUICK ? 1 : 3);
  for (const t of [...tensors, ...xs.values()]) t.release();
  return { matmul: matmulGf, layer: gflops(LAYER_FLOPS, layerMs), busyWait1024, quad1024 };
}

// ---- TensorFlow.js, WebGPU backend, same Dawn instance ---------------------------------------

interface PeerResult {
  matmul: Record<number, number>;
  layer: number | null;
  note?: string;
}

async function benchTfjs(): Promise<PeerResult> {
  // The backend registers itself at import time when navigator.gpu exists (set up in main()).
  const tf = await import('@tensorflow/tfjs-core');
  const webgpu = await import('@tensorflow/tfjs-backend-webgpu');
  await tf.setBackend('webgpu');
  await tf.ready();
  // Flush the way the backend itself does when its batch is full, then wait like our runtime does.
  const backend = tf.backend() as unknown as { commandEncoder: GPUCommandEncoder | null; endComputePassEncoder(): void; submitQueue(): void; device: GPUDevice };
  if (!(tf.backend() instanceof webgpu.WebGPUBackend)) throw new Error('the webgpu backend did not initialise');
  const sync = async () => {
    if (backend.commandEncoder) {
      backend.endComputePassEncoder();
      backend.submitQueue();
    }
    await backend.device.queue.onSubmittedWorkDone();
  };
  const matmulGf: Record<number, number> = {};
  for (const [n, reps] of PEER_SIZES) {
    const a = tf.tensor2d(random(n * n, n), [n, n]);
    const b = tf.tensor2d(random(n * n, n + 1), [n, n]);
    const ms = await best(async () => {
      const c = tf.matMul(a, b);
      await sync();
      c.dispose();
    }, reps);
    matmulGf[n] = gflops(2 * n ** 3, ms);
    tf.dispose([a, b]);
  }
  let layer: number | null = null;
  if (!QUICK) {
    const xs = new Map<number, ReturnType<typeof tf.tensor2d>>();
    const ops: (() => ReturnType<typeof tf.matMul>[])[] = [];
    const keep: ReturnType<typeof tf.tensor2d>[] = [];
    PROJECTIONS.forEach(([, out, inp], i) => {
      if (!xs.has(inp)) xs.set(inp, tf.tensor2d(random(TOKENS * inp, 100 + inp), [TOKENS, inp]));
      const x = xs.get(inp)!;
      const w = tf.tensor2d(random(out * inp, 200 + i), [out, inp]);
      const dY = tf.tensor2d(random(TOKENS * out, 300 + i), [TOKENS, out]);
      keep.push(w, dY);
      ops.push(() => [tf.matMul(x, w, false, true), tf.matMul(dY, w), tf.matMul(dY, x, true, false)]);
    });
    const ms = await best(async () => {
      const outs = ops.flatMap((op) => op());
      await sync();
      tf.dispose(outs);
    }, 1);
    layer = gflops(LAYER_FLOPS, ms);
    tf.dispose([...keep, ...xs.values()]);
  }
  return { matmul: matmulGf, layer };
}

// ---- gpu.js in headless Chromium ---------------------------------------------------------------

async function benchGpuJs(): Promise<PeerResult & { renderer: string }> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // Chromium's WebGL2 runs on SwiftShader, whatever driver this process's Dawn was given.
    env: process.env.VK_ICD_FILENAMES === LAVAPIPE_FOR_DAWN.icd ? { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD } : process.env,
    headless: true,
    // As in SOFTWARE-GPU.md; WebGL2 then runs on ANGLE's Vulkan backend over SwiftShader.
    args: ['--no-sandbox', '--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    await page.setContent('<!doctype html><html><body></body></html>');
    await page.addScriptTag({ path: join(here, '..', 'node_modules', 'gpu.js', 'dist', 'gpu-browser.min.js') });
    await page.addScriptTag({ path: join(here, 'gpujs-page.js') });
    const renderer = await page.evaluate(`(() => {
      const gl = document.createElement('canvas').getContext('webgl2');
      const info = gl && gl.getExtension('WEBGL_debug_renderer_info');
      return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : 'unknown';
    })()`);
    const config = { sizes: PEER_SIZES, layer: QUICK ? null : { tokens: TOKENS, projections: PROJECTIONS, reps: 1 } };
    const r = (await page.evaluate(`runGpuJsBench(${JSON.stringify(config)})`)) as {
      mode: string;
      matmul: Record<number, { gflops: number }>;
      layer: { gflops: number } | null;
    };
    const matmulGf: Record<number, number> = {};
    for (const [n] of PEER_SIZES) matmulGf[n] = r.matmul[n].gflops;
    return { matmul: matmulGf, layer: r.layer?.gflops ?? null, renderer: `${r.mode} on ${renderer}` };
  } finally {
    await browser.close();
  }
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  // One Dawn instance for the whole process: the runtime and TF.js both take it from navigator.gpu.
  Object.assign(globalThis, globals);
  const gpu = create([]);
  if (!('navigator' in globalThis)) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
  Object.defineProperty((globalThis as unknown as { navigator: object }).navigator, 'gpu', { value: gpu, configurable: true });
  installQuietWait();

  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  console.log(`kernel benchmark: f32 matmul, wall clock, best of N after warm-up; ${cpus().length} CPUs, load average ${load}`);
  const rt = await Runtime.create();
  const adapter = rt.report.summary;
  const kernel = `${describeMatmulKernel(rt, 1024, 1024)} at 1024`;
  console.log(`adapter: ${adapter}; kernel: ${kernel}`);
  console.log(describeKernelChoices(rt));
  console.log("waiting: Dawn's busy-wait replaced by ~1 ms polls for every WebGPU client here (src/gpu/dawn-wait.ts; the runtime installs it for its own Dawn instance)");

  const ours = await benchOurs(rt);
  rt.destroy();

  const blas = PEERS ? runTorchPeer<Record<string, never>>(['--blas-only']) : null;
  let tfjs: PeerResult = { matmul: {}, layer: null };
  let gpujs: PeerResult & { renderer?: string } = { matmul: {}, layer: null };
  if (PEERS) {
    try {
      tfjs = await benchTfjs();
    } catch (e) {
      tfjs.note = `failed: ${(e as Error).message}`;
    }
    try {
      gpujs = await benchGpuJs();
    } catch (e) {
      gpujs.note = `failed: ${(e as Error).message}`;
    }
  }

  const ratio = (x: number | null | undefined, y: number | null | undefined) => (x && y ? `${(x / y).toFixed(1)}x` : '—');
  const rows: [string, number, number | null | undefined, number | null | undefined][] = [
    ...SIZES.map(([n]) => [`matmul ${n}x${n}x${n}`, ours.matmul[n], tfjs.matmul[n], gpujs.matmul[n]] as [string, number, number | undefined, number | undefined]),
    [`layer fwd+bwd (${(LAYER_FLOPS / 1e9).toFixed(1)} GFLOP)`, ours.layer, tfjs.layer, gpujs.layer],
  ];
  console.log('');
  console.log(`${'GFLOP/s'.padEnd(28)}${'this project'.padStart(14)}${'tfjs-webgpu'.padStart(13)}${'gpu.js'.padStart(9)}${'vs tfjs'.padStart(9)}${'vs gpu.js'.padStart(11)}`);
  for (const [name, o, t, g] of rows) {
    console.log(`${name.padEnd(28)}${fmt(o).padStart(14)}${fmt(t).padStart(13)}${fmt(g).padStart(9)}${ratio(o, t).padStart(9)}${ratio(o, g).padStart(11)}`);
  }
  console.log('');
  console.log(`matmul 1024 with Dawn's default busy-wait: ${fmt(ours.busyWait1024)} GFLOP/s`);
  if (ours.quad1024 !== null) console.log(`matmul 1024 with the quad kernel (matmul_quad.main, forced): ${fmt(ours.quad1024)} GFLOP/s`);
  const nativeShare = blas?.ok ? ours.matmul[1024] / blas.value.matmul_1024_gflops : null;
  if (blas) console.log(`native BLAS: ${describePeer(blas)}${nativeShare === null ? '' : `; ours is ${(100 * nativeShare).toFixed(1)}% of it`}`);
  console.log(`tfjs: @tensorflow/tfjs-backend-webgpu in this process on the same Dawn adapter${tfjs.note ? ` (${tfjs.note})` : ''}`);
  console.log(`gpu.js: headless Chromium, ${gpujs.renderer ?? 'not run'}${gpujs.note ? ` (${gpujs.note})` : ''}; times include reading C back`);
  if (QUICK) console.log('--quick: peers measured on matmul only, fewer repetitions');

  const round = (r: Record<number, number>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v.toFixed(3))]));
  const summary = {
    matmul_gflops: round(ours.matmul),
    tfjs_webgpu_gflops: round(tfjs.matmul),
    gpujs_gflops: round(gpujs.matmul),
    layer_gflops: Number(ours.layer.toFixed(3)),
    tfjs_layer_gflops: tfjs.layer === null ? null : Number(tfjs.layer.toFixed(3)),
    gpujs_layer_gflops: gpujs.layer === null ? null : Number(gpujs.layer.toFixed(3)),
    matmul_1024_busy_wait_gflops: Number(ours.busyWait1024.toFixed(3)),
    matmul_1024_quad_gflops: ours.quad1024 === null ? null : Number(ours.quad1024.toFixed(3)),
    native_blas: blas?.ok ? { blas: blas.value.blas, library: blas.value.blas_library, matmul_1024_gflops: blas.value.matmul_1024_gflops } : null,
    matmul_1024_share_of_native: nativeShare === null ? null : Number(nativeShare.toFixed(4)),
    adapter,
    kernel,
    gpujs_via: gpujs.renderer ?? null,
    loadavg: load,
  };
  console.log(JSON.stringify(summary));
}

main().then(
  // Dawn (and TF.js's device) keep the event loop alive: exit explicitly.
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
