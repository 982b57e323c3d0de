// LoRA adapters in the format of Hugging Face PEFT (`PeftModel.save_pretrained`), and merging them.
//
// An adapter folder holds two files:
//   adapter_config.json        LoraConfig.to_dict(), written with json.dumps(indent=2, sort_keys=True)
//   adapter_model.safetensors  base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight  [r, in]
//                              base_model.model.model.layers.{i}.self_attn.q_proj.lora_B.weight  [out, r]
//                              ... k_proj, v_proj, o_proj (self_attn), gate_proj, up_proj, down_proj (mlp)
// ("base_model.model." is PeftModel's prefix around LlamaForCausalLM; the adapter name is not in saved keys.)
//
// RoPE layout. PEFT adapters apply to Hugging Face weights, whose q/k rows follow the rotate-half layout.
// A model loaded from a llama2.c checkpoint keeps Meta's interleaved layout, and `xtf convert`
// (hf-export.ts) permutes its wq/wk rows into rotate-half order. q = W·x + s·B·(A·x): permuting the rows
// of W and of B the same way permutes q, and A (which acts on the input x) is untouched. So for an
// interleaved model the exported q_proj / k_proj lora_B rows are permuted exactly like hf-export permutes
// wq / wk, and the adapter fits the converted HF model; import applies the inverse permutation.

import type { Tensor } from '../gpu/index.ts';
import { matmul } from '../ops/matmul.ts';
import type { PackedFormat } from '../ops/matmul-packed.ts';
import { CompactBaseError } from './base-dtype.ts';
import { ModelConfigError, UnsupportedModelError, WeightMismatchError } from './errors.ts';
import { halfToInterleaved, interleavedToHalf } from './hf.ts';
import type { LlamaModel } from './llama.ts';
import { LORA_TARGETS, LORA_TARGET_WEIGHT, loraScale, validateLoraConfig, type LoraConfig, type LoraTarget } from './lora.ts';
import { parseSafetensors, safetensorToF32, writeSafetensors, type SafetensorsDtype, type TensorToWrite } from './safetensors.ts';
import { llamaWeightShapes, type LlamaWeights } from './weights.ts';

export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';
/** The PEFT release whose adapter_config.json keys (and `peft_version` value) the export mirrors. */
export const PEFT_FORMAT_VERSION = '0.19.1';

/** Module path of each target inside `model.layers.{i}.` of a LlamaForCausalLM. */
const PEFT_MODULE: Record<LoraTarget, string> = {
  q_proj: 'self_attn.q_proj',
  k_proj: 'self_attn.k_proj',
  v_proj: 'self_attn.v_proj',
  o_proj: 'self_attn.o_proj',
  gate_proj: 'mlp.gate_proj',
  up_proj: 'mlp.up_proj',
  down_proj: 'mlp.down_proj',
};

/** PEFT's saved tensor name, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight */
export function peftTensorName(layer: number, target: LoraTarget, matrix: 'lora_A' | 'lora_B'): string {
  return `base_model.model.model.layers.${layer}.${PEFT_MODULE[target]}.${matrix}.weight`;
}

/** adapter_config.json of a LoRA adapter as PEFT 0.19 writes it (keys in PEFT's sorted order). */
export interface PeftLoraConfigJson {
  alora_invocation_tokens: number[] | null;
  alpha_pattern: Record<string, number>;
  arrow_config: Record<string, unknown> | null;
  auto_mapping: Record<string, string> | null;
  base_model_name_or_path: string | null;
  bias: 'none' | 'all' | 'lora_only';
  corda_config: Record<string, unknown> | null;
  ensure_weight_tying: boolean;
  eva_config: Record<string, unknown> | null;
  exclude_modules: string[] | string | null;
  fan_in_fan_out: boolean;
  inference_mode: boolean;
  init_lora_weights: boolean | string;
  layer_replication: [number, number][] | null;
  layers_pattern: string[] | string | null;
  layers_to_transform: number[] | number | null;
  loftq_config: Record<string, unknown>;
  lora_alpha: number;
  lora_bias: boolean;
  lora_dropout: number;
  lora_ga_config: Record<string, unknown> | null;
  megatron_config: Record<string, unknown> | null;
  megatron_core: string;
  modules_to_save: string[] | null;
  peft_type: 'LORA';
  peft_version: string;
  qalora_group_size: number;
  r: number;
  rank_pattern: Record<string, number>;
  revision: string | null;
  target_modules: string[] | string;
  target_parameters: string[] | null;
  task_type: string | null;
  trainable_token_indices: number[] | Record<string, number[]> | null;
  use_bdlora: Record<string, unknown> | null;
  use_dora: boolean;
  use_qalora: boolean;
  use_rslora: boolean;
}

