// A config must agree with the weights it comes with: a layer count is checked against the layers the
// checkpoint stores before anything is built per layer (1,000,000 used to reach 1.8 GB), a smaller count
// no longer loads a truncated model silently, and stored tensors the model does not use are an error
// naming them (rotary inv_freq buffers and a tied lm_head.weight: a named warning).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHfFolder } from '../../src/model/hf.ts';
import { loadGguf } from '../../src/model/gguf.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { type TensorToWrite, parseSafetensors, safetensorToF32, writeSafetensors } from '../../src/model/safetensors.ts';
import { loadModel } from '../../src/model/source-fs.ts';
import { ModelConfigError, UnusedTensorsError } from '../../src/model/errors.ts';
import type { LlamaWeights } from '../../src/model/weights.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { json, memoryFolder } from './hf-fixtures.ts';
import { loadTokenizer } from './stories260k.ts';
import { type GgufTensor, str, u32, f32, writeGguf } from './gguf-writer.ts';

const config = tinyConfig({ vocabSize: 512, ropeLayout: 'half', tiedEmbeddings: false });
const model = randomWeights(config, 3);
const folder = () => hfFolderFiles(model, loadTokenizer());

function withConfig(files: Record<string, Uint8Array>, patch: Record<string, unknown>): Record<string, Uint8Array> {
  const c = JSON.parse(new TextDecoder().decode(files['config.json']));
  return { ...files, 'config.json': json({ ...c, ...patch }) };
}

function editTensors(files: Record<string, Uint8Array>, edit: (t: Record<string, TensorToWrite>) => void): Record<string, Uint8Array> {
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, t] of parseSafetensors(files['model.safetensors']).tensors) tensors[name] = { shape: t.shape, data: safetensorToF32(t) };
  edit(tensors);
  return { ...files, 'model.safetensors': writeSafetensors(tensors) };
}

