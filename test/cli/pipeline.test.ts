// The main job on a tiny slice: both runs train, the report and the heatmap page are written.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';

describe('xtf pipeline (npm start)', () => {
  it('scores, trains with and without the XTF mask, and writes the comparison report', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'xtf-pipeline-')), 'run');
    const r = await xtf('pipeline', '--examples', '8', '--held-out-examples', '4', '--epochs', '1', '--batch-size', '4', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/normal \(all label tokens\)\s+\d+\.\d{4}\s+\d+\.\d{4}/);
    expect(r.stdout).toMatch(/XTF \(noisy tokens masked\)\s+\d+\.\d{4}\s+\d+\.\d{4}/);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('href="xtf-scores.html"');
    expect(readFileSync(join(out, 'xtf-scores.html'), 'utf8')).toContain('XTF token scores');
    const lines = readFileSync(join(out, 'scores.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBe(8);
    expect(readFileSync(join(out, 'metrics-xtf.jsonl'), 'utf8')).toContain('"type":"end"');
  });
});

describe('xtf bench', () => {
  it('reports bare and pipeline tokens/s with the overhead', async () => {
    const r = await xtf('bench', '--steps', '1', '--batch-size', '2', '--seq-len', '64');
    expect(r.code, r.stderr).toBe(0);
    const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(last.bare_tokens_per_s).toBeGreaterThan(0);
    expect(last.pipeline_tokens_per_s).toBeGreaterThan(0);
    expect(r.stdout).toMatch(/pipeline overhead\s+-?\d+\.\d%/);
  });
});
