// Kernel checks that run unchanged in Node (vitest), Deno and Chromium: each takes a Runtime,
// compares GPU results with the CPU reference, and throws with a precise message on mismatch.
// test/portable/*.test-free modules register their cases in index.ts.
import type { Runtime } from '../../src/gpu/index.ts';

export interface PortableCase {
  name: string;
  run(rt: Runtime): Promise<void>;
}

/** Like expectClose, without vitest: usable in Deno and the browser. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${what}[${i}] = ${a}, expected ${e} (atol ${atol}, rtol ${rtol})`);
    }
  }
}
