// A loaded model as the files of a Hugging Face folder (config.json, model.safetensors, tokenizer.json,
// tokenizer_config.json, generation_config.json) that transformers and loadHfFolder read back.
// Bytes only: writing them to disk is source-fs.ts's job.

import { UnsupportedModelError } from './errors.ts';
import { hfTensorName, llamaToHfConfig, withRopeLayout } from './hf.ts';
import { type SafetensorsDtype, type TensorToWrite, writeSafetensors } from './safetensors.ts';
import { HfTokenizer, llama2cToHfTokenizer } from './tokenizer-hf.ts';
import { Llama2cTokenizer } from './tokenizer-llama2c.ts';
import type { Tokenizer } from './tokenizer.ts';
import type { LlamaWeights } from './weights.ts';

export interface HfExportOptions {
  /** Stored precision of the weights (default F32). */
  dtype?: SafetensorsDtype;
}

const TORCH_DTYPE: Record<SafetensorsDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

export function hfFolderFiles(model: LlamaWeights, tokenizer: Tokenizer, options: HfExportOptions = {}): Record<string, Uint8Array> {
  const dtype = options.dtype ?? 'F32';
  const half = withRopeLayout(model, 'half'); // HF's rotate-half: q/k rows permuted when the source is interleaved
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, shape] of Object.entries(half.shapes)) {
    tensors[hfTensorName(name)] = { shape, data: half.tensors[name], dtype };
  }
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n');
  const { tokenizerJson, tokenizerConfig } = tokenizerFiles(tokenizer, model.config.maxSeqLen);
  const ids = { bos_token_id: tokenizer.bosId, eos_token_id: tokenizer.eosId };
  return {
    'config.json': json(llamaToHfConfig(half.config, { bosTokenId: tokenizer.bosId, eosTokenId: tokenizer.eosId, torchDtype: TORCH_DTYPE[dtype] })),
    'generation_config.json': json({ ...ids, _from_model_config: true }),
    'model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
    'tokenizer.json': json(tokenizerJson),
    'tokenizer_config.json': json(tokenizerConfig),
  };
}

function tokenizerFiles(tokenizer: Tokenizer, modelMaxLength: number) {
  if (tokenizer instanceof HfTokenizer) return { tokenizerJson: tokenizer.json, tokenizerConfig: tokenizer.config };
  if (tokenizer instanceof Llama2cTokenizer) return llama2cToHfTokenizer(tokenizer, { modelMaxLength });
  throw new UnsupportedModelError('tokenizer', `${tokenizer.constructor.name} cannot be written as tokenizer.json`);
}
