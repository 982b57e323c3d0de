// PEFT LoRA adapters: export/import round trips, PEFT's file format, the interleaved -> rotate-half
// permutation against a model converted by hf-export, merging, and the typed errors of import.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { expectClose } from '../helpers/compare.ts';
import { randn } from '../helpers/random.ts';
import { randomWeights, tinyConfig } from '../helpers/tiny-llama.ts';
import { loadModel, loadTokenizer, reference } from './stories260k.ts';
import type { Runtime } from '../../src/gpu/index.ts';
import { ModelSourceError, UnsupportedModelError, WeightMismatchError } from '../../src/model/errors.ts';
import { hfFolderFiles } from '../../src/model/hf-export.ts';
import { interleavedToHalf, loadHfFolder } from '../../src/model/hf.ts';
import { HfTokenizer } from '../../src/model/tokenizer-hf.ts';
import { memoryFolder, qwenLikeTokenizer } from './hf-fixtures.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { LORA_TARGETS, LORA_TARGET_WEIGHT, loraScale, type LoraConfig } from '../../src/model/lora.ts';
import {
  PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, UnsupportedAdapterOptionError, exportPeftAdapter, importPeftAdapter, mergeLora,
  peftAdapterFiles, peftTensorName, readWeights, type PeftAdapter,
} from '../../src/model/peft.ts';
import { loadPeftAdapter, savePeftAdapter } from '../../src/model/peft-fs.ts';
import { parseSafetensors, safetensorToF32, writeSafetensors, type TensorToWrite } from '../../src/model/safetensors.ts';
import type { LlamaWeights } from '../../src/model/weights.ts';

const ALL: LoraConfig = { rank: 4, alpha: 8, dropout: 0, targets: [...LORA_TARGETS] };

/** Random A and B (B is zero after addLora, which would make every adapter a no-op). */
function randomizeAdapters(model: LlamaModel, seed: number, scale = 0.2): void {
  let s = seed;
  for (const t of Object.values(model.adapters)) model.rt.write(t, randn(t.size, s++, scale));
}

async function logitsOf(model: LlamaModel, tokens: number[]): Promise<Float32Array> {
  const ids = model.rt.upload(new Uint32Array(tokens), [1, tokens.length], 'u32', 'ids');
  const fwd = model.forward(ids);
  const logits = (await fwd.logits.read()) as Float32Array;
  model.releaseForward(fwd);
  ids.release();
  return logits;
}

/** The adapter as it would come back from disk: config through its JSON text. */
function viaFiles(adapter: PeftAdapter): { config: unknown; safetensors: Uint8Array } {
  const files = peftAdapterFiles(adapter);
  return { config: JSON.parse(new TextDecoder().decode(files[PEFT_CONFIG_FILE])), safetensors: files[PEFT_WEIGHTS_FILE] };
}

async function readAdapters(model: LlamaModel): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(model.adapters)) out[name] = (await t.read()) as Float32Array;
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const tokens = [1, 5, 9, 2, 33, 17, 4, 28, 11];

async function adaptedTinyModel(rt: Runtime, weights: LlamaWeights, lora: LoraConfig = ALL, seed = 21): Promise<LlamaModel> {
  const model = LlamaModel.fromWeights(rt, weights);
  model.addLora(lora, 3);
  randomizeAdapters(model, seed);
  return model;
}