/** The two files of an adapter folder: the config (parsed JSON) and the safetensors bytes. */
export interface PeftAdapter {
  config: PeftLoraConfigJson;
  safetensors: Uint8Array;
}

export interface PeftExportOptions {
  /** `base_model_name_or_path`: the Hub id or path PEFT loads the base model from (default null). */
  baseModelName?: string;
  /** Stored precision of the adapter tensors (default F32). */
  dtype?: SafetensorsDtype;
}



/** An adapter_config.json option this runtime does not implement. */
export class UnsupportedAdapterOptionError extends UnsupportedModelError {
  constructor(source: string, public readonly option: string, public readonly value: unknown, hint: string) {
    super(source, `${option} = ${JSON.stringify(value)} is not supported: ${hint}`);
  }
}

/** The model's adapters as PEFT's adapter_config.json and adapter_model.safetensors. */
export async function exportPeftAdapter(model: LlamaModel, options: PeftExportOptions = {}): Promise<PeftAdapter> {
  const lora = model.lora;
  if (!lora) throw new Error('exportPeftAdapter: the model has no LoRA adapters (addLora() or importPeftAdapter() first)');
  const c = model.config;
  const permute = c.ropeLayout === 'interleaved';
  const tensors: Record<string, TensorToWrite> = {};
  for (let l = 0; l < c.nLayers; l++) {
    for (const target of lora.targets) {
      const { a, b } = adapterPair(model, l, target);
      let bData = (await model.rt.read(b)) as Float32Array;
      if (permute && target === 'q_proj') bData = interleavedToHalf(bData, c.nHeads, lora.rank);
      if (permute && target === 'k_proj') bData = interleavedToHalf(bData, c.nKvHeads, lora.rank);
      tensors[peftTensorName(l, target, 'lora_A')] = { shape: a.shape, data: (await model.rt.read(a)) as Float32Array, dtype: options.dtype };
      tensors[peftTensorName(l, target, 'lora_B')] = { shape: b.shape, data: bData, dtype: options.dtype };
    }
  }
  return {
    config: peftLoraConfig(lora, options.baseModelName ?? null),
    safetensors: writeSafetensors(tensors, { format: 'pt' }),
  };
}

/** LoraConfig.to_dict() of PEFT 0.19 for a LoRA on a LlamaForCausalLM with this config. */
export function peftLoraConfig(lora: LoraConfig, baseModelName: string | null = null): PeftLoraConfigJson {
  return {
    alora_invocation_tokens: null,
    alpha_pattern: {},
    arrow_config: null,
    auto_mapping: null,
    base_model_name_or_path: baseModelName,
    bias: 'none',
    corda_config: null,
    ensure_weight_tying: false,
    eva_config: null,
    exclude_modules: null,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layer_replication: null,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: lora.alpha,
    lora_bias: false,
    lora_dropout: lora.dropout,
    lora_ga_config: null,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    peft_version: PEFT_FORMAT_VERSION,
    qalora_group_size: 16,
    r: lora.rank,
    rank_pattern: {},
    revision: null,
    target_modules: [...lora.targets],
    target_parameters: null,
    task_type: 'CAUSAL_LM',
    trainable_token_indices: null,
    use_bdlora: null,
    use_dora: false,
    use_qalora: false,
    use_rslora: false,
  };
}

