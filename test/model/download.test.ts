// Downloads against a local HTTP server on 127.0.0.1: timeouts instead of hangs, and a cache that keeps
// only complete, valid downloads (no 404s, no HTML error pages, no truncated bodies), with refresh and
// offline modes. Every failure names the URL; every cache-related one names the cache file.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, fetchBytes } from '../../src/model/download.ts';
import type { LoadProgress } from '../../src/model/source.ts';
import { cachedDownloader, loadModel } from '../../src/model/source-fs.ts';
import { CheckpointFormatError, DownloadError } from '../../src/model/errors.ts';

const root = mkdtempSync(join(tmpdir(), 'xtf-download-'));
const payload = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) & 0xff);
let server: Server;
let base = '';
const hits = new Map<string, number>();
/** Responses left hanging by the server, ended after the tests. */
const hanging: ServerResponse[] = [];
/** Per path: what the server does on the n-th request (1-based). */
const routes: Record<string, (req: IncomingMessage, res: ServerResponse, n: number) => void> = {
  '/ok.bin': (_, res) => res.writeHead(200, { 'Content-Length': payload.length, 'Content-Type': 'application/octet-stream' }).end(payload),
  '/never-answers.bin': (_, res) => void hanging.push(res),
  '/stalls.bin': (_, res) => {
    res.writeHead(200, { 'Content-Length': 1000 });
    res.write(payload.subarray(0, 100));
    hanging.push(res);
  },
  '/truncated.bin': (_, res) => {
    res.writeHead(200, { 'Content-Length': 1000 });
    res.write(payload.subarray(0, 500), () => res.socket?.destroy());
  },
  '/html.bin': (_, res) => res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end('<!DOCTYPE html><html><body>Sign in</body></html>'),
  '/html-unlabelled.gguf': (_, res) => res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end('\n  <html><body>Error 500</body></html>'),
  '/server-error.bin': (_, res) => res.writeHead(503, 'Service Unavailable').end('busy'),
  // 404 the first time, there afterwards (a file uploaded after a first try).
  '/appears.bin': (_, res, n) => (n === 1 ? res.writeHead(404).end('not found') : res.writeHead(200, { 'Content-Length': payload.length }).end(payload)),
  // HTML error page the first time, the file afterwards.
  '/flaky.bin': (_, res, n) => (n === 1 ? res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html>oops</html>') : res.writeHead(200, { 'Content-Length': payload.length }).end(payload)),
  '/garbage.gguf': (_, res) => res.writeHead(200, { 'Content-Length': 16 }).end('GGUF not really!'),
  '/changes.bin': (_, res, n) => res.writeHead(200, { 'Content-Length': 4 }).end(Uint8Array.of(n, n, n, n)),
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = new URL(req.url!, 'http://x').pathname;
    const n = (hits.get(path) ?? 0) + 1;
    hits.set(path, n);
    (routes[path] ?? ((_, r) => r.writeHead(404).end('not found')))(req, res, n);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => hits.clear());

let cacheCount = 0;
const newCache = () => join(root, `cache-${++cacheCount}`);
const cacheFileOf = (dir: string, url: string) => join(dir, createHash('sha256').update(url).digest('hex'));
const entries = (dir: string) => {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
};
const failure = (p: Promise<unknown>) => p.then(() => {
  throw new Error('expected a failure');
}, (e) => e as DownloadError);

describe('downloads: timeouts and progress', () => {
  it('gives up on a server that accepts the connection and never answers, naming the URL', async () => {
    expect([DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS]).toEqual([30_000, 60_000]);
    const url = `${base}/never-answers.bin`;
    const dir = newCache();
    const start = performance.now();
    const err = await failure(cachedDownloader(dir, { connectTimeoutMs: 300 })(url));
    expect(performance.now() - start).toBeLessThan(3000);
    expect(err).toBeInstanceOf(DownloadError);
    expect([err.url, err.reason, err.cachePath]).toEqual([url, 'timeout', cacheFileOf(dir, url)]);
    expect(err.message).toBe(`${url}: no response from the server within 0.3 s (connect timeout); it may be down or unreachable; nothing was cached (cache file ${cacheFileOf(dir, url)})`);
    expect(entries(dir)).toEqual([]);
    // Without a cache too.
    await expect(fetchBytes(url, undefined, { connectTimeoutMs: 200 })).rejects.toThrow(`${url}: no response from the server within 0.2 s (connect timeout)`);
  }, 10_000);

  it('gives up on a body that stops arriving, after reporting the bytes that came', async () => {
    const url = `${base}/stalls.bin`;
    const dir = newCache();
    const progress: LoadProgress[] = [];
    const err = await failure(cachedDownloader(dir, { idleTimeoutMs: 300 })(url, (p) => progress.push(p)));
    expect(err.reason).toBe('timeout');
    expect(err.message).toMatch(new RegExp(`^${url}: no data for 0\\.3 s after 100 of 1,000 bytes \\(idle timeout\\); the server stalled; nothing was cached`));
    expect(progress).toEqual([{ file: url, loaded: 100, total: 1000 }]);
    expect(entries(dir)).toEqual([]);
  }, 10_000);
});

describe('download cache: only complete, valid downloads are kept', () => {
  it('caches a good download once, re-downloads with refresh, serves it offline', async () => {
    const url = `${base}/changes.bin`;
    const dir = newCache();
    const first = await cachedDownloader(dir)(url);
    expect(Array.from(first!)).toEqual([1, 1, 1, 1]);
    const key = createHash('sha256').update(url).digest('hex');
    expect(entries(dir)).toEqual([key, `${key}.json`]);
    expect(JSON.parse(readFileSync(join(dir, `${key}.json`), 'utf8'))).toMatchObject({ url, size: 4 });
    const progress: LoadProgress[] = [];
    expect(Array.from((await cachedDownloader(dir)(url, (p) => progress.push(p)))!)).toEqual([1, 1, 1, 1]);
    expect(progress).toEqual([{ file: url, loaded: 4, total: 4, cached: true }]);
    expect(hits.get('/changes.bin')).toBe(1);
    // refresh downloads again and replaces the copy.
    expect(Array.from((await cachedDownloader(dir, { refresh: true })(url))!)).toEqual([2, 2, 2, 2]);
    expect(Array.from((await cachedDownloader(dir, { offline: true })(url))!)).toEqual([2, 2, 2, 2]);
    expect(hits.get('/changes.bin')).toBe(2);
    // refresh that fails keeps the old copy.
    const okUrl = `${base}/ok.bin`;
    await cachedDownloader(dir)(okUrl);
    const flaky = `${base}/flaky.bin`;
    writeFileSync(cacheFileOf(dir, flaky), payload);
    writeFileSync(`${cacheFileOf(dir, flaky)}.json`, JSON.stringify({ url: flaky, size: payload.length, downloadedAt: 'then' }));
    await expect(cachedDownloader(dir, { refresh: true })(flaky)).rejects.toThrow(DownloadError);
    expect(Array.from((await cachedDownloader(dir, { offline: true })(flaky))!)).toEqual(Array.from(payload));
  });

  it('does not cache a 404: the file is asked for again, and found once it exists', async () => {
    const url = `${base}/appears.bin`;
    const dir = newCache();
    expect(await cachedDownloader(dir)(url)).toBeNull();
    // Offline, the last answer stands: the file did not exist.
    expect(await cachedDownloader(dir, { offline: true })(url)).toBeNull();
    expect(Array.from((await cachedDownloader(dir)(url))!)).toEqual(Array.from(payload));
    expect(hits.get('/appears.bin')).toBe(2);
    expect(entries(dir).some((f) => f.endsWith('.missing'))).toBe(false);
  });

  it('refuses an HTML page (labelled or not), an error status and a truncated body, caching none of them', async () => {
    const dir = newCache();
    const cases: [string, DownloadError['reason'], string][] = [
      ['/html.bin', 'html', 'the server answered with an HTML page (Content-Type text/html; charset=utf-8), not the file: a login, error or landing page, or a wrong URL; nothing was cached'],
      ['/html-unlabelled.gguf', 'html', 'the server answered with an HTML page, not the file: a login, error or landing page, or a wrong URL; nothing was cached'],
      ['/server-error.bin', 'http', 'HTTP 503 Service Unavailable; nothing was cached'],
    ];
    for (const [path, reason, detail] of cases) {
      const url = `${base}${path}`;
      const err = await failure(cachedDownloader(dir)(url));
      expect(err, path).toBeInstanceOf(DownloadError);
      expect(err.reason, path).toBe(reason);
      expect(err.message).toBe(`${url}: ${detail} (cache file ${cacheFileOf(dir, url)})`);
    }
    const url = `${base}/truncated.bin`;
    const err = await failure(cachedDownloader(dir)(url));
    expect(err.reason).toBe('truncated');
    expect(err.message).toMatch(new RegExp(`^${url}: the download (broke off|stopped at) .*500 of 1,000 bytes.*; nothing was cached \\(cache file ${cacheFileOf(dir, url)}\\)$`));
    expect(entries(dir)).toEqual([]);

    // The HTML page of a first try is not served on the next: the file is downloaded.
    const flaky = `${base}/flaky.bin`;
    await expect(cachedDownloader(dir)(flaky)).rejects.toThrow(/HTML page/);
    expect(Array.from((await cachedDownloader(dir)(flaky))!)).toEqual(Array.from(payload));
  }, 10_000);

  it('downloads again over an unverified entry (an error page an older version cached)', async () => {
    const url = `${base}/ok.bin`;
    const dir = newCache();
    await cachedDownloader(dir)(url); // creates the folder
    rmSync(`${cacheFileOf(dir, url)}.json`);
    writeFileSync(cacheFileOf(dir, url), '<html>404</html>');
    await expect(cachedDownloader(dir, { offline: true })(url)).rejects.toThrow(`${url}: the cached copy was not verified as a complete download`);
    expect(Array.from((await cachedDownloader(dir)(url))!)).toEqual(Array.from(payload));
    // A cached copy changed on disk is not served either.
    writeFileSync(cacheFileOf(dir, url), 'short');
    const err = await failure(cachedDownloader(dir, { offline: true })(url));
    expect(err.message).toBe(`${url}: the cached copy is 5 bytes, but 5,000 were downloaded: it is damaged; run once without offline to fetch it again (cache file ${cacheFileOf(dir, url)})`);
  });

  it('offline fails at once with the cache file it looked for', async () => {
    const url = `${base}/ok.bin`;
    const dir = newCache();
    const err = await failure(cachedDownloader(dir, { offline: true })(url));
    expect([err.reason, err.cachePath]).toEqual(['offline', cacheFileOf(dir, url)]);
    expect(err.message).toBe(`${url}: is not in the download cache, and offline mode does not download: run once without offline to fetch it (cache file ${cacheFileOf(dir, url)})`);
    expect(hits.size).toBe(0);
    await expect(loadModel(`${base}/model.gguf`, { cacheDir: dir, offline: true })).rejects.toThrow(`${base}/model.gguf: is not in the download cache`);
    await expect(loadModel(`${base}/model.gguf`, { cacheDir: false, offline: true })).rejects.toThrow(DownloadError);
    expect(hits.size).toBe(0);
  });

  it('names the cached copy when a downloaded file turns out not to be a model', async () => {
    const dir = newCache();
    const url = `${base}/garbage.gguf`;
    const err = await loadModel(url, { cacheDir: dir }).catch((e) => e);
    expect(err).toBeInstanceOf(CheckpointFormatError);
    expect(err.message).toMatch(new RegExp(`^${url}: not a readable GGUF file: .* \\[read from the download cache: ${cacheFileOf(dir, url)} for ${url}; the refresh option downloads it again\\]$`));
  });
});
