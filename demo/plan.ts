// Step 4's memory plan: the training settings as typed, and what GPU memory a run at those settings needs
// (the engine plans it before allocating anything), shown above the Train button as they change.
import { BUILTIN_RECIPE } from '../src/experiment/config.ts';
import { formatBytes as bytes } from '../src/gpu/errors.ts';
import { escapeHtml } from '../src/report/html.ts';
import { listen, send } from './connection.ts';
import { $ } from './dom.ts';
import type { MemoryPlanReply, TrainSettings } from './protocol.ts';
import { probe, state } from './session.ts';

/** The form starts at the built-in recipe's batch, learning rate and LoRA rank (its one home); the step
 *  count is the page's own budget. */
export function showRecipeDefaults(): void {
  $<HTMLInputElement>('batch').value = String(BUILTIN_RECIPE.batchSize);
  $<HTMLInputElement>('lr').value = String(BUILTIN_RECIPE.lr);
  $<HTMLInputElement>('rank').value = String(BUILTIN_RECIPE.lora.rank);
}

export function readSettings(): TrainSettings {
  return {
    steps: Math.max(1, Number($<HTMLInputElement>('steps').value) | 0),
    batchSize: Math.max(1, Number($<HTMLInputElement>('batch').value) | 0),
    lr: Number($<HTMLInputElement>('lr').value),
    rank: Math.max(1, Number($<HTMLInputElement>('rank').value) | 0),
    seed: 0,
  };
}

/** Asks the engine what a run at the current settings needs; the answer arrives as 'planned'. */
export function requestPlan(): void {
  if (!state.model || !probe.ready || state.device?.training) return; // no plan where training is refused (device.ts says why)
  const s = readSettings();
  // Micro-batches pad to their longest example, so the longest one sets the peak.
  const longest = Math.max(0, ...state.view.map((e) => e.tokens.length));
  send({ type: 'plan', batchSize: s.batchSize, rank: s.rank, seqLen: longest || state.model.maxSeqLen });
}

function showPlan(p: MemoryPlanReply): void {
  probe.plan = p;
  const el = $('plan');
  el.className = `plan ${p.problem ? 'bad' : 'ok'}`;
  el.innerHTML = `<b>GPU memory for this run ≈ ${bytes(p.peakBytes)}</b> at batch ${p.batchSize} × ${p.seqLen} tokens, rank ${p.rank}: ` +
    `weights ${bytes(p.weightsBytes)} · LoRA + gradients + AdamW ${bytes(p.trainableBytes)} · activations ${bytes(p.activationBytes)} · largest tensor ${escapeHtml(p.largestTensor)} ${bytes(p.largestTensorBytes)}. ` +
    (p.problem ? `<span class="warn">${escapeHtml(p.problem)}</span>` : 'Fits this device.');
}

export function wirePlan(): void {
  for (const id of ['batch', 'rank']) $(id).addEventListener('input', requestPlan);
  listen((r) => r.type === 'planned' && showPlan(r.plan));
}