/** The adapter as folder files, the config serialised like PEFT's json.dumps(indent=2, sort_keys=True). */
export function peftAdapterFiles(adapter: PeftAdapter): Record<string, Uint8Array> {
  return {
    [PEFT_CONFIG_FILE]: new TextEncoder().encode(JSON.stringify(sortKeys(adapter.config), null, 2)),
    [PEFT_WEIGHTS_FILE]: adapter.safetensors,
  };
}

/**
 * Replaces the model's adapters by a PEFT LoRA adapter (config: adapter_config.json parsed). Everything
 * is checked before the model is touched: unsupported options, missing tensors and shapes throw typed errors.
 */
export function importPeftAdapter(model: LlamaModel, adapter: { config: unknown; safetensors: Uint8Array }): void {
  const lora = parsePeftLoraConfig(adapter.config);
  const c = model.config;
  const file = parseSafetensors(adapter.safetensors, PEFT_WEIGHTS_FILE);

  let targets = lora.targets;
  if (targets.length === 0) {
    // target_modules was a pattern ("all-linear" or a regex): the tensors say which projections are adapted.
    targets = LORA_TARGETS.filter((t) => [...file.tensors.keys()].some((name) => name.endsWith(`.${PEFT_MODULE[t]}.lora_A.weight`)));
    if (targets.length === 0) {
      throw new UnsupportedModelError(PEFT_WEIGHTS_FILE, `holds no LoRA tensors of a Llama projection (${LORA_TARGETS.join(', ')}), e.g. ${peftTensorName(0, 'q_proj', 'lora_A')}`);
    }
  }
  const config = validateLoraConfig({ ...lora, targets });

  const host = new Map<string, Float32Array>();
  const used = new Set<string>();
  for (let l = 0; l < c.nLayers; l++) {
    for (const target of targets) {
      const [out, inFeatures] = model.baseWeight(`layers.${l}.${LORA_TARGET_WEIGHT[target]}`).shape;
      for (const [matrix, shape] of [['lora_A', [config.rank, inFeatures]], ['lora_B', [out, config.rank]]] as const) {
        const name = peftTensorName(l, target, matrix);
        const t = file.tensors.get(name);
        if (!t) throw new WeightMismatchError(PEFT_WEIGHTS_FILE, name, shape, null);
        if (t.shape.length !== 2 || t.shape[0] !== shape[0] || t.shape[1] !== shape[1]) throw new WeightMismatchError(PEFT_WEIGHTS_FILE, name, shape, t.shape);
        let data = safetensorToF32(t, PEFT_WEIGHTS_FILE);
        if (c.ropeLayout === 'interleaved' && matrix === 'lora_B' && target === 'q_proj') data = halfToInterleaved(data, c.nHeads, config.rank);
        if (c.ropeLayout === 'interleaved' && matrix === 'lora_B' && target === 'k_proj') data = halfToInterleaved(data, c.nKvHeads, config.rank);
        host.set(`layers.${l}.${target}.${matrix}`, data);
        used.add(name);
      }
    }
  }
  for (const name of file.tensors.keys()) {
    if (!used.has(name)) {
      throw new UnsupportedModelError(PEFT_WEIGHTS_FILE, `unexpected tensor ${name}: only lora_A/lora_B of ${targets.join(', ')} in layers 0..${c.nLayers - 1} are read ` +
        '(DoRA magnitudes, LoRA biases, modules_to_save, embedding adapters or extra layers are not supported)');
    }
  }

  model.addLora(config);
  for (const [name, data] of host) model.rt.write(model.adapters[name], data);
}

