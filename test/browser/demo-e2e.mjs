// End-to-end test of the browser demo (demo/): starts Vite's dev server on 127.0.0.1 (random port), opens
// the page in Debian's Chromium (WebGPU on SwiftShader) through playwright-core, and runs the default
// model and data through steps 1-5 at tiny sizes: load, XTF scoring (masked tokens in the heatmap,
// immediate re-selection, the masked-dataset JSONL download, the memory plan), two LoRA runs (steps
// advance, the loss falls, pause/resume) on one chart and in one table, the adapter download and the
// generations. After a reload the scores, both runs, the comparison and the adapters come back from
// IndexedDB; models then load from picked files, from dropped files and from a typed URL, and the saved
// adapters generate again. Without WebGPU the banner page still shows the saved runs and re-selects the
// saved scores; "Clear saved state" forgets them. Also the device limits in the model card, the engine in
// the page when there is no Web Worker, and the fallback to public addresses.
// Screenshots go to test-output/demo-*.png.
//   node scripts/gpu-env.mjs node test/browser/demo-e2e.mjs
//   env: CHROMIUM=/path/to/chromium, DEMO_TEST_TIMEOUT_MS (default 900000), DEMO_SIZES (JSON, see SIZES)
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { strFromU8, unzipSync } from 'fflate';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { check, launchDemoBrowser, log, runDemo, watchDemo } from './demo-harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = join(root, 'test-output');
const SIZES = { examples: 12, steps: 8, batch: 4, lr: 0.01, rank: 4 };
// DEMO_SIZES='{"examples":200,"steps":10,"batch":8}' tries the page at other sizes.
Object.assign(SIZES, JSON.parse(process.env.DEMO_SIZES ?? '{}'));


/** The zip the page offers for a run's adapter, unpacked: its PEFT config and the LoRA tensor names of its safetensors. */
async function downloadAdapter(page, label) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#downloads [data-adapter="${label}"] a[download$=".zip"]`)]);
  const zip = unzipSync(new Uint8Array(readFileSync(await download.path())));
  const config = JSON.parse(strFromU8(zip['adapter/adapter_config.json']));
  const st = zip['adapter/adapter_model.safetensors'];
  const header = JSON.parse(strFromU8(st.subarray(8, 8 + Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true)))));
  const loraKeys = Object.keys(header).filter((k) => /^base_model\.model\.model\.layers\.\d+\..*\.lora_[AB]\.weight$/.test(k));
  return { config, loraKeys };
}

