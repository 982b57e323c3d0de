// LoRA adapters in PEFT's convention: W' = W + (alpha / r) · B·A, A [r, in] Kaiming-uniform,
// B [out, r] zero, so a fresh adapter leaves the model unchanged.

/** Projection names as PEFT spells them for Llama (`target_modules`). */
export const LORA_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

/** The project's weight name of each PEFT target inside `layers.{i}.` */
export const LORA_TARGET_WEIGHT: Record<LoraTarget, string> = {
  q_proj: 'wq',
  k_proj: 'wk',
  v_proj: 'wv',
  o_proj: 'wo',
  gate_proj: 'w1',
  up_proj: 'w3',
  down_proj: 'w2',
};

export interface LoraConfig {
  rank: number;
  alpha: number;
  /** Dropout on the adapter's input (PEFT `lora_dropout`), applied in training forwards only. */
  dropout: number;
  targets: LoraTarget[];
}

/** PEFT's defaults, with every attention and MLP projection targeted (the common recipe). */
export const LORA_DEFAULTS: LoraConfig = { rank: 8, alpha: 16, dropout: 0, targets: [...LORA_TARGETS] };

export function loraScale(c: LoraConfig): number {
  return c.alpha / c.rank;
}

export function validateLoraConfig(c: LoraConfig): LoraConfig {
  if (!Number.isInteger(c.rank) || c.rank <= 0) throw new RangeError(`LoRA rank must be a positive integer, got ${c.rank}`);
  if (!(c.alpha > 0)) throw new RangeError(`LoRA alpha must be positive, got ${c.alpha}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new RangeError(`LoRA dropout must be in [0, 1), got ${c.dropout}`);
  if (c.targets.length === 0) throw new RangeError('LoRA needs at least one target module');
  for (const t of c.targets) {
    if (!LORA_TARGETS.includes(t)) throw new RangeError(`unknown LoRA target '${t}' (use ${LORA_TARGETS.join(', ')})`);
  }
  return c;
}

/** kaiming_uniform_(a = sqrt(5)) as torch.nn.Linear and PEFT use it: U(-1/sqrt(in), 1/sqrt(in)). */
export function kaimingUniform(rows: number, inFeatures: number, random: () => number): Float32Array {
  const bound = 1 / Math.sqrt(inFeatures);
  const out = new Float32Array(rows * inFeatures);
  for (let i = 0; i < out.length; i++) out[i] = (2 * random() - 1) * bound;
  return out;
}
