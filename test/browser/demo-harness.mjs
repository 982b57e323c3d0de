// What the demo's end-to-end scripts (demo-e2e.mjs, demo-offline.mjs, demo-fallback.mjs) share: the "demo: [t s] ok …" lines
// that scripts/test-all.mjs counts, the assertion that prints them, and the run with its time limit
// (DEMO_TEST_TIMEOUT_MS, default 15 min) and exit code, the Chromium they drive and the watch on its page.
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

/**
 * Logs the page's errors and warnings (not the GL driver's chatter) and polls the demo's probe
 * (window.__demo). waitFor returns the probe once `predicate` holds; an error the page reports fails at
 * once unless errorsFail is false; a probe that cannot be read (the page is reloading) is polled again.
 * prefix: put before each failure's text (which page, when a script drives two).
 */
export function watchDemo(page, prefix = '') {
  page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && !/GL Driver Message/.test(m.text()) && console.error(`  [page ${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => console.error(`  [page error] ${e.stack ?? e.message}`));
  const demo = () => page.evaluate(() => window.__demo);
  const where = (what) => (prefix ? `${prefix}, ${what}` : what);
  const waitFor = async (what, predicate, ms, { errorsFail = true } = {}) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await demo().catch(() => null);
      if (s && predicate(s)) return s;
      if (errorsFail && s?.errors.length) throw new Error(`${where(what)}: the page reported ${s.errors.join('; ')}`);
      if (Date.now() > deadline) throw new Error(`${where(what)}: timed out after ${ms} ms (${JSON.stringify(s)})`);
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  return { demo, waitFor };
}
