// SwiGLU, the Llama FFN gate: out = silu(gate) · up, with gate = w1·x and up = w3·x as separate
// [N, Hd] tensors. The backward pass recomputes σ(gate) from the saved inputs.
import { Tensor, Uniforms, type Runtime } from '../gpu/index.ts';
import { flatGrid } from './grid.ts';

const WG = 256;
const PER_THREAD = 4;

function checkSame(op: string, what: string, a: Tensor, gate: Tensor): void {
  if (a.size !== gate.size) throw new RangeError(`${op}: ${what} [${a.shape.join(', ')}] does not match gate [${gate.shape.join(', ')}]`);
}

function run(rt: Runtime, entryPoint: string, n: number, bindings: Tensor[]): void {
  const grid = flatGrid(Math.ceil(n / PER_THREAD), WG);
  rt.dispatch({
    shader: 'swiglu',
    entryPoint,
    constants: { WG },
    uniforms: new Uniforms().u32(n).u32(grid.rowGroups).u32(0).u32(0).bytes(),
    bindings,
    workgroups: n === 0 ? [0] : grid.workgroups,
  });
}

/** out = silu(gate) · up. */
export function swigluForward(rt: Runtime, gate: Tensor, up: Tensor, out = rt.empty(gate.shape, 'f32', 'swiglu out')): Tensor {
  checkSame('swiglu', 'up', up, gate);
  checkSame('swiglu', 'out', out, gate);
  run(rt, 'forward', gate.size, [gate, up, out]);
  return out;
}

/** dGate and dUp from dOut and the forward inputs. */
export function swigluBackward(rt: Runtime, dOut: Tensor, gate: Tensor, up: Tensor): { dGate: Tensor; dUp: Tensor } {
  checkSame('swiglu backward', 'up', up, gate);
  checkSame('swiglu backward', 'dOut', dOut, gate);
  const dGate = rt.empty(gate.shape, 'f32', 'swiglu dgate');
  const dUp = rt.empty(up.shape, 'f32', 'swiglu dup');
  run(rt, 'backward', gate.size, [gate, up, dGate, dOut, dUp]);
  return { dGate, dUp };
}
