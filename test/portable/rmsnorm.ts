import type { PortableCase } from './suite.ts';
import { assertClose } from './suite.ts';
import { randn } from '../helpers/random.ts';
import { addRmsnormForward, rmsnormBackward, rmsnormForward } from '../../src/ops/rmsnorm.ts';
import { rmsnormBackwardRef, rmsnormForwardRef } from '../reference/rmsnorm.ts';

function rmsnormCase(rows: number, cols: number): PortableCase {
  return {
    name: `rmsnorm forward (alone and after a residual add) and backward [${rows}, ${cols}] (${cols % 4 === 0 ? 'vec4' : 'scalar'} path)`,
    async run(rt) {
      const eps = 1e-5;
      const x = randn(rows * cols, 61), w = randn(cols, 62).map((v) => 1 + 0.2 * v), dy = randn(rows * cols, 63);
      const tx = rt.upload(x, [rows, cols]), tw = rt.upload(w, [cols]);
      const { y, rstd } = rmsnormForward(rt, tx, tw, eps);
      const ref = rmsnormForwardRef(x, w, rows, cols, eps);
      assertClose(await y.read(), ref.y, 1e-6, 1e-5, 'y');
      const { dX, dWeight } = rmsnormBackward(rt, rt.upload(dy, [rows, cols]), tx, tw, rstd);
      const bref = rmsnormBackwardRef(dy, x, w, rows, cols, eps);
      assertClose(await dX.read(), bref.dx, 1e-5, 1e-4, 'dx');
      assertClose(await dWeight!.read(), bref.dWeight, 1e-4, 1e-4, 'dweight');
      // The residual add fused with the norm: the sum exactly, and the norm of it.
      const b = randn(rows * cols, 64);
      const fused = addRmsnormForward(rt, tx, rt.upload(b, [rows, cols]), tw, eps);
      const sum = x.map((v, i) => Math.fround(v + b[i]));
      assertClose(await fused.sum.read(), sum, 0, 0, 'sum');
      assertClose(await fused.y.read(), rmsnormForwardRef(sum, w, rows, cols, eps).y, 1e-6, 1e-5, 'norm of the sum');
    },
  };
}

// 70 rows: two weight-gradient chunks of 64 rows.
export const rmsnormCases: PortableCase[] = [rmsnormCase(70, 64), rmsnormCase(5, 33)];
