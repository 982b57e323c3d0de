// Global-norm gradient clipping without a host round trip: the L2 norm over every gradient
// tensor and the clip factor min(1, maxNorm / (norm + 1e-6)) land in [1] GPU tensors; AdamW
// reads the factor (adamwUpdate's gradScale), the trainer reads the norm when it logs.
// One partial-sums dispatch per tensor into a small buffer, then one final reduction; the
// order of every addition is fixed by the tensor sizes, so the result is deterministic.
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { ceilDiv } from './grid.ts';

export interface GradNorm {
  /** ‖(g_1, ..., g_k)‖₂, [1]. */
  norm: Tensor;
  /** min(1, maxNorm / (norm + 1e-6)), [1]: the factor to multiply every gradient by. */
  clipFactor: Tensor;
}

// Workgroups per tensor: at least 4096 elements each (small LoRA tensors take one), at most 64
// (each is one slot of the final reduction). On SwiftShader a workgroup's reduction costs far
// more than its loads, so few groups of 64 threads that loop beat many groups of 256 (measured
// here: 4M elements in ~30 ms this way, ~1 s with one 256-thread group per 1024 elements).
const WG = 64;
const MAX_GROUPS_PER_TENSOR = 64;
const MIN_ELEMENTS_PER_GROUP = 4096;

function groupsFor(n: number): number {
  return Math.min(MAX_GROUPS_PER_TENSOR, ceilDiv(n, MIN_ELEMENTS_PER_GROUP));
}

/** Global L2 norm of `grads` and the clip factor for `maxNorm`. Pass `out` to reuse tensors
 *  across steps. A non-finite norm yields an unspecified clip factor: check the norm. */
export function globalGradNorm(rt: Runtime, grads: readonly Tensor[], maxNorm: number, out?: GradNorm): GradNorm {
  if (grads.length === 0) throw new RangeError('globalGradNorm: no gradient tensors given');
  if (!(maxNorm > 0 && Number.isFinite(maxNorm))) throw new RangeError(`globalGradNorm: maxNorm must be finite and > 0, got ${maxNorm}`);
  for (const g of grads) if (g.dtype !== 'f32') throw new TypeError(`globalGradNorm: gradients must be f32, got ${g}`);
  for (const t of out ? [out.norm, out.clipFactor] : []) {
    if (t.size !== 1 || t.dtype !== 'f32') throw new RangeError(`globalGradNorm: outputs must be f32 [1] tensors, got ${t}`);
  }
  const slots = grads.reduce((s, g) => s + groupsFor(g.size), 0);
  const partials = rt.empty([Math.max(1, slots)], 'f32', 'grad norm partials');
  let slot = 0;
  for (const g of grads) {
    const groups = groupsFor(g.size);
    if (groups === 0) continue;
    rt.dispatch({
      shader: 'grad_norm',
      entryPoint: 'sum_squares',
      constants: { WG },
      uniforms: new Uniforms().u32(g.size).u32(groups).u32(slot).f32(0).bytes(),
      bindings: [partials, g],
      workgroups: [groups],
    });
    slot += groups;
  }
  const result = out ?? { norm: rt.empty([1], 'f32', 'grad norm'), clipFactor: rt.empty([1], 'f32', 'clip factor') };
  rt.dispatch({
    shader: 'grad_norm',
    entryPoint: 'finalize',
    constants: { WG },
    uniforms: new Uniforms().u32(slots).u32(0).u32(0).f32(maxNorm).bytes(),
    bindings: [partials, result.norm, result.clipFactor],
    workgroups: [1],
  });
  // Reusable after the next submit; the recorded dispatches keep their view of it until then.
  partials.release();
  return result;
}
