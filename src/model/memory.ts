// How much GPU memory a training step or a forward pass needs, computed from the config before
// anything is allocated, and the checks that turn "too big" into a clear error up front.
import { LimitExceededError, OutOfMemoryError, formatBytes, sizeClass, type Runtime } from '../gpu/index.ts';
import { packedBytes } from '../ops/matmul-packed.ts';
import { refuseFullFineTuning, type BaseDtype } from './base-dtype.ts';
import { kvDim, qDim, type LlamaConfig } from './config.ts';
import { LORA_TARGET_WEIGHT, type LoraConfig } from './lora.ts';
import { llamaWeightShapes, shapeSize } from './weights.ts';

export interface MemoryPlan {
  batch: number;
  seqLen: number;
  mode: 'inference' | 'lora' | 'full';
}

export interface MemoryReport {
  weightsBytes: number;
  /** weightsBytes by storage type (f32 holds the norms and biases whatever the base dtype). */
  weightsByDtype: Partial<Record<BaseDtype, number>>;
  /** LoRA A and B, or nothing. */
  adapterBytes: number;
  /** Gradients of the trainable parameters. */
  gradientBytes: number;
  /** AdamW's two moments. */
  optimizerBytes: number;
  /** Activations kept from forward for backward (all layers) plus the logits. */
  activationBytes: number;
  /** Temporaries alive at once during the backward of one layer. */
  transientBytes: number;
  /** What the buffer pool adds by rounding each buffer up to its size class (gpu/pool.ts). */
  roundingBytes: number;
  /** The largest single tensor (usually the logits), checked against maxStorageBufferBindingSize. */
  largestTensorBytes: number;
  largestTensor: string;
  peakBytes: number;
}

const F32 = 4;

export function loraParameterCount(config: LlamaConfig, lora: LoraConfig): number {
  const shapes = llamaWeightShapes(config);
  let n = 0;
  for (let l = 0; l < config.nLayers; l++) {
    for (const t of lora.targets) {
      const [out, inF] = shapes[`layers.${l}.${LORA_TARGET_WEIGHT[t]}`];
      n += lora.rank * (out + inF);
    }
  }
  return n;
}

/** Buffers of one kind: `count` of them, `bytes` each as requested (the pool rounds each up to its size class). */
type Buffers = [count: number, bytes: number];
const logicalBytes = (list: readonly Buffers[]) => list.reduce((s, [c, b]) => s + c * b, 0);
const pooledBytes = (list: readonly Buffers[]) => list.reduce((s, [c, b]) => s + (b > 0 ? c * sizeClass(b) : 0), 0);

/**
 * `baseDtype`: the storage of the 2-D base weights (one for all, or by name as LlamaModel.baseDtypes() gives);
 * compact ones are counted at their packed size (matmul-packed.ts), everything else in f32.
 */
