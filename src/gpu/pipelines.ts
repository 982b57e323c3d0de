// Compiled compute pipelines, keyed by shader, entry point and override constants:
// compiling is the slowest thing WebGPU does, so each variant is compiled once per device.
import { GpuValidationError } from './errors.ts';
import { withParamsBinding, type ParamsBinding } from './params-binding.ts';

export type OverrideConstants = Record<string, number>;

export class PipelineCache {
  private modules = new Map<string, GPUShaderModule>();
  private pipelines = new Map<string, GPUComputePipeline>();
  readonly pendingChecks: Promise<Error | null>[] = [];

  constructor(
    private readonly device: GPUDevice,
    private readonly paramsBinding: ParamsBinding = 'uniform',
  ) {}

  get(shaderName: string, code: string, entryPoint = 'main', constants: OverrideConstants = {}): GPUComputePipeline {
    const constKey = Object.keys(constants)
      .sort()
      .map((k) => `${k}=${constants[k]}`)
      .join(',');
    const key = `${shaderName}#${entryPoint}#${constKey}`;
    let pipeline = this.pipelines.get(key);
    if (pipeline) return pipeline;
    let module = this.modules.get(shaderName);
    if (!module) {
      module = this.device.createShaderModule({ code: withParamsBinding(code, this.paramsBinding), label: shaderName });
      this.modules.set(shaderName, module);
    }
    this.device.pushErrorScope('validation');
    pipeline = this.device.createComputePipeline({
      label: key,
      layout: 'auto',
      compute: { module, entryPoint, constants },
    });
    const mod = module;
    this.pendingChecks.push(
      this.device.popErrorScope().then(async (e) => {
        if (!e) return null;
        const info = await mod.getCompilationInfo();
        const lines = info.messages.map((m) => `${shaderName}.wgsl:${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`);
        return new GpuValidationError(`pipeline ${key}`, [e.message, ...lines].join('\n'));
      }),
    );
    this.pipelines.set(key, pipeline);
    return pipeline;
  }

  get size(): number {
    return this.pipelines.size;
  }
}
