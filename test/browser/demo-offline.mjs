// The built demo without a network (issue 15): builds the site (vite build, to a temporary folder), serves
// it with Vite's preview server on 127.0.0.1, and opens it once in Debian's Chromium through playwright-core
// with the public model and data addresses answered from ../shared (no network is used). Then:
//   - it is an installable web app: a manifest, a service worker that controls the page and precaches every
//     file of the build, and no installability errors from Chromium;
//   - the model and data are stored in Cache Storage on that first visit and listed on the model card;
//   - offline (the browser context offline, the server stopped, the public addresses refused), a reload
//     opens the page, loads the stored model and data and says they came from this browser's storage,
//     scores, trains a short run, generates, and the adapter and the masked dataset download;
//   - a stored model truncated through the Cache Storage API is detected on the next reload and reported
//     (offline: never loaded); online again, a stored model with one byte changed is fetched again;
//   - one stored file is removed from the card; "Clear saved state" keeps the stored files unless its box
//     is ticked, then drops them.
// Screenshot: test-output/demo-offline-model-card.png (the model card offline, its stored files listed).
// Prints "demo: [t s] ok ..." per check (scripts/test-all.mjs counts them), "demo: FAILED ..." on failure.
//   node scripts/gpu-env.mjs node test/browser/demo-offline.mjs     (env: CHROMIUM, DEMO_TEST_TIMEOUT_MS)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { strFromU8, unzipSync } from 'fflate';
import { PUBLIC, routePublicAddresses, serveBuiltSite } from './built-site.mjs';
import { check, launchDemoBrowser, log, runDemo, watchDemo } from './demo-harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = join(root, '..', 'shared');
const SIZES = { examples: 8, steps: 4, batch: 4, lr: 0.01, rank: 4 };
const FILES_CACHE = 'xtf-demo-files-v1';

const MODEL_URL = Object.keys(PUBLIC)[0];

const filesUnder = (dir) => readdirSync(dir, { recursive: true }).filter((f) => statSync(join(dir, f)).isFile()).map((f) => f.split('\\').join('/'));