/** What the page shows of the runs: table rows (cell texts) and the chart's curves and legend. */
function shownRuns(page) {
  return page.evaluate(() => ({
    rows: [...document.querySelectorAll('[data-testid=runs] tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent.trim())),
    headers: [...document.querySelectorAll('[data-testid=runs] thead th')].map((th) => th.textContent.trim()),
    curves: document.querySelectorAll('#chart polyline').length,
    legend: [...document.querySelectorAll('#chart .legend-item')].map((g) => g.textContent),
  }));
}

async function main() {
  mkdirSync(out, { recursive: true });
  // No file watching: another edit to the project mid-run must not reload the page under test.
  const server = await createServer({ configFile: join(root, 'demo', 'vite.config.ts'), logLevel: 'warn', server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false, watch: null } });
  const profile = mkdtempSync(join(tmpdir(), 'xtf-demo-chromium-'));
  let context;
  try {
    await server.listen();
    const address = server.httpServer.address();
    const base = `http://127.0.0.1:${address.port}/`;
    log(`vite dev server at ${base}`);
    context = await launchDemoBrowser(profile);
    const page = context.pages()[0] ?? (await context.newPage());
    const { demo, waitFor } = watchDemo(page);

    const q = new URLSearchParams(Object.entries(SIZES).map(([k, v]) => [k, String(v)]));
    await page.goto(`${base}?${q}`, { waitUntil: 'load' });

    // 1-2: the default model and data load on their own.
    let s = await waitFor('model and data', (s) => s.modelLoaded && s.examples > 0, 120_000);
    check(s.where === 'worker' || s.where === 'page', `engine ready (${s.where === 'worker' ? 'in a Web Worker' : 'in the main thread'}): ${await page.textContent('#gpu')}`);
    check(s.examples === SIZES.examples, `${s.examples} GSM8K examples parsed`);
    const info = await page.textContent('#model-info');
    check(/stories260K/.test(info), 'model facts show stories260K');
    check(/maxStorageBufferBindingSize \d/.test(info) && /maxBufferSize \d/.test(info) && /maxComputeWorkgroupStorageSize \d/.test(info) && /device features/.test(info), 'the model card shows the device limits and features');
    check(/loaded from/.test(info) && /local \.\.\/shared|public address/.test(info) && /loaded from (local|public)/.test(await page.textContent('[data-testid=data-source]')), `the model card and data say where they came from (${s.sources.model}; ${s.sources.data})`);
    await page.screenshot({ path: join(out, 'demo-1-loaded.png'), fullPage: true });

    // 3: score under the paper's rules, heatmap, immediate re-selection; then under the released rules (the default).
    check((await page.inputValue('#rules')) === 'released', 'the released rules are the default');
    await page.selectOption('#rules', 'paper');
    await page.click('#score');
    s = await waitFor('scoring (paper rules)', (s) => s.scored && s.rules === 'paper', 300_000);
    const masked = await page.locator('#heatmap .tok.m').count();
    check(masked > 0 && s.maskedTokens > 0 && (await page.isVisible('#kn')) && !(await page.isVisible('#kn-max')), `paper rules: heatmap shows ${masked} masked tokens (${s.maskedTokens} masked in all), the paper's thresholds to move`);
    let before = s.maskedTokens;
    await page.waitForFunction(() => window.__demo.plan !== null, null, { timeout: 30_000 });
    s = await demo();
    check(s.plan.batchSize === SIZES.batch && s.plan.rank === SIZES.rank && s.plan.seqLen > 0 && s.plan.peakBytes > 0 && /GPU memory for this run ≈ [\d.]+ [KM]iB/.test(await page.textContent('#plan')),
      `before training, the page shows the memory the run needs: ${(await page.textContent('#plan')).slice(0, 90)}…`);
    await page.fill('#kn', '0.5');
    s = await demo();
    check(s.maskedTokens > before, `raising the KN threshold re-selects at once: ${before} -> ${s.maskedTokens} masked`);
    // The masked dataset reflects the current (re-selected) mask: -100 on prompt and masked tokens.
    const [jsonl] = await Promise.all([page.waitForEvent('download'), page.click('#download-masked')]);
    const rows = readFileSync(await jsonl.path(), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const tokens = rows.reduce((n, r) => n + r.input_ids.length, 0);
    const ignored = rows.reduce((n, r) => n + r.labels.filter((x) => x === -100).length, 0);
    const wellFormed = rows.every((r) => r.labels.length === r.input_ids.length && r.attention_mask.every((m) => m === 1) && r.labels.every((x, i) => x === -100 || x === r.input_ids[i]));
    check(rows.length === SIZES.examples && wellFormed, `the masked dataset download parses: ${rows.length} pre-tokenised examples`);
    check(ignored - (tokens - s.labelTokens) === s.maskedTokens, `its -100 labels among label tokens (${ignored - (tokens - s.labelTokens)}) equal the page's masked count (${s.maskedTokens})`);
    await page.click('#reset-thresholds');
    s = await demo();
    check(s.maskedTokens === before, `reset restores XTF's choice (${s.maskedTokens})`);
    const paperMasked = before;
    await page.selectOption('#rules', 'released');
    await page.click('#score');
    s = await waitFor('scoring (released rules)', (s) => s.rules === 'released', 300_000);
    before = s.maskedTokens;
    check(before > 0 && before < paperMasked && (await page.isVisible('#kn-max')) && !(await page.isVisible('#kn')),
      `released rules: ${before} masked, fewer than the paper's ${paperMasked} (per-answer caps); the caps to move`);
    for (const cap of ['#ri-max', '#kn-max', '#tr-max']) await page.fill(cap, '0');
    s = await demo();
    check(s.maskedTokens === 0, `caps of 0 mask nothing: ${before} -> ${s.maskedTokens}`);
    await page.click('#reset-thresholds');
    s = await demo();
    check(s.maskedTokens === before && (await page.inputValue('#tr-max')) === '0.05', `reset restores the authors' caps (${s.maskedTokens} masked)`);
    await page.locator('#heatmap .tok.m').first().hover();
    check(await page.isVisible('#tip') && /cut|fence|floor/.test(await page.textContent('#tip')), `hovering a masked token shows its scores and its answer's cuts: ${(await page.textContent('#tip')).replace(/\s+/g, ' ').trim().slice(0, 120)}`);
    await page.screenshot({ path: join(out, 'demo-2-scored.png'), fullPage: true });
    await page.mouse.move(0, 0);

    // 4: train with the mask; the page must stay responsive while the worker trains.
    await page.click('#train');
    await waitFor('first training step', (s) => s.losses.length >= 2, 300_000);
    const t0 = Date.now();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(null))));
    check(Date.now() - t0 < 2000, `the page answers while training (${Date.now() - t0} ms for a frame)`);
    await page.click('#pause');
    s = await waitFor('pause', (s) => s.paused, 120_000);
    const pausedAt = s.losses.length;
    await new Promise((r) => setTimeout(r, 1500));
    check((await demo()).losses.length === pausedAt && pausedAt < SIZES.steps, `pause holds the run at step ${pausedAt}`);
    await page.click('#pause'); // now labelled Resume
    s = await waitFor('training', (s) => s.trained, 600_000);
    const l = s.losses;
    check(l.length === SIZES.steps, `${l.length} training steps advanced`);
    const head = (l[0] + l[1]) / 2, tail = (l.at(-1) + l.at(-2)) / 2;
    check(tail < head, `the loss falls: ${l.map((x) => x.toFixed(3)).join(' ')}`);
    const [firstRun] = (await shownRuns(page)).rows;
    check(/\d\s*→\s*\d/.test(firstRun[1]), `held-out loss before -> after is shown: ${firstRun.join(' | ')}`);
    const { config, loraKeys } = await downloadAdapter(page, 'XTF mask');
    check(config.peft_type === 'LORA' && config.r === SIZES.rank && loraKeys.length > 0, `the run's adapter zip is a PEFT LoRA adapter (r ${config.r}, ${loraKeys.length} tensors)`);

    // A second run on every label token, then generations from the base model and both adapters.
    await page.selectOption('#mask', 'all');
    await page.click('#train');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=runs] tbody tr').length === 2, null, { timeout: 600_000 });
    const runs = await shownRuns(page);
    check(['held-out loss before → after', 'tokens trained', 'masked', 'tokens/s', 'wall time'].every((h) => runs.headers.includes(h)),
      `the comparison table has ${runs.headers.join(' | ')}`);
    const [xtfRun, allRun] = runs.rows;
    check(xtfRun[0] === 'XTF mask' && allRun[0] === 'all label tokens' && parseFloat(xtfRun[4]) > 0 && allRun[4] === '0.0%' && runs.rows.every((r) => /^[\d,]+$/.test(r[3]) && /^\d+ s$/.test(r[6])),
      `the two runs side by side: ${runs.rows.map((r) => r.join(' | ')).join(' / ')}`);
    check(runs.curves === 2 && runs.legend.join() === 'XTF mask,all label tokens', `both loss curves on one chart, with a legend (${runs.legend.join(', ')})`);
    await page.fill('#max-tokens', '24');
    await page.click('#generate');
    s = await waitFor('generation', (s) => s.generations > 0, 300_000);
    check(s.generations === 3, `generations from the base model and both adapters (${s.generations})`);
    await page.screenshot({ path: join(out, 'demo-3-trained.png'), fullPage: true });

    // A reload brings back what IndexedDB keeps: scores, both runs, the comparison and the adapter.
    await page.reload({ waitUntil: 'load' });
    s = await waitFor('saved state', (s) => s.restored.runs > 0, 30_000);
    check(s.restored.scores === SIZES.examples && (await page.locator('#heatmap .tok.m').count()) > 0 && s.maskedTokens === before,
      `after a reload the saved scores are back: ${s.restored.scores} examples, the heatmap with ${s.maskedTokens} masked tokens`);
    const restoredRuns = await shownRuns(page);
    check(restoredRuns.rows.length === 2 && restoredRuns.curves === 2 && restoredRuns.rows.map((r) => r.join('|')).join('/') === runs.rows.map((r) => r.join('|')).join('/'),
      'after a reload both saved runs are back: the same table rows and both curves');
    check(s.restored.comparison && (await page.locator('#generations .gen').count()) === 3, 'after a reload the saved comparison of generations is back');
    const saved = [await downloadAdapter(page, 'XTF mask'), await downloadAdapter(page, 'all label tokens')];
    check(/Saved adapters/.test(await page.textContent('#downloads')) && s.restored.adapters === 2 && saved.every((a) => a.config.peft_type === 'LORA' && a.loraKeys.length === loraKeys.length),
      'both runs\' adapters survive the reload and still download as PEFT adapters');

    // Model sources: picked files, dropped files, a typed URL (after the default loads on its own).
    await waitFor('default model after the reload', (s) => s.loads >= 1 && s.examples > 0, 60_000);
    const modelDir = join(root, '..', 'shared', 'models', 'stories260K');
    await page.setInputFiles('#model-files', [join(modelDir, 'stories260K.bin'), join(modelDir, 'tok512.bin')]);
    s = await waitFor('model from picked files', (s) => s.loads >= 2, 60_000);
    let card = await page.textContent('#model-info');
    check(/stories260K\.bin \(llama2c\)/.test(card) && /this computer: stories260K\.bin, tok512\.bin/.test(card), 'a llama2.c .bin + tok512.bin picked from disk loads');
    await page.evaluate(async () => {
      const dt = new DataTransfer();
      for (const name of ['stories260K.bin', 'tok512.bin']) dt.items.add(new File([await (await fetch(`/shared/models/stories260K/${name}`)).blob()], name));
      document.getElementById('step-model').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    s = await waitFor('model from dropped files', (s) => s.loads >= 3, 60_000);
    check(/this computer: stories260K\.bin, tok512\.bin/.test(await page.textContent('#model-info')), 'the same files dropped on the model card load');
    const typed = `${base}shared/models/stories260K/stories260K.bin`;
    check(/base weights f32/.test(await page.textContent('#model-info')), 'a llama2.c model keeps its f32 base weights (auto)');
    await page.selectOption('#base-dtype', 'q8'); // the typed-URL model trains and generates on a q8 base below
    await page.fill('#model-url', typed);
    await page.click('#load-model');
    s = await waitFor('model from a typed URL', (s) => s.loads >= 4, 60_000);
    card = await page.textContent('#model-info');
    check(card.includes(`loaded from${typed}`) && /\(llama2c\)/.test(card) && !(await page.isDisabled('#train')), `a model from a typed URL loads (its tok512.bin found beside it), and can train on the saved scores`);
    check(/base weights q8/.test(card), `with "base weights: q8" its frozen weights are kept in 8-bit blocks on the GPU: ${card.match(/parameters[^A-Za-z]*[^\n]*?\)/)?.[0] ?? card.slice(0, 80)}`);
    // Online XTF on the saved scores: every label token goes to the trainer, KN is judged anew at each step.
    await page.selectOption('#mask', 'xtf-online');
    await page.click('#train');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=runs] tbody tr').length === 3, null, { timeout: 600_000 });
    const online = (await shownRuns(page)).rows[2];
    check(online[0] === 'XTF online' && /\d\s*→\s*\d/.test(online[1]) && /^\d+\.\d%$/.test(online[4]), `an online XTF run trains on the saved scores: ${online.join(' | ')}`);
    await page.screenshot({ path: join(out, 'demo-4-restored.png'), fullPage: true });
    await page.fill('#max-tokens', '16');
    await page.click('#generate');
    s = await waitFor('generation with the saved adapters', (s) => s.generations > 0, 60_000);
    const speakers = await page.$$eval('#generations .gen .who', (els) => els.map((e) => e.firstChild.nextSibling.textContent.trim()));
    check(speakers.join() === 'base model,XTF mask,all label tokens,XTF online', `after a reload the saved adapters generate beside the base model (${speakers.join(', ')})`);

    // Development without ../shared's data (a 404): the page falls back to the public address and says so.
    // The public copy is served here from ../shared, so the test needs no network. The same page has no
    // Web Worker, so the engine runs in the page (imported from the worker's own bundle).
    check((await fetch(`${base}shared/data/gsm8k/no-such-file.jsonl`)).status === 404, 'a file ../shared lacks is a 404 under /shared/');
    const fallbacks = await context.newPage();
    await fallbacks.addInitScript(() => { window.Worker = class { constructor() { throw new Error('no Web Worker in this test page'); } }; });
    await fallbacks.route('**/shared/data/**', (r) => r.fulfill({ status: 404, body: 'not here' }));
    await fallbacks.route('https://raw.githubusercontent.com/**', (r) => r.fulfill({ status: 200, contentType: 'application/json', body: readFileSync(join(root, '..', 'shared', 'data', 'gsm8k', r.request().url().split('/').pop())) }));
    await fallbacks.goto(`${base}?examples=3`, { waitUntil: 'load' });
    await fallbacks.waitForFunction(() => window.__demo?.examples > 0 && window.__demo.modelLoaded, null, { timeout: 60_000 });
    const note = await fallbacks.textContent('[data-testid=data-source]');
    check(/public address \(raw\.githubusercontent\.com\).*HTTP 404/.test(note) && (await fallbacks.evaluate(() => window.__demo.examples)) === 3, `without ../shared the data falls back to the public address: ${note.trim()}`);
    check((await fallbacks.evaluate(() => window.__demo.where)) === 'page' && /main thread/.test(await fallbacks.textContent('#gpu')), 'without a Web Worker the engine runs in the page and loads the model');
    await fallbacks.close();

    // Without WebGPU the page says so, names browsers and flags, and still shows what was saved.
    const bare = await context.newPage();
    await bare.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined }));
    await bare.goto(base, { waitUntil: 'load' });
    await bare.waitForSelector('#nogpu:not([hidden])', { timeout: 30_000 });
    check(/Chrome/.test(await bare.textContent('#nogpu')) && /enable-unsafe-webgpu/.test(await bare.textContent('#nogpu')), 'without WebGPU the page names browsers and flags');
    const bareRuns = await shownRuns(bare);
    check(bareRuns.rows.length === 3 && bareRuns.curves === 3 && (await bare.locator('#heatmap .tok.m').count()) > 0,
      'without WebGPU the saved runs (table and curves) and the saved scores heatmap are shown');
    const bareBefore = await bare.evaluate(() => window.__demo.maskedTokens);
    for (const cap of ['#ri-max', '#kn-max', '#tr-max']) await bare.fill(cap, '0');
    const bareAfter = await bare.evaluate(() => window.__demo.maskedTokens);
    check(bareBefore > 0 && bareAfter === 0, `without WebGPU the saved scores (released rules) still re-select: ${bareBefore} -> ${bareAfter} masked`);
    await bare.click('#reset-thresholds'); // the screenshot shows XTF's choice again
    await bare.screenshot({ path: join(out, 'demo-5-no-webgpu.png'), fullPage: true });
    await bare.click('#clear-saved');
    await bare.waitForFunction(() => window.__demo.cleared, null, { timeout: 10_000 });
    check((await shownRuns(bare)).rows.length === 0 && (await bare.isHidden('#saved')), '"Clear saved state" takes the saved runs off the page');
    await bare.reload({ waitUntil: 'load' });
    await bare.waitForSelector('#nogpu:not([hidden])', { timeout: 30_000 });
    const after = await bare.evaluate(() => window.__demo.restored);
    check(after.scores === 0 && after.runs === 0 && after.adapters === 0 && !after.comparison, 'and after a reload nothing saved comes back');
    await bare.close();
    log(`screenshots: ${['demo-1-loaded.png', 'demo-2-scored.png', 'demo-3-trained.png', 'demo-4-restored.png', 'demo-5-no-webgpu.png'].map((f) => relative(root, join(out, f))).join(', ')}`);
    log('passed');
  } finally {
    await context?.close().catch(() => undefined);
    await server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

await runDemo(main);
