// The built demo as the offline and fallback tests serve it: `vite build` to a temporary folder, Vite's
// preview server on 127.0.0.1, and the site's public model and data addresses (demo/sources.ts) answered
// from the ../shared copies (no network is used).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview } from 'vite';
import { log } from './demo-harness.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const shared = join(root, '..', 'shared');
const configFile = join(root, 'demo', 'vite.config.ts');

/** The built site's public addresses and the ../shared files that answer for them. */
export const PUBLIC = {
  'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin': 'models/stories260K/stories260K.bin',
  'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/tok512.bin': 'models/stories260K/tok512.bin',
  'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/train.jsonl': 'data/gsm8k/train.jsonl',
  'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/test.jsonl': 'data/gsm8k/test.jsonl',
};

/**
 * Builds the site and serves it: { site (the build folder), base (its address), server, close() }.
 * Fails first when a ../shared file the public addresses need is missing.
 */
export async function serveBuiltSite() {
  for (const f of Object.values(PUBLIC)) if (!existsSync(join(shared, f))) throw new Error(`../shared/${f} is missing: the test serves the public addresses from it`);
  const site = mkdtempSync(join(tmpdir(), 'xtf-demo-site-'));
  const served = { site, base: '', server: null };
  served.close = async () => {
    await served.server?.close().catch(() => undefined);
    rmSync(site, { recursive: true, force: true });
  };
  try {
    await build({ configFile, logLevel: 'warn', build: { outDir: site, emptyOutDir: true } });
    served.server = await preview({ configFile, logLevel: 'warn', build: { outDir: site }, preview: { host: '127.0.0.1', port: 0, strictPort: false } });
  } catch (e) {
    await served.close();
    throw e;
  }
  served.base = `http://127.0.0.1:${served.server.httpServer.address().port}/`;
  log(`built the site; vite preview server at ${served.base}`);
  return served;
}

/**
 * Answers the public addresses in this browser context from ../shared. onRequest sees every request;
 * while online() is false, or for an address the site does not use, the request fails as if disconnected.
 */
export function routePublicAddresses(context, { online = () => true, onRequest = () => {} } = {}) {
  return context.route(/^https:\/\/(huggingface\.co|raw\.githubusercontent\.com)\//, (route) => {
    const url = route.request().url();
    onRequest(url);
    if (!online() || !PUBLIC[url]) return route.abort('internetdisconnected');
    const body = readFileSync(join(shared, PUBLIC[url]));
    return route.fulfill({ status: 200, body, headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length), 'access-control-allow-origin': '*' } });
  });
}
