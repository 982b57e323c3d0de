// The portable kernel suite in Chromium: builds test/browser/portable.html with Vite into a temporary
// directory, serves it on 127.0.0.1, opens it in Debian's Chromium (WebGPU on SwiftShader) through
// playwright-core, prints each case, saves test-output/browser-portable.png and ends with
// `browser: N passed, M failed`. Exits non-zero on a failure, on no cases or on a timeout.
//   npm run test:browser
//   env: CHROMIUM=/path/to/chromium, BROWSER_TEST_TIMEOUT_MS (whole suite, default 600000),
//        BROWSER_CASE_TIMEOUT_MS (one case, default 180000)
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { chromium } from 'playwright-core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const totalTimeoutMs = Number(process.env.BROWSER_TEST_TIMEOUT_MS ?? 600_000);
const caseTimeoutMs = Number(process.env.BROWSER_CASE_TIMEOUT_MS ?? 180_000);
const screenshotPath = join(root, 'test-output', 'browser-portable.png');
const started = performance.now();
const seconds = () => ((performance.now() - started) / 1000).toFixed(1);

/** Every exit path prints the closing line the CI greps for. */
function finish(passed, failed, why) {
  if (why) console.error(`browser: ${why}`);
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 || passed === 0 || why ? 1 : 0;
}

async function bundle(outDir) {
  const output = await build({
    configFile: false,
    root,
    base: './',
    logLevel: 'warn',
    publicDir: false,
    build: {
      outDir,
      emptyOutDir: true,
      // The page is a test: keep names readable in stack traces.
      minify: false,
      sourcemap: true,
      reportCompressedSize: false,
      rollupOptions: { input: join(root, 'test', 'browser', 'portable.html') },
    },
  });
  // src/gpu/device.ts imports Dawn with a variable specifier so that no bundler follows it.
  const outputs = (Array.isArray(output) ? output : [output]).flatMap((o) => o.output ?? []);
  const dawn = outputs
    .flatMap((o) => [...(o.moduleIds ?? Object.keys(o.modules ?? {})), o.fileName])
    .filter((id) => /node_modules[\\/]webgpu[\\/]|\.node$/.test(id));
  if (dawn.length > 0) throw new Error(`the browser bundle pulled in the 'webgpu' Node package: ${dawn.join(', ')}`);
  const html = outputs.find((o) => o.fileName.endsWith('portable.html'));
  if (!html) throw new Error('vite build produced no portable.html');
  return html.fileName;
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

function serve(dir) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = normalize(join(dir, path));
    const inside = !relative(dir, file).startsWith('..') && (file + sep).startsWith(dir + sep);
    if (!inside || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main() {
  if (!existsSync(executablePath)) {
    finish(0, 0, `no browser at ${executablePath} (apt-get install -y chromium, or set CHROMIUM=/path/to/chrome)`);
    return;
  }
  const outDir = mkdtempSync(join(tmpdir(), 'xtf-browser-'));
  let server;
  let browser;
  let passed = 0;
  let failed = 0;
  try {
    const htmlFile = await bundle(outDir);
    console.log(`browser: built ${htmlFile} in ${seconds()} s`);
    server = await serve(outDir);
    const url = `http://127.0.0.1:${server.address().port}/${htmlFile.split(sep).join('/')}?caseTimeoutMs=${caseTimeoutMs}`;

    browser = await chromium.launch({
      executablePath,
      headless: true,
      // launch() gives every run a fresh temporary profile (no --user-data-dir needed).
      args: [
        '--no-sandbox',
        '--enable-unsafe-webgpu',
        '--use-webgpu-adapter=swiftshader',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    console.log(`browser: ${browser.version()} launched`);
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    page.on('console', (msg) => {
      const type = msg.type();
      if (type === 'error' || type === 'warning') console.error(`  [page ${type}] ${msg.text()}`);
    });
    let pageError = null;
    page.on('pageerror', (e) => {
      pageError ??= e;
      console.error(`  [page error] ${e.stack ?? e.message}`);
    });
    page.on('crash', () => {
      pageError ??= new Error('the page crashed');
      console.error('  [page crashed]');
    });

    const seen = new Set();
    const printCase = (r) => {
      if (seen.has(r.name)) return;
      seen.add(r.name);
      if (r.ok) passed++;
      else failed++;
      console.log(`  ${r.ok ? 'pass' : 'FAIL'}  ${r.name}  (${Math.round(r.ms)} ms)${r.ok ? '' : `\n        ${r.error}`}`);
    };
    await page.exposeFunction('__report', (event) => {
      if (event.kind === 'adapter') console.log(`  adapter: ${event.summary}\n  features: ${event.features.join(', ') || '(none)'}`);
      else if (event.kind === 'case') printCase(event.result);
    });

    await page.goto(url, { waitUntil: 'load' });
    const deadline = Date.now() + totalTimeoutMs;
    let results = null;
    for (;;) {
      // A page stuck in a JS loop never answers evaluate(): give up at the deadline regardless.
      const left = Math.max(1, deadline - Date.now());
      let timer;
      const answer = await Promise.race([
        page.evaluate(() => window.__results ?? null).then((r) => ({ r }), () => ({ r: null })),
        new Promise((r) => (timer = setTimeout(() => r(null), left))),
      ]).finally(() => clearTimeout(timer));
      if (answer) results = answer.r;
      if (results?.done) break;
      // The module failed before it could publish any results (syntax error, failed import...).
      if (pageError && !results) break;
      if (Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    for (const r of results?.cases ?? []) printCase(r);
    await page.screenshot({ path: screenshotPath, fullPage: true, timeout: 10_000 }).then(
      () => console.log(`browser: screenshot ${relative(root, screenshotPath)}`),
      (e) => console.error(`browser: no screenshot: ${e.message}`),
    );
    console.log(`browser: ${seconds()} s`);
    if (!results) finish(passed, failed, `the page published no results${pageError ? ` (${pageError.message})` : ''}`);
    else if (results.fatal) finish(passed, failed, `suite aborted: ${results.fatal}`);
    else if (!results.done) finish(passed, failed, `timed out after ${totalTimeoutMs} ms (BROWSER_TEST_TIMEOUT_MS)`);
    else if (results.cases.length === 0) finish(0, 0, 'no cases ran (test/portable/index.ts is empty?)');
    else finish(passed, failed);
  } catch (e) {
    finish(passed, failed, e.stack ?? String(e));
  } finally {
    await browser?.close().catch(() => undefined);
    server?.close();
    rmSync(outDir, { recursive: true, force: true });
  }
}

mkdirSync(dirname(screenshotPath), { recursive: true });
await main();
// Whatever handle might linger (a browser that would not close, a keep-alive socket), the verdict
// is printed: do not let it hold the process. An unref'd timer only fires if something else does.
setTimeout(() => process.exit(), 10_000).unref();