describe('PEFT adapter export and import', () => {
  const variants = [
    { name: 'interleaved RoPE, GQA, every projection', cfg: { nKvHeads: 2 }, lora: ALL },
    {
      name: 'rotate-half RoPE, untied, q/k/v biases, three projections',
      cfg: { nKvHeads: 1, ropeLayout: 'half' as const, tiedEmbeddings: false, attentionBias: true },
      lora: { rank: 3, alpha: 6, dropout: 0, targets: ['q_proj', 'k_proj', 'down_proj'] } as LoraConfig,
    },
    {
      name: 'Qwen3: explicit head_dim (q 32 wide over dim 16), q/k norms (not targets), every projection',
      cfg: { architecture: 'qwen3', headDim: 8, qkNorm: true, ropeLayout: 'half' as const },
      lora: ALL,
    },
    {
      name: 'interleaved RoPE with an explicit head_dim: q/k lora_B rows permuted per head of 8',
      cfg: { nKvHeads: 2, headDim: 8 },
      lora: { rank: 2, alpha: 4, dropout: 0, targets: ['q_proj', 'k_proj', 'o_proj'] } as LoraConfig,
    },
  ];
  for (const v of variants) {
    it(`round-trips adapter tensors and logits: ${v.name}`, async () => {
      const rt = await gpu();
      const weights = randomWeights(tinyConfig(v.cfg), 5);
      const source = await adaptedTinyModel(rt, weights, v.lora);
      const base = LlamaModel.fromWeights(rt, weights);
      const expected = await logitsOf(source, tokens);
      // The random adapter really changes the model.
      expect(maxAbsDiff(expected, await logitsOf(base, tokens))).toBeGreaterThan(1e-2);

      const target = LlamaModel.fromWeights(rt, weights);
      importPeftAdapter(target, viaFiles(await exportPeftAdapter(source, { baseModelName: 'tiny-llama' })));
      expect(target.lora).toEqual(v.lora);
      expect(Object.keys(target.adapters).sort()).toEqual(Object.keys(source.adapters).sort());
      const a = await readAdapters(source), b = await readAdapters(target);
      for (const name of Object.keys(a)) expect(b[name], name).toEqual(a[name]);
      expectClose(await logitsOf(target, tokens), expected, 1e-6, 0, 'logits after import');
      for (const m of [source, base, target]) m.release();
    });
  }

  it('writes adapter_config.json with PEFT\'s keys and values, and PEFT\'s tensor names', async () => {
    const rt = await gpu();
    const config = tinyConfig({ nKvHeads: 2 });
    const model = await adaptedTinyModel(rt, randomWeights(config, 5));
    const adapter = await exportPeftAdapter(model, { baseModelName: 'xtf/stories260K-hf' });
    const files = peftAdapterFiles(adapter);
    const text = new TextDecoder().decode(files[PEFT_CONFIG_FILE]);
    const json = JSON.parse(text);
    // Every key PEFT 0.19 writes for a LoraConfig, in json.dumps(sort_keys=True) order.
    const peftKeys = [
      'alora_invocation_tokens', 'alpha_pattern', 'arrow_config', 'auto_mapping', 'base_model_name_or_path', 'bias', 'corda_config',
      'ensure_weight_tying', 'eva_config', 'exclude_modules', 'fan_in_fan_out', 'inference_mode', 'init_lora_weights', 'layer_replication',
      'layers_pattern', 'layers_to_transform', 'loftq_config', 'lora_alpha', 'lora_bias', 'lora_dropout', 'lora_ga_config', 'megatron_config',
      'megatron_core', 'modules_to_save', 'peft_type', 'peft_version', 'qalora_group_size', 'r', 'rank_pattern', 'revision', 'target_modules',
      'target_parameters', 'task_type', 'trainable_token_indices', 'use_bdlora', 'use_dora', 'use_qalora', 'use_rslora',
    ];
    expect(Object.keys(json)).toEqual(peftKeys);
    expect(json).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: [...LORA_TARGETS],
      bias: 'none', fan_in_fan_out: false, use_rslora: false, use_dora: false, base_model_name_or_path: 'xtf/stories260K-hf',
      inference_mode: true, init_lora_weights: true, modules_to_save: null, rank_pattern: {}, alpha_pattern: {}, auto_mapping: null,
      layers_to_transform: null, revision: null, megatron_core: 'megatron.core', loftq_config: {},
    });
    expect(text.split('\n').slice(0, 3)).toEqual(['{', '  "alora_invocation_tokens": null,', '  "alpha_pattern": {},']);

    const st = parseSafetensors(files[PEFT_WEIGHTS_FILE]);
    expect(st.metadata).toEqual({ format: 'pt' });
    const pattern = /^base_model\.model\.model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(gate|up|down)_proj)\.lora_[AB]\.weight$/;
    for (const name of st.tensors.keys()) expect(name).toMatch(pattern);
    expect(st.tensors.size).toBe(config.nLayers * LORA_TARGETS.length * 2);
    const kv = config.nKvHeads * (config.dim / config.nHeads);
    expect(st.tensors.get('base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight')?.shape).toEqual([4, config.dim]);
    expect(st.tensors.get('base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight')?.shape).toEqual([kv, 4]);
    expect(st.tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')?.shape).toEqual([4, config.hiddenDim]);
    expect(st.tensors.get('base_model.model.model.layers.0.mlp.gate_proj.lora_B.weight')?.shape).toEqual([config.hiddenDim, 4]);

    // Interleaved model: q/k lora_B rows in rotate-half order, lora_A and the other projections as they are.
    const ours = await readAdapters(model);
    const stored = (l: number, t: (typeof LORA_TARGETS)[number], m: 'lora_A' | 'lora_B') => safetensorToF32(st.tensors.get(peftTensorName(l, t, m))!);
    expect(stored(1, 'q_proj', 'lora_B')).toEqual(interleavedToHalf(ours['layers.1.q_proj.lora_B'], config.nHeads, 4));
    expect(stored(1, 'k_proj', 'lora_B')).toEqual(interleavedToHalf(ours['layers.1.k_proj.lora_B'], config.nKvHeads, 4));
    expect(stored(1, 'q_proj', 'lora_B')).not.toEqual(ours['layers.1.q_proj.lora_B']);
    expect(stored(1, 'q_proj', 'lora_A')).toEqual(ours['layers.1.q_proj.lora_A']);
    expect(stored(0, 'v_proj', 'lora_B')).toEqual(ours['layers.0.v_proj.lora_B']);
    model.release();
  });

  it('an adapter exported from interleaved stories260K fits the rotate-half model `xtf convert` writes', async () => {
    const rt = await gpu();
    const weights = loadModel();
    expect(weights.config.ropeLayout).toBe('interleaved');
    const ids = reference.cases[0].tokens;
    const source = LlamaModel.fromWeights(rt, weights);
    source.addLora(ALL, 9);
    randomizeAdapters(source, 40, 0.1);
    const expected = await logitsOf(source, ids);
    const adapter = viaFiles(await exportPeftAdapter(source));

    // The base weights through hf-export and back, as transformers would read them.
    const files = hfFolderFiles(weights, loadTokenizer());
    const hf = await loadHfFolder(async (f) => files[f] ?? null, 'converted');
    expect(hf.config.ropeLayout).toBe('half');
    const converted = LlamaModel.fromWeights(rt, hf.weights);
    expect(maxAbsDiff(await logitsOf(converted, ids), expected)).toBeGreaterThan(1e-2);
    importPeftAdapter(converted, adapter);
    expectClose(await logitsOf(converted, ids), expected, 1e-4, 1e-4, 'logits of the converted model with the adapter');

    // Control: the same adapter without the q/k row permutation does not fit.
    const raw = await readAdapters(source);
    for (let l = 0; l < weights.config.nLayers; l++) {
      for (const t of ['q_proj', 'k_proj']) rt.write(converted.adapters[`layers.${l}.${t}.lora_B`], raw[`layers.${l}.${t}.lora_B`]);
    }
    expect(maxAbsDiff(await logitsOf(converted, ids), expected)).toBeGreaterThan(1e-2);
    source.release();
    converted.release();
  });
});

