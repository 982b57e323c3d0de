// Attention pipeline compile time and kernel time per head dim. The attention shader unrolls its loop over
// the head dim by hand (see src/shaders/attention.part.wgsl), so on SwiftShader each (entry point, D) variant
// costs a noticeable compile; this measures it, plus one training-sized call, for the header comment.
//
//   node scripts/gpu-env.mjs tsx bench/attention-compile.ts [--compile-only] [D ...]     (default: 64 128)
//
// Compile = createComputePipelineAsync per entry point (Tint + SwiftShader's LLVM), each D on a fresh
// runtime; CPU seconds are the number to trust on a busy machine. Kernel = best of 4 wall clock at B = 1,
// T = 256, H = 4, Hkv = 2 (decode: Tq = 1 over 256 keys); the load average is printed beside it.
import { loadavg } from 'node:os';
import { Runtime, type Tensor } from '../src/gpu/index.ts';
import { attentionBackward, attentionForward, attentionReceived } from '../src/ops/attention.ts';
import { wgsl } from '../src/shaders/wgsl.generated.ts';

const args = process.argv.slice(2);
const compileOnly = args.includes('--compile-only');
const headDims = args.filter((a) => !a.startsWith('--')).map(Number);
if (headDims.length === 0) headDims.push(64, 128);

function inputs(rt: Runtime, t: number, headDim: number, tk = t) {
  const rand = (n: number) => Float32Array.from({ length: n }, () => Math.random() - 0.5);
  return {
    q: rt.upload(rand(t * 4 * headDim), [1, t, 4, headDim]),
    k: rt.upload(rand(tk * 2 * headDim), [1, tk, 2, headDim]),
    v: rt.upload(rand(tk * 2 * headDim), [1, tk, 2, headDim]),
  };
}

async function timed(rt: Runtime, run: () => Tensor[]): Promise<number> {
  const start = performance.now();
  const out = run();
  await rt.sync();
  const ms = performance.now() - start;
  for (const t of out) t.release();
  return ms;
}

/** [wall, CPU] seconds; CPU time (all of this process's threads) is the steadier number on a busy machine. */
async function compileSeconds(rt: Runtime, shader: 'attention' | 'attention_quad', entryPoint: string, constants: Record<string, number>): Promise<[number, number]> {
  // A fresh module each time, so that nothing Dawn caches per module is reused.
  const module = rt.device.createShaderModule({ code: wgsl[shader], label: shader });
  const start = performance.now();
  const cpu = process.cpuUsage();
  await rt.device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint, constants } });
  const used = process.cpuUsage(cpu);
  return [(performance.now() - start) / 1000, (used.user + used.system) / 1e6];
}

console.log(`load average ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
for (const headDim of headDims) {
  const rt = await Runtime.create();
  const D4 = headDim / 4;
  // The blocked kernels in both shaders (attention_quad.wgsl where the device has subgroups); the decode
  // step (WG 1) and attention_probs only in attention.wgsl, which serves them.
  const blocked = ['forward', 'backward_query', 'backward_key_value', 'attention_received'];
  const shaders = rt.hasFeature('subgroups') ? (['attention', 'attention_quad'] as const) : (['attention'] as const);
  const variants: ['attention' | 'attention_quad', string, Record<string, number>][] = [
    ...shaders.flatMap((shader) => blocked.map((entryPoint) => [shader, entryPoint, { D4, WG: 8 }] as ['attention' | 'attention_quad', string, Record<string, number>])),
    ['attention', 'forward', { D4, WG: 1 }],
    ['attention', 'attention_probs', { D4, WG: 64 }],
  ];
  const total = [0, 0];
  for (const [shader, entryPoint, constants] of variants) {
    const [wall, cpu] = await compileSeconds(rt, shader, entryPoint, constants);
    total[0] += wall;
    total[1] += cpu;
    console.log(`D=${headDim} compile ${shader}.${entryPoint} WG=${constants.WG}: ${wall.toFixed(2)} s wall, ${cpu.toFixed(2)} s CPU`);
  }
  console.log(`D=${headDim} compile total: ${total[0].toFixed(2)} s wall, ${total[1].toFixed(2)} s CPU`);
  if (compileOnly) {
    rt.destroy();
    continue;
  }
  const big = inputs(rt, 256, headDim);
  const bigFwd = attentionForward(rt, big.q, big.k, big.v);
  await rt.sync();
  const decode = inputs(rt, 1, headDim, 256);
  const kernels: [string, () => Tensor[]][] = [
    ['forward', () => Object.values(attentionForward(rt, big.q, big.k, big.v))],
    ['backward', () => Object.values(attentionBackward(rt, big.q, big.k, big.v, bigFwd, big.q))],
    ['received', () => [attentionReceived(rt, big.q, big.k, bigFwd.logSumExp)]],
    ['decode step (Tq = 1)', () => Object.values(attentionForward(rt, decode.q, decode.k, decode.v))],
  ];
  for (const [what, run] of kernels) {
    let best = Infinity;
    for (let n = 0; n < 4; n++) best = Math.min(best, await timed(rt, run));
    console.log(`D=${headDim} T=256 H=4 Hkv=2 ${what}: ${best.toFixed(1)} ms`);
  }
  rt.destroy();
}
console.log(`load average ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