/** Validates adapter_config.json and returns the LoraConfig it describes (targets empty: given by a pattern). */
export function parsePeftLoraConfig(json: unknown): LoraConfig {
  const src = PEFT_CONFIG_FILE;
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ModelConfigError('(root)', 'must be a JSON object', src);
  const cfg = json as Record<string, unknown>;
  const unsupported = (option: string, hint: string): never => {
    throw new UnsupportedAdapterOptionError(src, option, cfg[option], hint);
  };
  const isSet = (v: unknown) => v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) &&
    !(typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

  if (cfg.peft_type !== 'LORA') unsupported('peft_type', 'only LoRA adapters ("LORA") can be loaded');
  if (cfg.task_type !== undefined && cfg.task_type !== null && cfg.task_type !== 'CAUSAL_LM') unsupported('task_type', 'only causal language-model adapters ("CAUSAL_LM") can be loaded');
  if (cfg.use_rslora === true) unsupported('use_rslora', 'rank-stabilised scaling (alpha/sqrt(r)) is not implemented; merge the adapter with PEFT (merge_and_unload) and load the merged model');
  if (cfg.use_dora === true) unsupported('use_dora', 'DoRA is not implemented; merge it with PEFT (merge_and_unload) and load the merged model');
  if (cfg.bias !== undefined && cfg.bias !== 'none') unsupported('bias', 'trained biases are not part of this runtime\'s LoRA; use bias="none"');
  if (cfg.lora_bias === true) unsupported('lora_bias', 'a bias on lora_B is not implemented');
  if (cfg.fan_in_fan_out === true) unsupported('fan_in_fan_out', 'Llama linear weights are stored [out, in]; fan_in_fan_out must be false');
  if (cfg.use_qalora === true) unsupported('use_qalora', 'QA-LoRA is not implemented');
  if (isSet(cfg.alora_invocation_tokens)) unsupported('alora_invocation_tokens', 'activated LoRA is not implemented');
  if (isSet(cfg.rank_pattern)) unsupported('rank_pattern', 'per-module ranks are not implemented; every adapted projection must use r');
  if (isSet(cfg.alpha_pattern)) unsupported('alpha_pattern', 'per-module alphas are not implemented; every adapted projection must use lora_alpha');
  if (isSet(cfg.layers_to_transform)) unsupported('layers_to_transform', 'adapters must cover every layer');
  if (isSet(cfg.layer_replication)) unsupported('layer_replication', 'layer replication is not implemented');
  if (isSet(cfg.modules_to_save)) unsupported('modules_to_save', 'only LoRA matrices are loaded, not fully trained modules');
  if (isSet(cfg.trainable_token_indices)) unsupported('trainable_token_indices', 'trainable token embeddings are not implemented');
  if (isSet(cfg.target_parameters)) unsupported('target_parameters', 'LoRA on parameters (rather than modules) is not implemented');
  if (isSet(cfg.use_bdlora)) unsupported('use_bdlora', 'block-diagonal LoRA is not implemented');
  const init = cfg.init_lora_weights;
  if (typeof init === 'string' && /^(pissa|olora|corda|loftq)/.test(init)) {
    unsupported('init_lora_weights', `a ${init} adapter is relative to modified base weights; convert it to a plain LoRA with PEFT ` +
      '(save_pretrained(path_initial_model_for_weight_conversion=...)) or merge it there');
  }

  const rank = cfg.r;
  if (typeof rank !== 'number' || !Number.isInteger(rank) || rank <= 0) throw new ModelConfigError('r', `must be a positive integer, got ${JSON.stringify(rank)}`, src);
  const alpha = cfg.lora_alpha;
  if (typeof alpha !== 'number' || !(alpha > 0)) throw new ModelConfigError('lora_alpha', `must be a positive number, got ${JSON.stringify(alpha)}`, src);
  const dropout = cfg.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw new ModelConfigError('lora_dropout', `must be a number in [0, 1), got ${JSON.stringify(dropout)}`, src);

  const modules = cfg.target_modules;
  let targets: LoraTarget[] = [];
  if (Array.isArray(modules)) {
    for (const m of modules) {
      // PEFT matches a list entry exactly or as a suffix of the module path ("self_attn.q_proj").
      const target = typeof m === 'string' ? LORA_TARGETS.find((t) => m === t || m === PEFT_MODULE[t] || m.endsWith(`.${PEFT_MODULE[t]}`)) : undefined;
      if (!target) unsupported('target_modules', `${JSON.stringify(m)} is not one of ${LORA_TARGETS.join(', ')}`);
      if (!targets.includes(target!)) targets.push(target!);
    }
    if (targets.length === 0) throw new ModelConfigError('target_modules', 'is an empty list', src);
    targets = LORA_TARGETS.filter((t) => targets.includes(t));
  } else if (typeof modules !== 'string') {
    throw new ModelConfigError('target_modules', `must be a list of module names or a pattern, got ${JSON.stringify(modules)}`, src);
  }
  return { rank, alpha, dropout, targets };
}