describe('merging', () => {
  it('W += (alpha/r)·B·A gives the logits of the adapted model, and readWeights returns the merged weights', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ nKvHeads: 2, tiedEmbeddings: false }), 8);
    const lora: LoraConfig = { rank: 5, alpha: 7, dropout: 0, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'down_proj'] };
    const model = await adaptedTinyModel(rt, weights, lora, 50);
    const expected = await logitsOf(model, tokens);
    const adapters = await readAdapters(model);
    await expect(readWeights(model)).rejects.toThrow('mergeLora(model) first');

    mergeLora(model);
    expect(model.lora).toBeNull();
    expect(Object.keys(model.adapters)).toEqual([]);
    expectClose(await logitsOf(model, tokens), expected, 1e-4, 0, 'merged logits');

    const merged = await readWeights(model);
    expect(merged.config).toEqual(weights.config);
    const scale = loraScale(lora);
    for (const l of [0, 1]) {
      for (const target of LORA_TARGETS) {
        const name = `layers.${l}.${LORA_TARGET_WEIGHT[target]}`;
        if (!lora.targets.includes(target)) {
          expect(merged.tensors[name], name).toEqual(weights.tensors[name]);
          continue;
        }
        const [out, inF] = weights.shapes[name];
        const a = adapters[`layers.${l}.${target}.lora_A`], b = adapters[`layers.${l}.${target}.lora_B`];
        const want = new Float64Array(out * inF);
        for (let o = 0; o < out; o++) {
          for (let i = 0; i < inF; i++) {
            let s = 0;
            for (let k = 0; k < lora.rank; k++) s += b[o * lora.rank + k] * a[k * inF + i];
            want[o * inF + i] = weights.tensors[name][o * inF + i] + scale * s;
          }
        }
        expectClose(merged.tensors[name], want, 1e-5, 1e-5, name);
      }
    }
    for (const name of ['tokEmbedding', 'classifier', 'finalNorm', 'layers.1.attnNorm']) expect(merged.tensors[name], name).toEqual(weights.tensors[name]);
    model.release();
  });
});

