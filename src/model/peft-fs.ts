// PEFT adapter folders on disk (Node, Deno): written whole or not at all, read back for importPeftAdapter.
// Disk access goes through source-fs.ts, the one module of src/model that touches the file system.

import { CheckpointFormatError, ModelSourceError } from './errors.ts';
import type { LlamaModel } from './llama.ts';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, exportPeftAdapter, peftAdapterFiles, type PeftExportOptions } from './peft.ts';
import { directoryFiles, writeFolderAtomic } from './source-fs.ts';

export interface PeftSaveOptions extends PeftExportOptions {
  /** Replace an existing folder (default: refuse). */
  overwrite?: boolean;
}

/** Writes the model's adapters as `dir`/adapter_config.json + adapter_model.safetensors (atomically). */
export async function savePeftAdapter(dir: string, model: LlamaModel, options: PeftSaveOptions = {}): Promise<void> {
  const adapter = await exportPeftAdapter(model, options);
  await writeFolderAtomic(dir, peftAdapterFiles(adapter), { overwrite: options.overwrite });
}

/** Reads a PEFT adapter folder: `importPeftAdapter(model, await loadPeftAdapter(dir))`. */
export async function loadPeftAdapter(dir: string): Promise<{ config: unknown; safetensors: Uint8Array }> {
  const files = directoryFiles(dir);
  const configBytes = await files.read(PEFT_CONFIG_FILE).catch((e: Error) => {
    throw new ModelSourceError(dir, `cannot be read: ${e.message}`);
  });
  if (!configBytes) throw new ModelSourceError(dir, `has no ${PEFT_CONFIG_FILE}; not a PEFT adapter folder`);
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(configBytes));
  } catch (e) {
    throw new CheckpointFormatError(`${dir}/${PEFT_CONFIG_FILE}`, 0, `not valid JSON: ${(e as Error).message}`);
  }
  const safetensors = await files.read(PEFT_WEIGHTS_FILE);
  if (!safetensors) {
    const pickle = await files.read('adapter_model.bin');
    throw new ModelSourceError(dir, pickle
      ? 'holds adapter_model.bin (a PyTorch pickle), which is not read; re-save the adapter with save_pretrained(safe_serialization=True)'
      : `has no ${PEFT_WEIGHTS_FILE}`);
  }
  return { config, safetensors };
}
