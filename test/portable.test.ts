// The portable kernel suite under vitest (Node/Dawn). The same cases run in Deno
// (test/deno/portable_test.ts) and Chromium (test/browser/).
import { describe, it } from 'vitest';
import { gpu } from './helpers/gpu.ts';
import { portableCases } from './portable/index.ts';

describe('portable kernel suite (Node)', () => {
  for (const c of portableCases) it(c.name, async () => c.run(await gpu()));
});
