// The flags every model-using command shares (--model, --tokenizer, --adapter), and loading the
// model onto the GPU with a progress line on stderr (stdout stays clean for JSON).
import { Runtime } from '../gpu/index.ts';
import { CompactBaseError, parseBaseDtype, type BaseDtypeChoice } from '../model/base-dtype.ts';
import { LlamaModel, type ModelLoadOptions } from '../model/llama.ts';
import { loadModel } from '../model/source-fs.ts';
import { importPeftAdapter } from '../model/peft.ts';
import { loadPeftAdapter } from '../model/peft-fs.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { formatBytes } from '../gpu/index.ts';

export const MODEL_OPTIONS = {
  model: { type: 'string', short: 'm' },
  tokenizer: { type: 'string' },
  adapter: { type: 'string' },
  'base-dtype': { type: 'string' },
  refresh: { type: 'boolean' },
  offline: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const MODEL_USAGE = `  --model PATH|URL     llama2.c .bin (tokenizer beside it or --tokenizer), Hugging Face folder, .gguf, or https URL
  --tokenizer FILE     llama2.c tokenizer when it is not beside the checkpoint
  --adapter DIR        a PEFT LoRA adapter folder to apply
  --base-dtype T       storage of the frozen base weights on the GPU: auto (default: the checkpoint's own, f16
                       for an F16/BF16 Hugging Face folder, a GGUF's Q8_0 / Q4_0 kept, other GGUF types as f16,
                       llama2.c and f32 folders f32), f32, f16, q8, q4 (32-value blocks like GGML's Q8_0 / Q4_0).
                       LoRA weights, gradients and activations stay f32; --full trains in f32 (auto means f32)
  --refresh            download a URL model again instead of reading the cache (~/.cache/xtf-webgpu)
  --offline            never reach the network: a URL model not in the cache fails at once, naming the cache file`;

export const REFERENCE_OPTIONS = {
  reference: { type: 'string' },
  'reference-adapter': { type: 'string' },
} as const;

export const REFERENCE_USAGE = `  --reference M        the clean-data reference model for slm / tc (a model path; --reference-adapter DIR
                       applies a PEFT adapter to the base model instead)`;

// The checkpoint's own precision: an F16 / BF16 Hugging Face folder stays f16 on the GPU, a GGUF's Q8_0 /
// Q4_0 stays as it is, llama2.c (and any f32 checkpoint) stays f32. Every path of the CLI reads a compact
// base (generation, scoring, training, adapter import / export); merging an adapter refuses one by name.
const DEFAULT_BASE_DTYPE: BaseDtypeChoice = 'auto';

/**
 * The load options --base-dtype asks for. 'auto' keeps the checkpoint's precision for a frozen base, and means
 * f32 when the base weights train (--full); an explicit compact dtype with --full is refused up front.
 */
export function baseDtypeOptions(values: { 'base-dtype'?: string; full?: boolean }, format: ModelLoadOptions['sourceFormat']): ModelLoadOptions {
  const choice = values['base-dtype'] === undefined ? DEFAULT_BASE_DTYPE : parseBaseDtype(values['base-dtype']);
  if (values.full) {
    if (choice !== 'auto' && choice !== 'f32') {
      throw new CompactBaseError('the base', choice, '--full trains every base weight in f32; pass --base-dtype f32 (or auto), or train LoRA adapters');
    }
    return { baseDtype: 'f32' };
  }
  return { baseDtype: choice, sourceFormat: format };
}

/** The reference model SLM and Token Cleaning compare against, on the same device, or undefined. */
export async function openReference(rt: Runtime, values: { model?: string; reference?: string; 'reference-adapter'?: string; 'base-dtype'?: string; refresh?: boolean; offline?: boolean }): Promise<LlamaModel | undefined> {
  if (!values.reference && !values['reference-adapter']) return undefined;
  const source = await loadModel((values.reference ?? values.model)!, { refresh: values.refresh, offline: values.offline });
  // The reference is never trained: it may be compact whatever --full says.
  const reference = LlamaModel.fromWeights(rt, source.weights, baseDtypeOptions({ 'base-dtype': values['base-dtype'] }, source.format));
  if (values['reference-adapter']) importPeftAdapter(reference, await loadPeftAdapter(values['reference-adapter']));
  return reference;
}

export interface CliModel {
  rt: Runtime;
  model: LlamaModel;
  tokenizer: Tokenizer;
  /** Another model with the same weights on the same runtime (e.g. a reference model to train); the caller releases it. */
  newModel(): LlamaModel;
  release(): void;
}

export async function openModel(values: { model?: string; tokenizer?: string; adapter?: string; 'base-dtype'?: string; full?: boolean; refresh?: boolean; offline?: boolean }): Promise<CliModel> {
  if (!values.model) throw new Error('--model is required (e.g. --model ../shared/models/stories260K/stories260K.bin)');
  const storage = baseDtypeOptions(values, undefined); // checked before the (long) load; the format comes with it
  let last = 0;
  const loaded = await loadModel(values.model, {
    tokenizer: values.tokenizer,
    refresh: values.refresh,
    offline: values.offline,
    onProgress: (p) => {
      const now = Date.now();
      if (process.stderr.isTTY && now - last > 200) {
        last = now;
        process.stderr.write(`\rloading ${p.file}: ${formatBytes(p.loaded)}${p.total ? ` / ${formatBytes(p.total)}` : ''}${p.cached ? ' (cached)' : ''}   `);
      }
    },
  });
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
  const rt = await Runtime.create();
  const options = { ...storage, ...(storage.baseDtype === 'auto' ? { sourceFormat: loaded.format } : {}) };
  const model = LlamaModel.fromWeights(rt, loaded.weights, options);
  if (values.adapter) importPeftAdapter(model, await loadPeftAdapter(values.adapter));
  return {
    rt,
    model,
    tokenizer: loaded.tokenizer,
    newModel: () => LlamaModel.fromWeights(rt, loaded.weights, options),
    release() {
      model.release();
      rt.destroy();
    },
  };
}