async function main() {
  const served = await serveBuiltSite();
  const { site, base } = served;
  const profile = mkdtempSync(join(tmpdir(), 'xtf-demo-offline-chromium-'));
  let context;
  try {
    const built = filesUnder(site);
    log(`built the site: ${built.length} files`);

    context = await launchDemoBrowser(profile);
    // The public addresses, answered from ../shared while "online"; every request is counted.
    const requested = [];
    let online = true;
    await routePublicAddresses(context, { online: () => online, onRequest: (url) => requested.push(url) });
    const page = context.pages()[0] ?? (await context.newPage());
    const { waitFor } = watchDemo(page);
    const storedUrls = () => page.evaluate(async (name) => (await (await caches.open(name)).keys()).map((r) => r.url), FILES_CACHE);
    const cardFiles = () => page.$$eval('[data-testid=stored-files] li', (els) => els.map((e) => e.dataset.url));
    const url = `${base}?${new URLSearchParams(Object.entries(SIZES).map(([k, v]) => [k, String(v)]))}`;

    // The first visit: online, the model and data download and are stored.
    await page.goto(url, { waitUntil: 'load' });
    let s = await waitFor('model and data (first visit)', (s) => s.modelLoaded && s.examples > 0, 180_000);
    check(s.examples === SIZES.examples, `first visit: the model and ${s.examples} GSM8K examples load from the public addresses`);
    check(/now stored in this browser/.test(s.sources.model) && /now stored in this browser/.test(s.sources.data) && /now stored in this browser/.test(await page.textContent('#model-info')),
      `they are stored on their first download, and the page says so: ${s.sources.model}`);
    const stored = await page.evaluate(() => window.__stored);
    // (The route answers in one piece, so the bar is never seen part-way here: it goes to 100% and hides.)
    check(stored.downloadProgress > 0 && parseFloat(await page.$eval('#model-bar', (b) => b.style.width)) === 100 && (await page.isHidden('#model-progress')),
      `the model download drives the progress bar (${stored.downloadProgress} updates, to 100%), hidden once complete`);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=stored-files] li').length === n, Object.keys(PUBLIC).length, { timeout: 10_000 });
    const listed = await cardFiles();
    check(Object.keys(PUBLIC).every((u) => listed.includes(u)) && /Stored in this browser.*4 files/.test(await page.textContent('[data-testid=stored-files]')) && /260K|1\.\d+ MiB|\d+ KiB/.test(await page.textContent('[data-testid=stored-files]')),
      `the model card lists the 4 stored files with their sizes: ${(await page.textContent('[data-testid=stored-files] p')).trim()}`);
    const entries = await page.evaluate(async (name) => Promise.all((await (await caches.open(name)).keys()).map(async (r) => {
      const res = await (await caches.open(name)).match(r);
      return { url: r.url, bytes: Number(res.headers.get('x-xtf-bytes')), body: (await res.arrayBuffer()).byteLength, sha: res.headers.get('x-xtf-sha256') };
    })), FILES_CACHE);
    check(entries.every((e) => e.bytes === readFileSync(join(shared, PUBLIC[e.url])).length && e.body === e.bytes && /^[0-9a-f]{64}$/.test(e.sha)),
      'each stored copy carries its byte length and SHA-256, and the length is the file\'s');

    // The app shell: a service worker controls the page and has precached every file of the build.
    await page.waitForFunction(() => !!navigator.serviceWorker?.controller, null, { timeout: 60_000 });
    const precached = await page.evaluate(async () => {
      const names = (await caches.keys()).filter((n) => n.includes('precache'));
      const urls = [];
      for (const n of names) for (const r of await (await caches.open(n)).keys()) urls.push(new URL(r.url).pathname.slice(1));
      return urls;
    });
    const shell = built.filter((f) => f !== 'sw.js' && !/^workbox-[\w-]+\.js$/.test(f));
    check(shell.every((f) => precached.includes(f)), `a service worker controls the page and precaches all ${shell.length} files of the build (${shell.join(', ')})`);
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    const manifest = await cdp.send('Page.getAppManifest');
    check(installabilityErrors.length === 0 && /"name":\s*"XTF/.test(manifest.data ?? ''), `Chromium finds the page installable (manifest ${manifest.url.replace(base, '')}, no installability errors)`);
    await cdp.detach();

    // Offline: no network for the browser, no server, the public addresses refused.
    online = false;
    await context.setOffline(true);
    await served.server.close();
    served.server = null;
    requested.length = 0;
    await page.reload({ waitUntil: 'load' });
    s = await waitFor('model and data (offline)', (s) => s.modelLoaded && s.examples > 0, 180_000);
    check(s.ready && (await page.evaluate(() => window.__offline.controlled)), `offline, with the server stopped, a reload opens the full page from the service worker (engine ready: ${await page.textContent('#gpu')})`);
    const card = await page.textContent('#model-info');
    check(/loaded from this browser's storage/.test(card) && /loaded from this browser's storage/.test(await page.textContent('[data-testid=data-source]')) && requested.length === 0,
      `offline, the stored model and data load and say so (${s.sources.model}); no request left the browser`);
    mkdirSync(join(root, 'test-output'), { recursive: true });
    await page.locator('#step-model').screenshot({ path: join(root, 'test-output', 'demo-offline-model-card.png') });
    await page.click('#score');
    s = await waitFor('scoring (offline)', (s) => s.scored, 300_000);
    check(s.maskedTokens > 0 && (await page.locator('#heatmap .tok.m').count()) > 0, `offline, XTF scores the stored data: ${s.maskedTokens} of ${s.labelTokens} label tokens masked`);
    const [masked] = await Promise.all([page.waitForEvent('download'), page.click('#download-masked')]);
    const rows = readFileSync(await masked.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    check(rows.length === SIZES.examples && rows.every((r) => r.labels.length === r.input_ids.length), `offline, the masked dataset downloads (${rows.length} JSONL rows)`);
    await page.click('#train');
    s = await waitFor('training (offline)', (s) => s.trained, 600_000);
    check(s.losses.length === SIZES.steps && s.losses.every(Number.isFinite), `offline, a ${SIZES.steps}-step LoRA run finishes: losses ${s.losses.map((x) => x.toFixed(3)).join(' ')}`);
    const [zip] = await Promise.all([page.waitForEvent('download'), page.click('#downloads [data-adapter="XTF mask"] a[download$=".zip"]')]);
    const files = unzipSync(new Uint8Array(readFileSync(await zip.path())));
    const config = JSON.parse(strFromU8(files['adapter/adapter_config.json']));
    check(config.peft_type === 'LORA' && config.r === SIZES.rank && files['adapter/adapter_model.safetensors']?.length > 0, `offline, the run's adapter downloads as a PEFT LoRA zip (r ${config.r})`);
    await page.fill('#max-tokens', '12');
    await page.click('#generate');
    s = await waitFor('generation (offline)', (s) => s.generations > 0, 300_000);
    check(s.generations === 2 && requested.length === 0, `offline, the base model and the adapter generate (${s.generations} outputs); still no request left the browser`);

    // A stored model truncated behind the page's back: detected on the next load, reported, never loaded.
    const truncated = await page.evaluate(async ({ name, url }) => {
      const cache = await caches.open(name);
      const r = await cache.match(url);
      const bytes = new Uint8Array(await r.arrayBuffer());
      await cache.put(url, new Response(bytes.slice(0, bytes.length >> 1), { headers: r.headers }));
      return bytes.length >> 1;
    }, { name: FILES_CACHE, url: MODEL_URL });
    await page.reload({ waitUntil: 'load' });
    s = await waitFor('the damaged model reported', (s) => s.errors.length > 0 || s.modelLoaded, 120_000, { errorsFail: false });
    const reported = s.errors.join('; ');
    check(!s.modelLoaded && new RegExp(`stored copy of ${MODEL_URL.replace(/[.?/]/g, '\\$&')} was damaged \\(${truncated} bytes where \\d+ were stored\\) and has been removed; fetching it again failed`).test(reported),
      `offline, a truncated stored model is detected and reported, not loaded: ${reported.slice(0, 200)}`);
    check(!(await storedUrls()).includes(MODEL_URL) && !(await cardFiles()).includes(MODEL_URL), 'the damaged copy is removed from storage and from the card');

    // Online again: the model is fetched and stored again; a copy with one byte changed (same length) is
    // caught by its SHA-256 and fetched again.
    online = true;
    await context.setOffline(false);
    await page.reload({ waitUntil: 'load' });
    s = await waitFor('model fetched again (online)', (s) => s.modelLoaded && s.examples > 0, 180_000);
    check(/now stored in this browser/.test(s.sources.model) && (await storedUrls()).includes(MODEL_URL), `online again, the model is downloaded and stored again: ${s.sources.model}`);
    await page.evaluate(async ({ name, url }) => {
      const cache = await caches.open(name);
      const r = await cache.match(url);
      const bytes = new Uint8Array(await r.arrayBuffer());
      bytes[bytes.length - 1] ^= 0xff;
      await cache.put(url, new Response(bytes, { headers: r.headers }));
    }, { name: FILES_CACHE, url: MODEL_URL });
    await page.reload({ waitUntil: 'load' });
    s = await waitFor('model after a changed byte', (s) => s.modelLoaded && s.examples > 0, 180_000);
    const events = await page.evaluate(() => window.__stored.events);
    check(events.some((e) => e.type === 'damaged' && e.url === MODEL_URL && /SHA-256/.test(e.why)) && /damaged stored copy fetched again: stories260K\.bin: SHA-256/.test(s.sources.model),
      `a stored model with one byte changed is caught by its SHA-256 and fetched again: ${s.sources.model}`);

    // The card's remove button; "Clear saved state" keeps the stored files unless its box is ticked.
    const heldOut = Object.keys(PUBLIC)[3];
    await page.click(`[data-testid=stored-files] li[data-url="${heldOut}"] button[data-remove]`);
    await page.waitForFunction((u) => !document.querySelector(`[data-testid=stored-files] li[data-url="${u}"]`), heldOut, { timeout: 10_000 });
    check(!(await storedUrls()).includes(heldOut) && (await cardFiles()).length === 3, 'a stored file\'s remove button takes it out of storage and off the card');
    check(await page.isVisible('#clear-stored-choice') && !(await page.isChecked('#clear-stored')), `"Clear saved state" offers to drop the stored files too, unticked: ${(await page.textContent('#clear-stored-choice')).trim()}`);
    await page.click('#clear-saved');
    await page.waitForFunction(() => window.__demo.cleared, null, { timeout: 10_000 });
    check((await storedUrls()).length === 3 && (await cardFiles()).length === 3, 'cleared with the box unticked, the stored files stay');
    await page.fill('#max-tokens', '4');
    await page.click('#generate'); // something saved again, so that the strip offers its button
    await page.waitForSelector('#saved:not([hidden])', { timeout: 120_000 });
    await page.check('#clear-stored');
    await page.click('#clear-saved');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=stored-files] li').length === 0, null, { timeout: 10_000 });
    check((await storedUrls()).length === 0 && /No model or data stored/.test(await page.textContent('[data-testid=stored-files]')), 'cleared with the box ticked, the stored models and data are dropped');
    log('passed');
  } finally {
    await context?.close().catch(() => undefined);
    await served.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

await runDemo(main);
