// The flags every model-using command shares (--model, --tokenizer, --adapter), and loading the
// model onto the GPU with a progress line on stderr (stdout stays clean for JSON).
import { Runtime } from '../gpu/index.ts';
import { LlamaModel } from '../model/llama.ts';
import { loadModel } from '../model/source-fs.ts';
import { importPeftAdapter } from '../model/peft.ts';
import { loadPeftAdapter } from '../model/peft-fs.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { formatBytes } from '../gpu/index.ts';

export const MODEL_OPTIONS = {
  model: { type: 'string', short: 'm' },
  tokenizer: { type: 'string' },
  adapter: { type: 'string' },
  refresh: { type: 'boolean' },
  offline: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const MODEL_USAGE = `  --model PATH|URL     llama2.c .bin (tokenizer beside it or --tokenizer), Hugging Face folder, .gguf, or https URL
  --tokenizer FILE     llama2.c tokenizer when it is not beside the checkpoint
  --adapter DIR        a PEFT LoRA adapter folder to apply
  --refresh            download a URL model again instead of reading the cache (~/.cache/xtf-webgpu)
  --offline            never reach the network: a URL model not in the cache fails at once, naming the cache file`;

export const REFERENCE_OPTIONS = {
  reference: { type: 'string' },
  'reference-adapter': { type: 'string' },
} as const;

export const REFERENCE_USAGE = `  --reference M        the clean-data reference model for slm / tc (a model path; --reference-adapter DIR
                       applies a PEFT adapter to the base model instead)`;

/** The reference model SLM and Token Cleaning compare against, on the same device, or undefined. */
export async function openReference(rt: Runtime, values: { model?: string; reference?: string; 'reference-adapter'?: string; refresh?: boolean; offline?: boolean }): Promise<LlamaModel | undefined> {
  if (!values.reference && !values['reference-adapter']) return undefined;
  const source = await loadModel((values.reference ?? values.model)!, { refresh: values.refresh, offline: values.offline });
  const reference = LlamaModel.fromWeights(rt, source.weights);
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

export async function openModel(values: { model?: string; tokenizer?: string; adapter?: string; refresh?: boolean; offline?: boolean }): Promise<CliModel> {
  if (!values.model) throw new Error('--model is required (e.g. --model ../shared/models/stories260K/stories260K.bin)');
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
  const model = LlamaModel.fromWeights(rt, loaded.weights);
  if (values.adapter) importPeftAdapter(model, await loadPeftAdapter(values.adapter));
  return {
    rt,
    model,
    tokenizer: loaded.tokenizer,
    newModel: () => LlamaModel.fromWeights(rt, loaded.weights),
    release() {
      model.release();
      rt.destroy();
    },
  };
}
