// The portable kernel suite in Deno (wgpu, navigator.gpu): the same cases as test/portable.test.ts
// (Node/Dawn) and test/browser/ (Chromium/Dawn), one test step each. `npm run test:deno` points wgpu
// at a CPU Vulkan driver (lavapipe) when the machine has no GPU; deno.json gives the type checker
// the same WebGPU types as tsc.
import { Runtime } from '../../src/gpu/index.ts';
import { portableCases } from '../portable/index.ts';
import { wgsl } from '../../src/shaders/wgsl.generated.ts';

/** A case that never settles (lost device, a mapAsync that never resolves) must not hang the run. */
const CASE_TIMEOUT_MS = Number(Deno.env.get('CASE_TIMEOUT_MS') ?? 180_000);

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: number | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms (CASE_TIMEOUT_MS)`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

Deno.test({
  name: 'portable kernel suite (Deno)',
  // wgpu's buffers and pending maps are resources Deno tracks; the runtime is destroyed at the end.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (portableCases.length === 0) throw new Error('no portable cases registered in test/portable/index.ts');
    const rt = await Runtime.create();
    console.log(`adapter: ${rt.report.summary}`);
    console.log(`features: ${rt.report.features.join(', ') || '(none)'}`);
    try {
      for (const c of portableCases) {
        await t.step({
          name: c.name,
          sanitizeResources: false,
          sanitizeOps: false,
          // A device error that arrives after the case's own reads (an uncaptured error, a lost device) is
          // that case's failure, under its name, not the whole suite's after the last step.
          fn: () => withTimeout(c.run(rt).then(() => rt.sync()), CASE_TIMEOUT_MS, c.name),
        });
      }
      await rt.sync();
    } finally {
      rt.destroy();
    }
  },
});

// wgpu's WGSL front end (naga) is not Dawn's (Tint): a kernel that Node and Chromium accept can
// still be rejected here. Compile every shader file and every entry point whose overrides all have
// defaults, so the report names the file and naga's message even for kernels no case covers yet.
Deno.test({
  name: 'every src/shaders/*.wgsl compiles in wgpu (naga)',
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const rt = await Runtime.create();
    const device = rt.device;
    try {
      for (const [name, code] of Object.entries(wgsl)) {
        // A shader behind `enable subgroups;` / `enable f16;` is a fast path the op module only picks
        // when the device has that feature (wgpu here has no subgroups): check it only where it can run.
        const needs = [...code.matchAll(/^\s*enable\s+(\w+)\s*;/gm)].map((m) => (m[1] === 'f16' ? 'shader-f16' : m[1]));
        const missing = needs.filter((f) => !rt.hasFeature(f));
        await t.step({
          name: `${name}.wgsl${missing.length ? ` (skipped: the adapter lacks ${missing.join(', ')})` : ''}`,
          ignore: missing.length > 0,
          sanitizeResources: false,
          sanitizeOps: false,
          async fn() {
            device.pushErrorScope('validation');
            const module = device.createShaderModule({ code, label: name });
            const moduleError = await device.popErrorScope();
            if (moduleError) throw new Error(`${name}.wgsl rejected by wgpu:\n${moduleError.message}`);
            const source = code.replace(/\/\/[^\n]*/g, '');
            // Overrides with no default need a value from the op module: skip pipelines for those.
            if (/\boverride\s+\w+\s*:\s*\w+\s*;/.test(source)) return;
            const failures: string[] = [];
            for (const m of source.matchAll(/@compute[^{]*?\bfn\s+(\w+)\s*\(/g)) {
              device.pushErrorScope('validation');
              device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: m[1] } });
              const e = await device.popErrorScope();
              if (e) failures.push(`${name}.wgsl entry point ${m[1]}: ${e.message}`);
            }
            if (failures.length > 0) throw new Error(failures.join('\n'));
          },
        });
      }
    } finally {
      rt.destroy();
    }
  },
});
