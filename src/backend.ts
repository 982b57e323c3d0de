// The one place that decides which backend runs a model: WebGPU (src/gpu, src/ops, src/model/llama.ts)
// when the platform grants a WebGPU device, else gpu.js (src/webgl) on WebGL2, WebGL, or plain JavaScript.
// Everything else asks for what it needs through the model it is handed: scoring takes either model
// (src/xtf/scoring-model.ts), generation goes through generateTextOn below, and training, which only
// WebGPU runs, asks trainingRefusal first.
import { Runtime } from './gpu/index.ts';
import { generateText, type GenerateOptions, type Generation } from './model/generate.ts';
import { LlamaModel, type ModelLoadOptions } from './model/llama.ts';
import type { Tokenizer } from './model/tokenizer.ts';
import type { LlamaWeights } from './model/weights.ts';
import { generateTextGpuJs } from './webgl/generate.ts';
import { bestGpuJsMode, loadGpuJs, type GpuJsMode } from './webgl/gpujs.ts';
import { GpuJsLlama } from './webgl/llama.ts';

export type BackendKind = 'webgpu' | GpuJsMode;

export type Backend =
  | { kind: 'webgpu'; rt: Runtime; why: string }
  /** gpu.js: why WebGPU is not used (navigator.gpu missing, no adapter, or asked for). */
  | { kind: GpuJsMode; rt: null; why: string };

export interface ChooseOptions {
  /** Go straight to gpu.js, for this reason (e.g. the page has no navigator.gpu, or a comparison asks for it). */
  skipWebGpu?: string;
}

/** WebGPU when a device is granted, else gpu.js, with the reason in words. */
export async function chooseBackend(options: ChooseOptions = {}): Promise<Backend> {
  let why = options.skipWebGpu;
  if (why === undefined) {
    try {
      const rt = await Runtime.create();
      return { kind: 'webgpu', rt, why: `WebGPU: ${rt.report.summary}` };
    } catch (e) {
      why = (e as Error).message;
    }
  }
  return { kind: bestGpuJsMode(await loadGpuJs()), rt: null, why };
}

/** A model on the GPU of the chosen backend. */
export type BackendModel = LlamaModel | GpuJsLlama;

/** Uploads the weights to the chosen backend (load options such as a compact base apply to WebGPU only). */
export async function loadOnBackend(backend: Backend, weights: LlamaWeights, options: ModelLoadOptions = {}): Promise<BackendModel> {
  if (backend.kind === 'webgpu') return LlamaModel.fromWeights(backend.rt, weights, options);
  return GpuJsLlama.fromWeights(weights, { mode: backend.kind });
}

/** Which backend a loaded model runs on. */
export function backendOf(model: BackendModel): BackendKind {
  return model instanceof LlamaModel ? 'webgpu' : model.mode;
}

/** Text generation on whichever backend holds the model (greedy with temperature 0 on both). */
export function generateTextOn(model: BackendModel, tokenizer: Tokenizer, prompt: string, options: GenerateOptions): Promise<Generation & { text: string }> {
  return model instanceof LlamaModel ? generateText(model, tokenizer, prompt, options) : generateTextGpuJs(model, tokenizer, prompt, options);
}

/** Why a model on this backend cannot be fine-tuned (training runs on WebGPU only), or null when it can. */
export function trainingRefusal(kind: BackendKind): string | null {
  return kind === 'webgpu' ? null : `Training needs WebGPU; here the model runs on gpu.js (${kind}), which scores and generates but does not train.`;
}

/** A short name for messages: 'WebGPU', 'gpu.js (webgl2)'. */
export function backendLabel(kind: BackendKind): string {
  return kind === 'webgpu' ? 'WebGPU' : `gpu.js (${kind})`;
}