describe('merging a Qwen3 adapter', () => {
  it('the merged model exports as a Hugging Face folder that loads back with the adapted logits', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ architecture: 'qwen3', headDim: 8, qkNorm: true, ropeLayout: 'half' }), 9);
    const model = await adaptedTinyModel(rt, weights);
    const expected = await logitsOf(model, tokens);
    mergeLora(model);
    const tok = qwenLikeTokenizer();
    const files = hfFolderFiles(await readWeights(model), new HfTokenizer(tok.tokenizerJson, tok.tokenizerConfig));
    const loaded = await loadHfFolder(memoryFolder(files), 'merged qwen3');
    expect(loaded.config).toEqual(weights.config);
    // The q/k norms are frozen weights, not adapted: they come back unchanged.
    expect(loaded.weights.tensors['layers.1.qNorm']).toEqual(weights.tensors['layers.1.qNorm']);
    const reloaded = LlamaModel.fromWeights(rt, loaded.weights);
    expectClose(await logitsOf(reloaded, tokens), expected, 1e-4, 0, 'logits of the exported merged model');
    for (const m of [model, reloaded]) m.release();
  });
});

describe('interleaved RoPE with an explicit head_dim and q/k norms', () => {
  it('an adapter exported from the interleaved model fits the rotate-half folder hf-export writes (q/k norm weights permuted with their rows)', async () => {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ architecture: 'qwen3', nKvHeads: 2, headDim: 8, qkNorm: true }), 14);
    expect(weights.config.ropeLayout).toBe('interleaved');
    const source = await adaptedTinyModel(rt, weights, ALL, 33);
    const expected = await logitsOf(source, tokens);
    const tok = qwenLikeTokenizer();
    const files = hfFolderFiles(weights, new HfTokenizer(tok.tokenizerJson, tok.tokenizerConfig));
    const hf = await loadHfFolder(memoryFolder(files), 'converted');
    expect(hf.config).toEqual({ ...weights.config, ropeLayout: 'half' });
    expect(hf.weights.tensors['layers.0.qNorm']).toEqual(interleavedToHalf(weights.tensors['layers.0.qNorm'], 1, 1));
    const converted = LlamaModel.fromWeights(rt, hf.weights);
    importPeftAdapter(converted, viaFiles(await exportPeftAdapter(source)));
    expectClose(await logitsOf(converted, tokens), expected, 1e-4, 1e-4, 'logits of the converted model with the adapter');
    for (const m of [source, converted]) m.release();
  });
});

