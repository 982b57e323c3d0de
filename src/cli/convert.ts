import { parseArgs } from 'node:util';
import { hfFolderFiles } from '../model/hf-export.ts';
import type { SafetensorsDtype } from '../model/safetensors.ts';
import { loadModel, writeFolderAtomic } from '../model/source-fs.ts';

const USAGE = `usage: xtf convert <model> --out <folder> [--tokenizer <file>] [--dtype f32|f16|bf16] [--force]

Writes a Hugging Face folder (config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
generation_config.json) that transformers loads as LlamaForCausalLM / Qwen2ForCausalLM.
<model> is anything the loader reads: a llama2.c .bin (tokenizer tok*.bin / tokenizer.bin beside it, or
--tokenizer), a .gguf file, a Hugging Face folder, or an https URL. llama2.c's interleaved q/k rows are
permuted to Hugging Face's rotate-half layout. The folder is written under a temporary name and renamed.`;

const DTYPES: Record<string, SafetensorsDtype> = { f32: 'F32', f16: 'F16', bf16: 'BF16' };

export async function convertCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      tokenizer: { type: 'string' },
      dtype: { type: 'string', default: 'f32' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const dtype = DTYPES[values.dtype!.toLowerCase()];
  if (positionals.length !== 1 || !values.out || !dtype) {
    console.error(!dtype ? `xtf convert: --dtype must be f32, f16 or bf16, got '${values.dtype}'\n\n${USAGE}` : USAGE);
    return 2;
  }
  const model = await loadModel(positionals[0], { tokenizer: values.tokenizer });
  const files = hfFolderFiles(model.weights, model.tokenizer, { dtype });
  await writeFolderAtomic(values.out, files, { overwrite: values.force });
  const c = model.config;
  console.log(`${model.source} (${model.format}, ${c.architecture} dim ${c.dim}, ${c.nLayers} layers, vocab ${c.vocabSize}) -> ${values.out} ` +
    `[${Object.keys(files).join(', ')}]`);
  return 0;
}
