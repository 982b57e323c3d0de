// Typed failures of the GPU runtime. Each message says what happened and what to do about it.

export const DEBIAN_SOFTWARE_GPU_FIX =
  'apt-get install -y libvulkan1 chromium mesa-vulkan-drivers, then run with ' +
  'VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json XDG_RUNTIME_DIR=/tmp ' +
  '(the npm scripts set these for you when the machine has no GPU)';

export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The runtime exposes no WebGPU at all (no navigator.gpu, no `webgpu` package). */
export class WebGpuUnavailableError extends GpuError {
  constructor(public readonly runtime: string, detail: string, fix: string) {
    super(`WebGPU is not available in ${runtime}: ${detail}. Fix: ${fix}`);
  }
}

/** WebGPU exists but returned no adapter (usually: no Vulkan driver, GPU or software). */
export class NoAdapterError extends GpuError {
  constructor(public readonly runtime: string, fix: string) {
    super(`WebGPU returned no adapter in ${runtime}. Fix: ${fix}`);
  }
}

/** A request needs more of a device limit than the adapter has. */
export class LimitExceededError extends GpuError {
  constructor(
    public readonly limit: string,
    public readonly requested: number,
    public readonly available: number,
    what: string,
    advice: string,
  ) {
    super(`${what} needs ${limit} = ${requested}, but the device allows ${available}. ${advice}`);
  }
}

export class OutOfMemoryError extends GpuError {
  constructor(what: string, public readonly bytes: number, public readonly allocatedBytes: number) {
    super(
      `GPU out of memory while ${what} (${formatBytes(bytes)} requested, ${formatBytes(allocatedBytes)} ` +
        'already allocated by this runtime). Lower the batch size or sequence length.',
    );
  }
}

export class DeviceLostError extends GpuError {
  constructor(public readonly reason: string, detail: string) {
    super(`The GPU device was lost (${reason}): ${detail}. Create a new runtime to continue.`);
  }
}

/** A WebGPU validation error caught by an error scope: a bug in a kernel or its bindings. */
export class GpuValidationError extends GpuError {
  constructor(what: string, detail: string) {
    super(`WebGPU rejected ${what}: ${detail}`);
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
