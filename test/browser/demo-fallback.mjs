// The built demo where WebGPU is missing (issue 15): builds the site (vite build, to a temporary folder),
// serves it with Vite's preview server on 127.0.0.1, and answers the public model and data addresses from
// ../shared (no network is used). Then, in Debian's Chromium:
//   - with WebGPU (SwiftShader): the page runs on WebGPU, scores the GSM8K sample under the default
//     (released) rules and generates greedily; its scores are kept;
//   - with WebGPU switched off (--disable-features=WebGPU: navigator.gpu gives no adapter; WebGL2 through
//     ANGLE on SwiftShader): the page picks gpu.js by itself and says so (header, banner, model card), runs it on
//     WebGL2 (not gpu.js's JavaScript fallback), keeps training off with a sentence that says why, scores
//     the same sample and generates. Every p is within 1e-3 of the WebGPU page's, every loss mask is the
//     same, and the greedy text is the same.
// Both pages' scoring rates are printed (tokens/s; docs/backends.md quotes them).
// Prints "demo: [t s] ok ..." per check (scripts/test-all.mjs counts them), "demo: FAILED ..." on failure.
//   node scripts/gpu-env.mjs node test/browser/demo-fallback.mjs     (env: CHROMIUM, DEMO_TEST_TIMEOUT_MS)
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { routePublicAddresses, serveBuiltSite } from './built-site.mjs';
import { check, launchDemoBrowser, log, runDemo, watchDemo } from './demo-harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const EXAMPLES = 12;
const MAX_TOKENS = 24;
const P_TOLERANCE = 1e-3;

/** Opens the built page in a fresh Chromium profile, scores the sample and generates; returns what it showed. */
async function scoreAndGenerate(base, { webgpu }) {
  const profile = mkdtempSync(join(tmpdir(), 'xtf-demo-fallback-chromium-'));
  const context = await launchDemoBrowser(profile, { webgpu });
  const name = webgpu ? 'WebGPU page' : 'page without WebGPU';
  try {
    await routePublicAddresses(context);
    const page = context.pages()[0] ?? (await context.newPage());
    const { waitFor } = watchDemo(page, name);
    await page.goto(`${base}?examples=${EXAMPLES}`, { waitUntil: 'load' });
    const adapter = await page.evaluate(async () => ('gpu' in navigator && navigator.gpu ? ((await navigator.gpu.requestAdapter()) ? 'an adapter' : 'no adapter') : 'no navigator.gpu'));
    check((adapter === 'an adapter') === webgpu, `${name}: WebGPU gives ${adapter}`);
    let s = await waitFor('model and data', (s) => s.modelLoaded && s.examples > 0, 180_000);
    const pill = await page.textContent('#gpu');
    const card = await page.textContent('#model-info');
    if (webgpu) {
      check(s.backend === 'webgpu' && (await page.isHidden('#nogpu')) && /maxBufferSize \d/.test(card), `${name}: runs on WebGPU (${pill.trim()})`);
    } else {
      // WebGL2 on the GPU, not gpu.js's JavaScript ('cpu') fallback, which would also match the scores.
      const renderer = await page.evaluate(() => {
        const gl = document.createElement('canvas').getContext('webgl2');
        const info = gl && gl.getExtension('WEBGL_debug_renderer_info');
        return info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : 'no WebGL2';
      });
      check(s.backend === 'webgl2' && /gpu\.js \(webgl2\), no WebGPU/.test(pill), `${name}: picks gpu.js on WebGL2 by itself and says so in the header (${pill.trim()}; WebGL2 renderer: ${renderer})`);
      const banner = await page.textContent('#nogpu');
      check((await page.isVisible('#nogpu')) && /runs on gpu\.js/.test(banner) && /navigator\.gpu (is missing|gave no adapter)/.test(banner) && /training needs WebGPU/.test(banner) && /backend\s*gpu\.js \(webgl2\)/.test(card),
        `${name}: the banner and the model card say gpu.js runs and why: ${banner.replace(/\s+/g, ' ').trim().slice(0, 110)}…`);
    }
    await page.click('#score');
    s = await waitFor('scoring', (s) => s.scored && s.rules === 'released', 600_000);
    const { scored, summary } = await page.evaluate(() => window.__demoScores());
    const tokens = scored.reduce((n, ex) => n + ex.tokens.length, 0);
    log(`${name}: scored ${scored.length} examples (${tokens} tokens) in ${summary.seconds.toFixed(1)} s: ${Math.round(summary.tokensPerSecond)} tokens/s on ${s.backend}; ${s.maskedTokens} of ${s.labelTokens} label tokens masked`);
    check(scored.length === EXAMPLES && s.maskedTokens > 0, `${name}: XTF scores the ${EXAMPLES} GSM8K examples (${s.maskedTokens} masked)`);
    if (!webgpu) {
      const plan = await page.textContent('#plan');
      check((await page.isDisabled('#train')) && /Training needs WebGPU/.test(plan) && /Training needs WebGPU/.test(await page.getAttribute('#train', 'title')),
        `${name}: with scores at hand, Train stays off and says why: ${plan.trim()}`);
    }
    await page.fill('#max-tokens', String(MAX_TOKENS));
    await page.click('#generate');
    s = await waitFor('generation', (s) => s.generations > 0, 300_000);
    const generated = await page.$$eval('#generations .gen .out', (els) => els.map((e) => e.lastChild.textContent));
    check(s.generations === 1 && generated[0].length > 0, `${name}: the base model generates: ${JSON.stringify(generated[0].slice(0, 80))}`);
    if (!webgpu) {
      mkdirSync(join(root, 'test-output'), { recursive: true });
      await page.screenshot({ path: join(root, 'test-output', 'demo-fallback-gpujs.png'), fullPage: true });
    }
    return { scored, summary, generated: generated[0] };
  } finally {
    await context.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
  }
}

async function main() {
  const { base, close } = await serveBuiltSite();
  try {
    const webgpu = await scoreAndGenerate(base, { webgpu: true });
    const gpujs = await scoreAndGenerate(base, { webgpu: false });

    // The two backends' scores, position by position.
    let worst = 0;
    let compared = 0;
    let sameMasks = webgpu.scored.length === gpujs.scored.length;
    webgpu.scored.forEach((ex, e) => {
      const other = gpujs.scored[e];
      if (!other || other.id !== ex.id || other.tokens.join() !== ex.tokens.join()) return void (sameMasks = false);
      ex.p.forEach((p, j) => {
        if ((p === null) !== (other.p[j] === null)) worst = Infinity;
        else if (p !== null) {
          worst = Math.max(worst, Math.abs(p - other.p[j]));
          compared++;
        }
      });
      if (ex.lossMask.join() !== other.lossMask.join()) sameMasks = false;
    });
    check(compared > 0 && worst <= P_TOLERANCE, `gpu.js (WebGL2) and WebGPU give the same p within ${P_TOLERANCE}: largest difference ${worst.toExponential(2)} over ${compared} scored tokens`);
    check(sameMasks && gpujs.summary.fractionMasked === webgpu.summary.fractionMasked,
      `and the same loss masks on all ${webgpu.scored.length} examples (${(100 * webgpu.summary.fractionMasked).toFixed(1)}% of label tokens masked on both)`);
    check(gpujs.generated === webgpu.generated, 'and the same greedy generation');
    log(`scoring rate: WebGPU ${Math.round(webgpu.summary.tokensPerSecond)} tokens/s, gpu.js (WebGL2) ${Math.round(gpujs.summary.tokensPerSecond)} tokens/s (SwiftShader, software)`);
    log('passed');
  } finally {
    await close();
  }
}

await runDemo(main);