describe('Hugging Face config.json against the stored tensors', () => {
  it('fails at once, naming num_hidden_layers, when config.json claims a million layers over two', async () => {
    const start = performance.now();
    const err = await loadHfFolder(memoryFolder(withConfig(folder(), { num_hidden_layers: 1_000_000 })), 'tiny').catch((e) => e);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(err).toBeInstanceOf(ModelConfigError);
    expect(err.field).toBe('num_hidden_layers');
    expect(err.message).toBe('tiny/config.json: num_hidden_layers is 1,000,000, but tiny/model.safetensors stores 2 layers (model.layers.0 .. model.layers.1); ' +
      'the config does not describe these weights');
  }, 5000);

  it('refuses a config with fewer layers than the weights (it used to load them silently as a smaller model)', async () => {
    const err = await loadHfFolder(memoryFolder(withConfig(folder(), { num_hidden_layers: 1 })), 'tiny').catch((e) => e);
    expect(err).toBeInstanceOf(ModelConfigError);
    expect(err.message).toBe('tiny/config.json: num_hidden_layers is 1, but tiny/model.safetensors stores 2 layers (model.layers.0 .. model.layers.1); the config does not describe these weights');
  });

  it('names stored tensors the model does not use', async () => {
    const extra = editTensors(folder(), (t) => {
      t['model.layers.0.self_attn.q_norm.weight'] = { shape: [4], data: new Float32Array(4) };
      t['model.layers.1.self_attn.k_norm.weight'] = { shape: [4], data: new Float32Array(4) };
    });
    const err = await loadHfFolder(memoryFolder(extra), 'tiny').catch((e) => e);
    expect(err).toBeInstanceOf(UnusedTensorsError);
    expect(err.tensors).toEqual(['model.layers.0.self_attn.q_norm.weight', 'model.layers.1.self_attn.k_norm.weight']);
    expect(err.message).toBe('tiny/model.safetensors: 2 stored tensors are not used by the model the config describes: model.layers.0.self_attn.q_norm.weight, ' +
      'model.layers.1.self_attn.k_norm.weight; the config does not match these weights, or the checkpoint has parts this runtime does not implement');
    // In a sharded folder too: a tensor in a shard that the model does not use.
    const files = { ...extra, 'model.safetensors.index.json': json({ weight_map: Object.fromEntries([...parseSafetensors(extra['model.safetensors']).tensors.keys()].map((n) => [n, 'a.safetensors'])) }), 'a.safetensors': extra['model.safetensors'] };
    delete (files as Record<string, Uint8Array | undefined>)['model.safetensors'];
    await expect(loadHfFolder(memoryFolder(files), 'sharded')).rejects.toThrow(/^sharded\/model\.safetensors\.index\.json: 2 stored tensors are not used/);
  });

  it('loads rotary inv_freq buffers and a tied lm_head.weight with a named warning', async () => {
    const files = withConfig(editTensors(folder(), (t) => {
      for (const l of [0, 1]) t[`model.layers.${l}.self_attn.rotary_emb.inv_freq`] = { shape: [2], data: Float32Array.of(1, 0.01) };
    }), { tie_word_embeddings: true });
    const loaded = await loadHfFolder(memoryFolder(files), 'tiny');
    expect(loaded.weights.tensors.classifier).toBeUndefined();
    expect(loaded.warnings).toEqual([
      'tiny/model.safetensors: ignoring lm_head.weight: tie_word_embeddings is true, so the classifier is model.embed_tokens.weight (as in transformers)',
      'tiny/model.safetensors: ignoring 2 tensors (model.layers.0.self_attn.rotary_emb.inv_freq, model.layers.1.self_attn.rotary_emb.inv_freq): rotary inv_freq buffers are recomputed from rope_theta',
    ]);
    // loadModel hands them to onWarning.
    const dir = mkdtempSync(join(tmpdir(), 'xtf-warn-'));
    try {
      for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
      const seen: string[] = [];
      const m = await loadModel(dir, { onWarning: (w) => seen.push(w) });
      expect(m.warnings).toHaveLength(2);
      expect(seen).toEqual(m.warnings);
      expect(seen[1]).toContain(`${dir}/model.safetensors: ignoring 2 tensors`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('GGUF block_count against the stored tensors', () => {
  const gguf = (m: LlamaWeights, blockCount: number, extra: GgufTensor[] = []) => {
    const c = m.config;
    const names: Record<string, string> = { tokEmbedding: 'token_embd.weight', finalNorm: 'output_norm.weight', classifier: 'output.weight' };
    const layer: Record<string, string> = { attnNorm: 'attn_norm', wq: 'attn_q', wk: 'attn_k', wv: 'attn_v', wo: 'attn_output', ffnNorm: 'ffn_norm', w1: 'ffn_gate', w2: 'ffn_down', w3: 'ffn_up' };
    const tensors: GgufTensor[] = Object.keys(m.shapes).map((name) => {
      const l = /^layers\.(\d+)\.(\w+)$/.exec(name);
      return { name: l ? `blk.${l[1]}.${layer[l[2]]}.weight` : names[name], shape: [...m.shapes[name]], dtype: 'F32', data: m.tensors[name] };
    });
    return writeGguf({
      'general.architecture': str('llama'), 'llama.context_length': u32(c.maxSeqLen), 'llama.embedding_length': u32(c.dim),
      'llama.block_count': u32(blockCount), 'llama.feed_forward_length': u32(c.hiddenDim), 'llama.attention.head_count': u32(c.nHeads),
      'llama.attention.head_count_kv': u32(c.nKvHeads), 'llama.attention.layer_norm_rms_epsilon': f32(c.normEps), 'llama.vocab_size': u32(c.vocabSize),
      'tokenizer.ggml.model': str('none'),
    }, [...tensors, ...extra]);
  };
  const interleaved = randomWeights(tinyConfig({ vocabSize: 64, tiedEmbeddings: false }), 5);

  it('names llama.block_count at once when it claims a million blocks over two, or one over two', async () => {
    const start = performance.now();
    const err = await loadGguf(gguf(interleaved, 1_000_000), 'lying.gguf').catch((e) => e);
    expect(performance.now() - start).toBeLessThan(1000);
    expect(err).toBeInstanceOf(ModelConfigError);
    expect(err.field).toBe('llama.block_count');
    expect(err.message).toBe('lying.gguf: llama.block_count is 1,000,000, but the file stores 2 layers (blk.0 .. blk.1); the config does not describe these weights');
    await expect(loadGguf(gguf(interleaved, 1), 'one.gguf')).rejects.toThrow('one.gguf: llama.block_count is 1, but the file stores 2 layers');
  }, 5000);

  it('names a stored tensor the model does not use', async () => {
    const err = await loadGguf(gguf(interleaved, 2, [{ name: 'blk.0.attn_q_norm.weight', shape: [4], dtype: 'F32', data: new Float32Array(4) }]), 'extra.gguf').catch((e) => e);
    expect(err).toBeInstanceOf(UnusedTensorsError);
    expect(err.message).toMatch(/^extra\.gguf: 1 stored tensor is not used by the model the config describes: blk\.0\.attn_q_norm\.weight;/);
  });
});

