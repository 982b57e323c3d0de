// The main job until the XTF pipeline lands: report the WebGPU adapter, then run every portable
// kernel case (GPU result vs the CPU reference) and say how long each took.
import { Runtime } from '../src/gpu/index.ts';
import { formatReport } from '../src/cli/device.ts';
import { portableCases } from '../test/portable/index.ts';

const rt = await Runtime.create();
console.log(formatReport(rt.report));
console.log('');
let passed = 0;
let failed = 0;
for (const c of portableCases) {
  const t0 = performance.now();
  try {
    await c.run(rt);
    await rt.sync();
    passed++;
    console.log(`  ok    ${c.name} (${(performance.now() - t0).toFixed(0)} ms)`);
  } catch (e) {
    failed++;
    console.log(`  FAIL  ${c.name}: ${(e as Error).message}`);
  }
}
const mem = rt.memory();
console.log(`\npeak GPU memory in use ${(mem.peakInUseBytes / 2 ** 20).toFixed(1)} MiB, ${rt.pipelines.size} pipelines compiled`);
console.log(`selfcheck: ${passed} passed, ${failed} failed`);
rt.destroy();
process.exitCode = failed > 0 ? 1 : 0;