/** W += (alpha/r)·B·A for every adapted projection (on the GPU, in stream order), then drop the adapters. */
export function mergeLora(model: LlamaModel): void {
  const lora = model.lora;
  if (!lora) throw new Error('mergeLora: the model has no LoRA adapters to merge');
  // Merging writes W in f32; a compact W would have to be quantized again, which rounds the adapter away
  // (a q4 step is far larger than most B·A entries). Refused up front, before any weight changes.
  const dtypes = model.baseDtypes();
  const compact = [...Array(model.config.nLayers).keys()].flatMap((l) => lora.targets.map((t) => `layers.${l}.${LORA_TARGET_WEIGHT[t]}`))
    .find((name) => dtypes[name] !== 'f32');
  if (compact) {
    throw new CompactBaseError(compact, dtypes[compact] as PackedFormat, 'merging an adapter writes the base weights in f32; load the model with ' +
      '--base-dtype f32 to merge, or keep the adapter separate (export it with exportPeftAdapter)');
  }
  const scale = loraScale(lora);
  for (let l = 0; l < model.config.nLayers; l++) {
    for (const target of lora.targets) {
      const { a, b } = adapterPair(model, l, target);
      matmul(model.rt, b, a, { alpha: scale, accumulateInto: model.params[`layers.${l}.${LORA_TARGET_WEIGHT[target]}`] });
    }
  }
  // Released buffers are recycled only after the next submit, which carries the merge with it.
  model.removeLora();
}

/**
 * Every base weight read back from the GPU, e.g. to export a merged or fully fine-tuned model with
 * hf-export.ts. Refuses a model with adapters still attached, whose weights alone would drop them.
 * A compact (--base-dtype f16 / q8 / q4) weight is read as the f32 values it decodes to: the weights the
 * model computes with. One weight is unpacked at a time, so the f32 copies never all sit on the GPU.
 */
export async function readWeights(model: LlamaModel): Promise<LlamaWeights> {
  if (model.lora) throw new Error('readWeights: the model has LoRA adapters attached; mergeLora(model) first (or removeLora() to read the base weights)');
  const shapes = llamaWeightShapes(model.config);
  const tensors: Record<string, Float32Array> = {};
  const dtypes = model.baseDtypes();
  for (const name of Object.keys(shapes)) {
    if ((dtypes[name] ?? 'f32') === 'f32') {
      tensors[name] = (await model.rt.read(model.params[name])) as Float32Array;
      continue;
    }
    const unpacked = model.unpackedWeight(name);
    tensors[name] = (await model.rt.read(unpacked).finally(() => unpacked.release())) as Float32Array;
  }
  return { config: { ...model.config }, tensors, shapes };
}

function adapterPair(model: LlamaModel, layer: number, target: LoraTarget): { a: Tensor; b: Tensor } {
  const a = model.adapters[`layers.${layer}.${target}.lora_A`];
  const b = model.adapters[`layers.${layer}.${target}.lora_B`];
  if (!a || !b) throw new Error(`layer ${layer}: the ${target} adapter is missing`);
  return { a, b };
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
}
