// The one place that picks kernel variants by adapter. Several of the kernels' shapes were tuned on
// SwiftShader, Dawn's CPU Vulkan driver (where CI and most of this project's measurements run): there an
// invocation is a SIMD lane of a CPU core, a workgroup a loop, and idle invocations cost nearly nothing
// but their loop trips. A real GPU runs a workgroup on 32- or 64-wide waves, so the same choices would
// leave most lanes idle. Ops read their choices here instead of from constants of their own, and a GPU
// gets the general variants (tested on SwiftShader for correctness; their speed on a GPU is recorded in
// docs/speed.md only where one was measured).
import type { Runtime } from '../gpu/index.ts';
import type { AdapterReport } from '../gpu/device.ts';

/** A software rasterizer on CPU cores (SwiftShader, lavapipe/llvmpipe, WARP), or a GPU. */
export type DeviceClass = 'cpu' | 'gpu';

export interface KernelChoices {
  deviceClass: DeviceClass;
  /** Why this class: what in the adapter report decided it. */
  why: string;
  matmul: {
    /** Outputs with at most this many rows run `skinny` (4x4 blocks per invocation) instead of 16-row tiles. */
    skinnyMaxM: number;
    /** Whether outputs wider than 16 columns, or tall ones of at most 8, run the octet kernels (matmul_quad.wgsl's
     *  `octet` / `octet_wide` / `octet_narrow`: loads shared across a subgroup of exactly 8 lanes) instead of
     *  the quad kernel. */
    octets: boolean;
  };
  attention: {
    /** Invocations per workgroup of the blocked kernels (each owns 4 query or key rows). */
    workgroup: number;
    /** Query rows at or below which the forward runs as a decode step. */
    decodeMaxRows: number;
    /** Invocations per workgroup in a decode step. */
    decodeWorkgroup: number;
    /** Whether the blocked kernels share the loads of the rows they walk within quads (attention_quad.wgsl),
     *  where the device has subgroups and a workgroup is whole quads. */
    quadFetch: boolean;
  };
}

const CPU: Omit<KernelChoices, 'why'> = {
  deviceClass: 'cpu',
  // Measured on SwiftShader for x·Wᵀ with W [576, 576]: 0.66 vs 1.44 ms at M 4, 1.25 vs 2.56 at M 8, 2.42 vs
  // 1.51 at M 16 (W [1536, 576]: 1.6 vs 2.8 ms at M 4, even at M 8).
  // octets: where the subgroups are exactly 8 wide (lavapipe on AVX2), see `choose`.
  matmul: { skinnyMaxM: 8, octets: false },
  attention: {
    // A workgroup walks the keys its last row sees, so rows near the top of a block do masked work:
    // 8 invocations (32 rows) measured ~10% faster than 16 at T = 256.
    workgroup: 8,
    // One query row per sequence in KV-cached generation: a workgroup of one invocation (4 rows) made a
    // decode step's attention 2.2x faster on SwiftShader (stories260K at 16 and 64 sequences), which runs
    // every invocation of a workgroup whether its rows exist or not. Splitting the keys across invocations
    // (flash-decoding) was 4.5x slower there: per-lane key addresses are gathers on a CPU.
    decodeMaxRows: 4,
    decodeWorkgroup: 1,
    // Every invocation of a workgroup walks the same rows, and a storage load inside a loop is a loop over
    // the SIMD lanes here: a quad loading one row each and sharing them made attention_received 2.3x
    // faster on lavapipe (docs/speed.md).
    quadFetch: true,
  },
};

const GPU: Omit<KernelChoices, 'why'> = {
  ...CPU,
  deviceClass: 'gpu',
  // (matmul: the 4x4-per-invocation `skinny` kernel wastes no tile rows on a short output on any device.)
  attention: {
    // A full 32-lane wave per workgroup (128 rows): fewer lanes idle than 8 invocations would leave.
    workgroup: 32,
    // A decode step goes through the blocked kernel's workgroup size too: one invocation per workgroup
    // would use one lane of a wave.
    decodeMaxRows: 4,
    decodeWorkgroup: 32,
    // A wave loads an address all its lanes share once; the quad broadcasts would only add shuffles.
    // Not measured on a GPU.
    quadFetch: false,
  },
};

const SOFTWARE = /swiftshader|lavapipe|llvmpipe|softpipe|\bwarp\b|microsoft basic render/i;

/** Which class an adapter is, and why. */
export function classifyAdapter(report: Pick<AdapterReport, 'vendor' | 'architecture' | 'device' | 'description' | 'isFallbackAdapter'>): { deviceClass: DeviceClass; why: string } {
  const name = [report.vendor, report.architecture, report.device, report.description].filter(Boolean).join(' / ');
  if (report.isFallbackAdapter) return { deviceClass: 'cpu', why: `a fallback adapter (${name || 'unnamed'})` };
  const m = SOFTWARE.exec(name);
  if (m) return { deviceClass: 'cpu', why: `a software renderer (${m[0]})` };
  return { deviceClass: 'gpu', why: `a hardware adapter (${name || 'unnamed'})` };
}

const chosen = new WeakMap<Runtime, KernelChoices>();

/** Whether the device's subgroups are exactly 8 lanes wide, which the octet matmul kernels assume. */
export function eightLaneSubgroups(rt: Runtime): boolean {
  const sizes = rt.report.subgroupSizes;
  return rt.hasFeature('subgroups') && sizes?.min === 8 && sizes.max === 8;
}

function choose(rt: Runtime, deviceClass: DeviceClass, why: string, attention: Partial<KernelChoices['attention']> = {}): KernelChoices {
  const base = deviceClass === 'cpu' ? CPU : GPU;
  // On lavapipe a storage load is a loop over the 8 lanes while a shuffle by a constant is a permute, so
  // sharing each load across all 8 lanes (two or three loads per 4-step of k where the quad kernel makes
  // three for half the accumulators) made matmuls 1.2-1.8x faster there (docs/speed.md). A GPU keeps the
  // quad kernel: not measured on one.
  const matmul = { ...base.matmul, octets: deviceClass === 'cpu' && eightLaneSubgroups(rt) };
  const c = { ...base, matmul, attention: { ...base.attention, ...attention }, why };
  chosen.set(rt, c);
  return c;
}

/** The choices for this runtime's adapter (decided once per runtime). */
export function kernelChoices(rt: Runtime): KernelChoices {
  const c = chosen.get(rt);
  if (c) return c;
  const { deviceClass, why } = classifyAdapter(rt.report);
  return choose(rt, deviceClass, why);
}

/** Serve this runtime the other class's variants (tests check both on one device; benchmarks compare them),
 *  with any of its attention choices changed. */
export function forceDeviceClass(rt: Runtime, deviceClass: DeviceClass, attention: Partial<KernelChoices['attention']> = {}): KernelChoices {
  const changed = Object.keys(attention).length > 0 ? ` with attention ${JSON.stringify(attention)}` : '';
  return choose(rt, deviceClass, `forced to ${deviceClass}${changed}`, attention);
}

/** One line for benchmark headers: which variants this runtime gets, and why. */
export function describeKernelChoices(rt: Runtime): string {
  const c = kernelChoices(rt);
  return `kernel choices: ${c.deviceClass} variants, ${c.why} (src/ops/kernel-choice.ts); ${rt.paramsBinding.why} (src/gpu/params-binding.ts)`;
}
