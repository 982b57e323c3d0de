// Getting a GPUDevice in a browser, in Node (Dawn, the `webgpu` package) or in Deno.
// The ONLY module that knows which of the three it is running in.
import {
  DEBIAN_SOFTWARE_GPU_FIX,
  DeviceLostError,
  LimitExceededError,
  NoAdapterError,
  WebGpuUnavailableError,
} from './errors.ts';
import { installQuietWait, uninstallQuietWait } from './dawn-wait.ts';

export type HostRuntime = 'browser' | 'node' | 'deno';

export function detectHostRuntime(): HostRuntime {
  const g = globalThis as Record<string, unknown>;
  if (typeof g.Deno !== 'undefined') return 'deno';
  const proc = g.process as { versions?: { node?: string } } | undefined;
  if (typeof g.window === 'undefined' && proc?.versions?.node) return 'node';
  return 'browser';
}

/** What the adapter is and what it can do; printed by `xtf selfcheck` and kept in reports. */
export interface AdapterReport {
  runtime: HostRuntime;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
  /** The adapter's subgroup widths (GPUAdapterInfo.subgroupMinSize / subgroupMaxSize), where it reports them. */
  subgroupSizes: { min: number; max: number } | null;
  /** One line for logs and benchmark output. */
  summary: string;
}

/** Limits the kernels benefit from: the device gets the adapter's maximum of each. */
const WANTED_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

/** Optional features used when present (fast paths pick them up through `Runtime.features`). */
const WANTED_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export interface DeviceOptions {
  powerPreference?: GPUPowerPreference;
  /** Minimum limits the caller needs; a typed error is thrown when the adapter has less. */
  requiredLimits?: Partial<Record<(typeof WANTED_LIMITS)[number], number>>;
  /** Features to leave off even when present (e.g. to test the portable path). */
  disableFeatures?: string[];
}

export interface AcquiredDevice {
  device: GPUDevice;
  report: AdapterReport;
  /** Resolves with a DeviceLostError when the device is lost for any reason but `destroy()`. */
  lost: Promise<DeviceLostError | null>;
  /** Destroys the device and drops the Dawn instance so a Node process can exit on its own. */
  release(): void;
}

/** Node: one Dawn instance per process, shared by every runtime and dropped when the last one
 *  is released (several live instances in one process crash Dawn; a kept one keeps Node alive). */
let dawn: { gpu: GPU; users: number } | null = null;

async function getGpu(runtime: HostRuntime): Promise<{ gpu: GPU; drop: () => void }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu, drop: () => {} };
  if (runtime === 'node') {
    if (!dawn) {
      // A variable specifier keeps bundlers from pulling Dawn's native addon into a browser build.
      const pkg = 'webgpu';
      let mod: { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
      try {
        mod = await import(/* @vite-ignore */ pkg);
      } catch (e) {
        throw new WebGpuUnavailableError('Node', `the 'webgpu' package (Dawn) did not load: ${(e as Error).message}`, 'npm ci (it is a dependency of this project)');
      }
      // Dawn's classes (GPUBufferUsage, GPUShaderStage, ...) are what WebGPU code expects as globals.
      for (const [k, v] of Object.entries(mod.globals)) {
        if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
      }
      if (!dawn) {
        dawn = { gpu: mod.create([]), users: 0 };
        installQuietWait();
      }
    }
    const instance = dawn;
    instance.users++;
    let dropped = false;
    return {
      gpu: instance.gpu,
      drop: () => {
        if (dropped) return;
        dropped = true;
        if (--instance.users === 0 && dawn === instance) {
          dawn = null;
          uninstallQuietWait();
        }
      },
    };
  }
  const fix =
    runtime === 'deno'
      ? `run Deno with --unstable-webgpu if your version needs it, and install a Vulkan driver: ${DEBIAN_SOFTWARE_GPU_FIX.replace('/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json')}`
      : 'use Chrome or Edge 113+, Safari 26+, or Firefox 141+ (Windows); on Linux Chrome, enable chrome://flags/#enable-unsafe-webgpu and Vulkan (--enable-features=Vulkan)';
  throw new WebGpuUnavailableError(runtime, 'navigator.gpu is undefined', fix);
}

function describeAdapter(runtime: HostRuntime, adapter: GPUAdapter): AdapterReport {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const limits: Record<string, number> = {};
  // GPUSupportedLimits keeps its values as prototype getters; walk the prototype for the names.
  const proto = Object.getPrototypeOf(adapter.limits) as object;
  for (const key of new Set([...Object.keys(adapter.limits), ...Object.getOwnPropertyNames(proto)])) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  const vendor = info?.vendor || 'unknown';
  const architecture = info?.architecture || '';
  const device = info?.device || '';
  const description = info?.description || '';
  const isFallbackAdapter =
    (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ??
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ??
    false;
  const name = [vendor, architecture, device, description].filter(Boolean).join(' / ');
  const sizes = info as { subgroupMinSize?: number; subgroupMaxSize?: number } | undefined;
  const subgroupSizes = sizes?.subgroupMinSize && sizes.subgroupMaxSize ? { min: sizes.subgroupMinSize, max: sizes.subgroupMaxSize } : null;
  return {
    runtime,
    vendor,
    architecture,
    device,
    description,
    isFallbackAdapter,
    features: [...adapter.features].sort(),
    limits,
    subgroupSizes,
    summary: `${runtime}: ${name || 'unnamed adapter'}${isFallbackAdapter ? ' (fallback)' : ''}`,
  };
}

export async function acquireDevice(options: DeviceOptions = {}): Promise<AcquiredDevice> {
  const runtime = detectHostRuntime();
  const { gpu, drop } = await getGpu(runtime);
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    drop();
    const fix =
      runtime === 'browser'
        ? 'enable hardware acceleration, or start Chromium with --enable-unsafe-webgpu --use-webgpu-adapter=swiftshader'
        : DEBIAN_SOFTWARE_GPU_FIX;
    throw new NoAdapterError(runtime, fix);
  }
  const report = describeAdapter(runtime, adapter);

  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const available = report.limits[name];
    const needed = options.requiredLimits?.[name];
    if (needed !== undefined && (available === undefined || needed > available)) {
      drop();
      throw new LimitExceededError(name, needed, available ?? 0, 'This runtime', 'Use a device with larger limits.');
    }
    if (available !== undefined) requiredLimits[name] = available;
  }
  const requiredFeatures = WANTED_FEATURES.filter(
    (f) => adapter.features.has(f) && !options.disableFeatures?.includes(f),
  ) as GPUFeatureName[];

  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  report.features = [...device.features].sort();
  let released = false;
  const lost = device.lost.then((info) =>
    released || info.reason === 'destroyed' ? null : new DeviceLostError(String(info.reason), info.message),
  );
  return {
    device,
    report,
    lost,
    release() {
      if (released) return;
      released = true;
      device.destroy();
      drop();
    },
  };
}
