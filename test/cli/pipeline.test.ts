// The main job on a tiny slice: it is the experiment with two filters and one seed; both runs train, the
// report (saying the reported set chose nothing) and the heatmap page are written.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';

describe('xtf pipeline (npm start)', () => {
  it('scores, trains with and without the XTF mask, and writes the comparison report', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'xtf-pipeline-')), 'run');
    const r = await xtf('pipeline', '--examples', '10', '--held-out-examples', '4', '--epochs', '1', '--batch-size', '4', '--accuracy-examples', '2', '--max-new-tokens', '8', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| Normal \(all label tokens\) \| 1 \| 0\.0% \|/);
    expect(r.stdout).toMatch(/\| XTF \(RI ∪ KN ∪ TR\) \| 1 \|/);
    expect(r.stdout).toContain('took no part in choosing');
    // The default rules, named: the authors' released code, its caps, and the task's domain words.
    expect(r.stdout).toContain("XTF (released rules (the authors' code): at most RI 5%, KN 10%, TR 5% of each answer; TR domain: gsm8k's default words 1 2 3 4 5 6 7 8 9 10 + - * / = maths (16)) masks");
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('href="xtf-scores.html"');
    expect(html).toContain('chose nothing');
    const scoresPage = readFileSync(join(out, 'xtf-scores.html'), 'utf8');
    expect(scoresPage).toContain('XTF token scores');
    expect(scoresPage).toContain('Rules: <b>released</b>');
    const lines = readFileSync(join(out, 'scores.jsonl'), 'utf8').trim().split('\n');
    expect(lines.length).toBe(10);
    const settings = JSON.parse(readFileSync(join(out, 'experiment.json'), 'utf8'));
    expect(settings.filters).toEqual(['normal', 'xtf']);
    expect(settings.seeds).toEqual([0]);
    // 10 examples, one validates (validationFraction 0.1): both runs train on the other 9 for the same steps.
    for (const f of ['normal', 'xtf']) {
      const run = JSON.parse(readFileSync(join(out, `runs/${f}.seed0.json`), 'utf8'));
      expect(run.steps).toBe(3);
      expect(run.heldOutLoss).toBeLessThan(run.heldOutBefore);
    }
  }, 300_000); // the whole main job in small: ~30 s alone, several times that beside other suites on 2 cores
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
