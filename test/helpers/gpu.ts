// One runtime per test file, destroyed at the end so the worker (and Dawn) can exit.
import { afterAll } from 'vitest';
import { Runtime } from '../../src/gpu/index.ts';

let runtime: Promise<Runtime> | null = null;

export function gpu(): Promise<Runtime> {
  if (!runtime) {
    runtime = Runtime.create();
    afterAll(async () => {
      const rt = await runtime!;
      await rt.sync();
      rt.destroy();
      runtime = null;
    });
  }
  return runtime;
}
