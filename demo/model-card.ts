// What the model card says about a loaded model: its sizes, what training it needs, the device it runs
// on and where it came from; and the shape key that tells whether saved scores and adapters fit it.
import { formatBytes as bytes } from '../src/gpu/errors.ts';
import { count } from './format.ts';
import type { ModelInfo, ModelSource } from './protocol.ts';

/** The runtime's adapter report, as far as the card shows it. */
export interface DeviceFacts {
  features: string[];
  limits: Record<string, number>;
  /** What runs the model ('webgpu', or gpu.js's 'webgl2' / 'webgl' / 'cpu'); absent in saved state from before. */
  backend?: string;
  /** Why this backend does not train, or null when it does. */
  training?: string | null;
}

/** Where a model came from, in words. */
export function describeSource(source: ModelSource): string {
  if (source.kind === 'url') return source.url;
  const shown = source.files.slice(0, 4).map((f) => f.name).join(', ');
  return `this computer: ${shown}${source.files.length > 4 ? ` and ${source.files.length - 4} more files` : ''}`;
}

/** The card's rows: [label, value]. */
export function modelFacts(info: ModelInfo, device: DeviceFacts | null, from: string | undefined): [string, string][] {
  return [
    ['model', `${info.source.split('/').pop()} (${info.format})`],
    ['architecture', `${info.architecture} · ${info.nLayers} layers · dim ${info.dim} · ffn ${info.hiddenDim} · ${info.nHeads} heads (${info.nKvHeads} kv)`],
    ['parameters', `${count(info.parameters)} · ${bytes(info.weightsBytes)} on the GPU (base weights ${info.baseStorage})`],
    ['vocabulary · context', `${count(info.vocabSize)} tokens · ${info.maxSeqLen} positions`],
    ['LoRA (rank 8, all projections)', `${count(info.loraParameters)} trainable parameters`],
    // gpu.js does not train: no training memory to plan (deviceFacts says why).
    ...(device?.training ? [] : [['GPU memory for training', `≈ ${bytes(info.trainPeakBytes)} at batch 8 × ${Math.min(256, info.maxSeqLen)} (step 4 plans your settings)`] as [string, string]]),
    ...(device ? deviceFacts(device) : []),
    ...(from ? [['loaded from', from] as [string, string]] : []),
  ];
}

/** Two models share scores when they share a tokenizer; their shape is the cheap stand-in for that. */
export const modelKey = (m: ModelInfo) => `${m.architecture} · dim ${m.dim} · ${m.nLayers} layers · vocab ${m.vocabSize}`;

/** The device limits and features the run depends on. */
function deviceFacts(d: DeviceFacts): [string, string][] {
  if (d.backend && d.backend !== 'webgpu') return [['backend', `gpu.js (${d.backend}): loading, scoring and generation. ${d.training ?? ''}`]];
  const lim = (k: string) => (d.limits[k] === undefined ? '—' : bytes(d.limits[k]));
  return [
    ['device limits', `maxStorageBufferBindingSize ${lim('maxStorageBufferBindingSize')} · maxBufferSize ${lim('maxBufferSize')} · maxComputeWorkgroupStorageSize ${lim('maxComputeWorkgroupStorageSize')}`],
    ['device features', d.features.join(', ') || 'none'],
  ];
}
