// What the demo's end-to-end scripts (demo-e2e.mjs, demo-offline.mjs, demo-fallback.mjs) share: the "demo: [t s] ok …" lines
// that scripts/test-all.mjs counts, the assertion that prints them, and the run with its time limit
// (DEMO_TEST_TIMEOUT_MS, default 15 min) and exit code, and the Chromium they drive.
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const started = performance.now();
export const timeoutMs = Number(process.env.DEMO_TEST_TIMEOUT_MS ?? 900_000);

export const log = (msg) => console.log(`demo: [${((performance.now() - started) / 1000).toFixed(1)} s] ${msg}`);

export function check(ok, what) {
  if (!ok) throw new Error(`assertion failed: ${what}`);
  log(`ok  ${what}`);
}

/** Runs the script's main within the time limit; exits 0 when it resolves, 1 on a failure or the limit. */
export async function runDemo(main) {
  const timer = setTimeout(() => {
    console.error(`demo: timed out after ${timeoutMs} ms`);
    process.exit(1);
  }, timeoutMs);
  try {
    await main();
    clearTimeout(timer);
    process.exit(0);
  } catch (e) {
    console.error(`demo: FAILED ${e.stack ?? e}`);
    process.exit(1);
  }
}

/** Debian's Chromium, headless, with WebGPU on SwiftShader and downloads accepted, keeping its profile in `profile`.
 *  webgpu: false launches it with WebGPU switched off (navigator.gpu gives no adapter; WebGL2 still runs on SwiftShader). */
export function launchDemoBrowser(profile, { webgpu = true } = {}) {
  if (!existsSync(executablePath)) throw new Error(`no browser at ${executablePath} (apt-get install -y chromium, or set CHROMIUM=)`);
  const gpuArgs = webgpu ? ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'] : ['--disable-features=WebGPU'];
  return chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    args: ['--no-sandbox', ...gpuArgs, '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
