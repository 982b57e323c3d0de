// Where kernels read their parameters: the `p` struct (sizes, strides, flags) every shader declares at
// binding 0. A uniform buffer is the right home on a GPU (it goes through the constant cache), and on
// SwiftShader. Lavapipe (Mesa's llvmpipe Vulkan driver, 22.x) inlines the values it finds in a uniform
// buffer into the shader and compiles it again (NIR clone, optimise, LLVM or its shader cache) every
// time the pipeline is bound: a decode step, whose key count changes every token, then spent ~20 ms a
// token compiling (stories260K: 31.5 vs 9.3 ms a token, GPU time 9.0 vs 2.4 ms, measured 2026-12-07,
// docs/speed.md). From a read-only storage buffer the same values are plain loads and nothing is
// recompiled. The runtime rewrites the declaration once per shader module and adds STORAGE to the
// parameter buffers' usage; the shaders keep one source.
import type { AdapterReport } from './device.ts';

export type ParamsBinding = 'uniform' | 'storage';

const INLINES_UNIFORMS = /llvmpipe|lavapipe/i;

/** Which binding an adapter's kernels read their parameters from, and why. */
export function paramsBindingFor(report: Pick<AdapterReport, 'vendor' | 'architecture' | 'device' | 'description'>): { binding: ParamsBinding; why: string } {
  const name = [report.vendor, report.architecture, report.device, report.description].join(' ');
  return INLINES_UNIFORMS.test(name)
    ? { binding: 'storage', why: 'parameters in read-only storage buffers (lavapipe recompiles a shader for every new uniform value)' }
    : { binding: 'uniform', why: 'parameters in uniform buffers' };
}

const UNIFORM_DECLARATION = /var<uniform>\s+(\w+)\s*:/g;

/** The shader source with its uniform declarations read from storage instead (for 'storage'). */
export function withParamsBinding(code: string, binding: ParamsBinding): string {
  return binding === 'uniform' ? code : code.replace(UNIFORM_DECLARATION, 'var<storage, read> $1:');
}
