// Data files given by URL (`xtf experiment --data https://…`, and the GSM8K defaults without ../shared) go
// through the download cache: fetched once, read from the cache after, `--offline` reads only the cache and
// fails at once, naming the cache file, when the copy is not there.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readRecords } from '../../src/cli/defaults.ts';
import { xtf } from '../helpers/cli.ts';

const cache = mkdtempSync(join(tmpdir(), 'xtf-data-cache-'));
const jsonl = Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `Q${i}: 2 + ${i} =`, completion: ` ${2 + i}` })).join('\n') + '\n';
let server: Server;
let base = '';
let hits = 0;
const previous = process.env.XTF_CACHE_DIR;

beforeAll(async () => {
  process.env.XTF_CACHE_DIR = cache; // read by defaultCacheDir() here and by the child processes
  server = createServer((req, res) => {
    hits++;
    if (req.url === '/train.jsonl') res.writeHead(200, { 'Content-Type': 'application/jsonl', 'Content-Length': Buffer.byteLength(jsonl) }).end(jsonl);
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  if (previous === undefined) delete process.env.XTF_CACHE_DIR;
  else process.env.XTF_CACHE_DIR = previous;
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
  rmSync(cache, { recursive: true, force: true });
});

describe('data by URL', () => {
  it('offline before the first download: xtf experiment fails at once, naming the cache file it looked for', async () => {
    const url = `${base}/train.jsonl`;
    const cacheFile = join(cache, createHash('sha256').update(url).digest('hex'));
    const r = await xtf('experiment', '--data', url, '--filters', 'normal', '--seeds', '0', '--offline', '--out', join(cache, 'never'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(url);
    expect(r.stderr).toContain(cacheFile);
    expect(r.stderr).toMatch(/offline/);
    expect(hits).toBe(0);
  });

  it('is fetched once, then read from the cache; offline reads the cache', async () => {
    const url = `${base}/train.jsonl`;
    const first = await readRecords(url);
    expect(first).toHaveLength(6);
    expect(hits).toBe(1);
    expect(await readRecords(url)).toEqual(first);
    expect(hits).toBe(1);
    expect(await readRecords(url, { offline: true })).toEqual(first);
    expect(await readRecords(url, { refresh: true })).toEqual(first);
    expect(hits).toBe(2);
    await expect(readRecords(`${base}/missing.jsonl`)).rejects.toThrow(/HTTP 404/);
  });
});