describe('PEFT adapter folders on disk', () => {
  let root = '';
  afterAll(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('saves atomically and loads back', async () => {
    const rt = await gpu();
    root = await mkdtemp(join(tmpdir(), 'xtf-peft-'));
    const weights = randomWeights(tinyConfig(), 5);
    const model = await adaptedTinyModel(rt, weights);
    const dir = join(root, 'adapter');
    await savePeftAdapter(dir, model, { baseModelName: 'tiny' });
    expect((await readdir(dir)).sort()).toEqual([PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE]);
    expect((await readdir(root)).sort()).toEqual(['adapter']); // no temporary folders left
    await expect(savePeftAdapter(dir, model)).rejects.toThrow(ModelSourceError);
    await savePeftAdapter(dir, model, { overwrite: true });

    const loaded = LlamaModel.fromWeights(rt, weights);
    importPeftAdapter(loaded, await loadPeftAdapter(dir));
    expectClose(await logitsOf(loaded, tokens), await logitsOf(model, tokens), 1e-6, 0, 'logits after save/load');
    await expect(loadPeftAdapter(join(root, 'nowhere'))).rejects.toThrow(`has no ${PEFT_CONFIG_FILE}`);
    model.release();
    loaded.release();
  });
});

describe('importPeftAdapter errors', () => {
  async function setup() {
    const rt = await gpu();
    const weights = randomWeights(tinyConfig({ nKvHeads: 2 }), 5);
    const source = await adaptedTinyModel(rt, weights);
    const adapter = viaFiles(await exportPeftAdapter(source));
    source.release();
    const target = LlamaModel.fromWeights(rt, weights);
    // An adapter already attached must survive a failed import.
    target.addLora({ rank: 2, alpha: 2, dropout: 0, targets: ['v_proj'] });
    return { adapter, target, config: adapter.config as Record<string, unknown> };
  }

  /** The safetensors file after `edit` changed its tensors. */
  function rewritten(bytes: Uint8Array, edit: (tensors: Record<string, TensorToWrite>) => void): Uint8Array {
    const tensors: Record<string, TensorToWrite> = {};
    for (const [n, t] of parseSafetensors(bytes).tensors) tensors[n] = { shape: t.shape, data: safetensorToF32(t) };
    edit(tensors);
    return writeSafetensors(tensors, { format: 'pt' });
  }

  /** The safetensors file with one tensor replaced or added (or removed when `replacement` is null). */
  function edited(bytes: Uint8Array, name: string, replacement: TensorToWrite | null): Uint8Array {
    return rewritten(bytes, (tensors) => {
      if (replacement) tensors[name] = replacement;
      else delete tensors[name];
    });
  }

  it('names a tensor with the wrong shape', async () => {
    const { adapter, target } = await setup();
    const name = peftTensorName(1, 'k_proj', 'lora_B');
    const safetensors = edited(adapter.safetensors, name, { shape: [8, 5], data: new Float32Array(40) });
    const e = (() => {
      try {
        importPeftAdapter(target, { ...adapter, safetensors });
      } catch (err) {
        return err;
      }
    })() as WeightMismatchError;
    expect(e).toBeInstanceOf(WeightMismatchError);
    expect([e.tensor, e.expected, e.found]).toEqual([name, [8, 4], [8, 5]]);
    expect(e.message).toContain(`${PEFT_WEIGHTS_FILE}: tensor ${name} has shape [8, 5], expected [8, 4]`);
    expect(target.lora?.targets).toEqual(['v_proj']);
    target.release();
  });

  it('names a missing tensor and refuses unexpected ones', async () => {
    const { adapter, target } = await setup();
    const name = peftTensorName(0, 'up_proj', 'lora_A');
    expect(() => importPeftAdapter(target, { ...adapter, safetensors: edited(adapter.safetensors, name, null) }))
      .toThrow(new WeightMismatchError(PEFT_WEIGHTS_FILE, name, [4, 16], null).message);
    const dora = 'base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector';
    expect(() => importPeftAdapter(target, { ...adapter, safetensors: edited(adapter.safetensors, dora, { shape: [16], data: new Float32Array(16) }) }))
      .toThrow(UnsupportedModelError);
    expect(target.lora?.targets).toEqual(['v_proj']);
    target.release();
  });

  it('refuses unsupported options with a typed error that says what to do', async () => {
    const { adapter, target, config } = await setup();
    const cases: [string, unknown, string][] = [
      ['use_rslora', true, 'rank-stabilised'],
      ['use_dora', true, 'DoRA is not implemented'],
      ['bias', 'lora_only', 'bias="none"'],
      ['rank_pattern', { q_proj: 8 }, 'per-module ranks'],
      ['init_lora_weights', 'pissa_niter_4', 'modified base weights'],
      ['peft_type', 'IA3', 'only LoRA'],
      ['target_modules', ['q_proj', 'lm_head'], '"lm_head" is not one of'],
    ];
    for (const [option, value, hint] of cases) {
      let err: unknown;
      try {
        importPeftAdapter(target, { ...adapter, config: { ...config, [option]: value } });
      } catch (e) {
        err = e;
      }
      expect(err, option).toBeInstanceOf(UnsupportedAdapterOptionError);
      expect((err as UnsupportedAdapterOptionError).option).toBe(option);
      expect((err as Error).message).toContain(`${PEFT_CONFIG_FILE}: ${option} = ${JSON.stringify(value)} is not supported`);
      expect((err as Error).message).toContain(hint);
    }
    expect(target.lora?.targets).toEqual(['v_proj']);

    // lora_dropout is kept: it applies in training forwards.
    importPeftAdapter(target, { ...adapter, config: { ...config, lora_dropout: 0.05 } });
    expect(target.lora).toEqual({ ...ALL, dropout: 0.05 });
    target.release();
  });

  it('accepts "all-linear" and the shorter configs of older PEFT versions', async () => {
    const { adapter, target } = await setup();
    importPeftAdapter(target, { ...adapter, config: { peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, target_modules: 'all-linear', bias: 'none' } });
    expect(target.lora).toEqual(ALL);
    importPeftAdapter(target, {
      config: { peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: ['v_proj', 'q_proj'], fan_in_fan_out: false, inference_mode: true },
      safetensors: rewritten(adapter.safetensors, (tensors) => {
        for (const name of Object.keys(tensors)) if (!/\.(q|v)_proj\./.test(name)) delete tensors[name];
      }),
    });
    expect(target.lora?.targets).toEqual(['q_proj', 'v_proj']);
    target.release();
  });
});