export function memoryReport(config: LlamaConfig, plan: MemoryPlan, lora: LoraConfig | null = null,
  baseDtype: BaseDtype | Readonly<Record<string, BaseDtype>> = 'f32'): MemoryReport {
  const { batch, seqLen, mode } = plan;
  const n = batch * seqLen;
  const d = config.dim;
  const kv = kvDim(config);
  const qd = qDim(config); // = d unless the config has an explicit headDim
  const hid = config.hiddenDim;
  const shapes = llamaWeightShapes(config);
  const dtypeOf = (name: string): BaseDtype => (shapes[name].length !== 2 ? 'f32' : typeof baseDtype === 'string' ? baseDtype : baseDtype[name] ?? 'f32');
  if (mode === 'full') refuseFullFineTuning(Object.fromEntries(Object.keys(shapes).map((name) => [name, dtypeOf(name)])));
  const weightsByDtype: Partial<Record<BaseDtype, number>> = {};
  const weights: Buffers[] = [];
  for (const [name, shape] of Object.entries(shapes)) {
    const dtype = dtypeOf(name);
    const bytes = dtype === 'f32' ? shapeSize(shape) * F32 : packedBytes(dtype, shape[0], shape[1]);
    weightsByDtype[dtype] = (weightsByDtype[dtype] ?? 0) + bytes;
    weights.push([1, bytes]);
  }
  // The trainable tensors, one buffer each: the adapters' A [r, in] and B [out, r], or every weight.
  const trainable: Buffers[] = [];
  if (mode === 'full') for (const shape of Object.values(shapes)) trainable.push([1, shapeSize(shape) * F32]);
  else if (mode === 'lora' && lora) {
    for (let l = 0; l < config.nLayers; l++) {
      for (const t of lora.targets) {
        const [out, inF] = shapes[`layers.${l}.${LORA_TARGET_WEIGHT[t]}`];
        trainable.push([1, lora.rank * inF * F32], [1, out * lora.rank * F32]);
      }
    }
  }
  const adapters = mode === 'lora' ? trainable : [];
  const f32Rows = (count: number, width: number): Buffers => [count, n * width * F32];
  const logits = n * config.vocabSize;

  // Per layer, what layer.ts keeps for backward: x, norm out, x2, ffn norm out (dim each), q, attention
  // out (qDim), k, v (kvDim), gate, up, act (hidden), two rstd rows, the log-sum-exp, and x·Aᵀ per
  // adapter; with q/k norms (Qwen3) also their inputs (qDim, kvDim) and an rstd per head.
  const adapterRows = mode === 'lora' && lora ? lora.targets.length : 0;
  const perLayer: Buffers[] = [
    f32Rows(4, d), f32Rows(2, qd), f32Rows(2, kv), f32Rows(3, hid), f32Rows(2, 1), f32Rows(1, config.nHeads),
    f32Rows(adapterRows, lora?.rank ?? 0),
    ...(config.qkNorm ? [f32Rows(1, qd), f32Rows(1, kv), f32Rows(1, config.nHeads), f32Rows(1, config.nKvHeads)] : []),
  ];
  const training = mode !== 'inference';
  // Inference keeps one layer's worth at a time. Then the final norm's input and output, the logits, and
  // the final rstd and the loss's log-sum-exp rows.
  const activations: Buffers[] = [
    ...perLayer.map(([c, b]): Buffers => [training ? c * config.nLayers : c, b]),
    f32Rows(2, d), [1, logits * F32], f32Rows(2, 1),
  ];
  // The backward of one layer: dAct, dGate, dUp (hidden), dFfnIn, dX2, dH, dX (dim), dAttn, dQ, dQ before
  // RoPE (qDim), dK, dV, dK before RoPE (kv), and one more of each of q and k through the q/k norms.
  const transient: Buffers[] = training
    ? [f32Rows(3, hid), f32Rows(4, d), f32Rows(3, qd), f32Rows(4, kv), ...(config.qkNorm ? [f32Rows(1, qd), f32Rows(1, kv)] : [])]
    : [f32Rows(1, hid), f32Rows(2, d)];
  const largest = Math.max(logits, n * hid);
  const parts = [weights, adapters, trainable, trainable, trainable, activations, transient];
  const report: MemoryReport = {
    weightsBytes: logicalBytes(weights),
    weightsByDtype,
    adapterBytes: logicalBytes(adapters),
    gradientBytes: logicalBytes(trainable),
    optimizerBytes: 2 * logicalBytes(trainable),
    activationBytes: logicalBytes(activations),
    transientBytes: logicalBytes(transient),
    roundingBytes: parts.reduce((s, p) => s + pooledBytes(p) - logicalBytes(p), 0),
    largestTensorBytes: largest * F32,
    largestTensor: logits >= n * hid ? `logits [${n}, ${config.vocabSize}]` : `FFN activations [${n}, ${hid}]`,
    peakBytes: 0,
  };
  report.peakBytes = report.weightsBytes + report.adapterBytes + report.gradientBytes + report.optimizerBytes + report.activationBytes +
    report.transientBytes + report.roundingBytes;
  return report;
}

export function formatMemoryReport(r: MemoryReport, plan: MemoryPlan): string {
  const byDtype = Object.entries(r.weightsByDtype).map(([d, b]) => `${d} ${formatBytes(b)}`).join(', ');
  const rows: [string, number][] = [
    [`weights (${byDtype})`, r.weightsBytes],
    ['LoRA parameters', r.adapterBytes],
    ['gradients', r.gradientBytes],
    ['optimiser state (AdamW m, v)', r.optimizerBytes],
    ['activations (kept for backward) + logits', r.activationBytes],
    ['backward temporaries', r.transientBytes],
    ['buffer size-class rounding', r.roundingBytes],
    ['peak (estimated)', r.peakBytes],
  ];
  const lines = rows.map(([k, v]) => `  ${k.padEnd(42)} ${formatBytes(v).padStart(10)}`);
  return [`memory for ${plan.mode} at batch ${plan.batch} x ${plan.seqLen} tokens:`, ...lines, `  largest tensor: ${r.largestTensor} = ${formatBytes(r.largestTensorBytes)}`].join('\n');
}

/**
 * Throws before anything is allocated when the plan cannot run on this device: a single tensor over
 * maxStorageBufferBindingSize, or a peak over the runtime's budget (or `budgetBytes`).
 */
export function checkMemoryPlan(rt: Runtime, report: MemoryReport, plan: MemoryPlan, budgetBytes?: number): void {
  const bindLimit = Math.min(rt.limits.maxStorageBufferBindingSize, rt.limits.maxBufferSize);
  if (report.largestTensorBytes > bindLimit) {
    const maxTokens = Math.floor((bindLimit / report.largestTensorBytes) * plan.batch * plan.seqLen);
    throw new LimitExceededError(
      'maxStorageBufferBindingSize',
      report.largestTensorBytes,
      bindLimit,
      `${report.largestTensor} at batch ${plan.batch} x ${plan.seqLen}`,
      `Use at most ${maxTokens} tokens per micro-batch (lower the batch size or sequence length; accumulate gradients instead).`,
    );
  }
  const budget = budgetBytes ?? rt.pool.budgetBytes;
  if (budget !== undefined && report.peakBytes > budget) {
    throw new OutOfMemoryError(`planning ${plan.mode} at batch ${plan.batch} x ${plan.seqLen}`, report.peakBytes, rt.memory().allocatedBytes);
  }
}
