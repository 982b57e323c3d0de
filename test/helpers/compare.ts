import { expect } from 'vitest';

/** Max |a-b| / (atol + rtol·|b|) must be <= 1; the message names the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = 1e-5, rtol = 1e-4, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!Number.isFinite(a) && a !== e) {
      throw new Error(`${what}[${i}] = ${a}, expected ${e}`);
    }
    const r = Math.abs(a - e) / (atol + rtol * Math.abs(e));
    if (r > worst) {
      worst = r;
      at = i;
    }
  }
  if (worst > 1) throw new Error(`${what}[${at}] = ${actual[at]}, expected ${expected[at]} (|diff| ${Math.abs(actual[at] - expected[at]).toExponential(2)}, atol ${atol}, rtol ${rtol})`);
}
