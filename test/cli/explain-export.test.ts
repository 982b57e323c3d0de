// `xtf explain` and `xtf export` as a user runs them (child processes through bin/xtf.mjs).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';
import { IGNORE_INDEX } from '../../src/xtf/export.ts';
import { fakeScoreFile, toJsonl } from '../xtf/fake-scores.ts';


const dir = mkdtempSync(join(tmpdir(), 'xtf-explain-export-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const { scored, summary } = fakeScoreFile(6);
const scores = join(dir, 'scores.jsonl');
writeFileSync(scores, toJsonl(scored));
writeFileSync(join(dir, 'scores.summary.json'), JSON.stringify(summary)); // as `xtf score` names it
// The same records without a summary beside them, and a copy broken on line 3.
const bare = join(dir, 'bare.jsonl');
writeFileSync(bare, toJsonl(scored));
const broken = join(dir, 'broken.jsonl');
const lines = toJsonl(scored).split('\n');
lines[2] = lines[2].slice(0, 40);
writeFileSync(broken, lines.join('\n'));

const leftovers = (): string[] => readdirSync(dir).filter((f) => f.includes('.tmp-'));

describe('xtf explain', () => {
  it('writes the page beside nothing else and says where', async () => {
    const out = join(dir, 'report.html');
    const [full, ids, noSummary] = await Promise.all([
      xtf('explain', scores, '--html', out, '--examples', '2'),
      xtf('explain', scores, '--html', join(dir, 'ids.html'), '--ids', 'gsm8k-train-3,gsm8k-train-1'),
      xtf('explain', bare, '--html', join(dir, 'bare.html')),
    ]);
    expect(full.code, full.stderr).toBe(0);
    expect(full.stdout).toContain(`wrote ${out} (2 of ${scored.length} examples drawn`);
    const html = readFileSync(out, 'utf8');
    expect(html.match(/<article class="card ex"/g)).toHaveLength(2);
    expect(html).toContain('threshold 0.05');

    expect(ids.code, ids.stderr).toBe(0);
    const order = [...readFileSync(join(dir, 'ids.html'), 'utf8').matchAll(/<article class="card ex" id="ex-([^"]+)"/g)].map((m) => m[1]);
    expect(order).toEqual(['gsm8k-train-3', 'gsm8k-train-1']);

    expect(noSummary.code, noSummary.stderr).toBe(0);
    expect(noSummary.stderr).toMatch(/no summary beside .*bare\.jsonl.*thresholds unknown/);
    expect(readFileSync(join(dir, 'bare.html'), 'utf8')).toContain('Thresholds unknown');
    expect(leftovers()).toEqual([]);
  });

  it('rejects bad input with file:line or a usage message, and writes nothing', async () => {
    const out = join(dir, 'never.html');
    const [bad, unknownId, usage, both] = await Promise.all([
      xtf('explain', broken, '--html', out),
      xtf('explain', scores, '--html', out, '--ids', 'gsm8k-train-0,missing'),
      xtf('explain', scores),
      xtf('explain', scores, '--html', out, '--ids', 'a', '--examples', '2'),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${broken}:3: not valid JSON`);
    expect(unknownId.code).toBe(1);
    expect(unknownId.stderr).toMatch(/no example with id "missing"/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--html is required[\s\S]*usage: xtf explain/);
    expect(both.code).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});

describe('xtf export', () => {
  it('writes hf and axolotl records that keep the mask', async () => {
    const hf = join(dir, 'hf.jsonl'), ax = join(dir, 'axolotl.jsonl');
    const [a, b] = await Promise.all([
      xtf('export', scores, '--format', 'hf', '--out', hf, '--eos-id', '2'),
      xtf('export', scores, '--format', 'axolotl', '--out', ax, '--strip-leading-space'),
    ]);
    expect(a.code, a.stderr).toBe(0);
    const kept = scored.flatMap((e) => e.lossMask.filter((w) => w > 0)).length;
    const labels = scored.flatMap((e) => e.label.filter(Boolean)).length;
    expect(a.stdout).toContain(`${scored.length} examples (hf), ${kept} of ${labels} label tokens kept`);
    const hfRows = readFileSync(hf, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { input_ids: number[]; labels: number[]; attention_mask: number[] });
    expect(hfRows).toHaveLength(scored.length);
    hfRows.forEach((r, k) => {
      const ex = scored[k];
      expect(r.input_ids).toEqual([...ex.tokens, 2]);
      expect(r.labels).toEqual([...ex.tokens.map((t, i) => (ex.lossMask[i] === 0 ? IGNORE_INDEX : t)), 2]);
      expect(r.attention_mask.every((m) => m === 1)).toBe(true);
    });

    expect(b.code, b.stderr).toBe(0);
    const axRows = readFileSync(ax, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(axRows).toHaveLength(scored.length);
    expect(axRows[0].id).toBe('gsm8k-train-0');
    expect(axRows[0].messages[1].content.startsWith('Natalia sold')).toBe(true);
    expect(axRows[0].messages[1].train_detail[0]).toMatchObject({ begin_offset: 0 });
    expect(leftovers()).toEqual([]);
  });

  it('stops at a malformed line with file:line and leaves no output behind', async () => {
    const out = join(dir, 'never.jsonl');
    const [bad, missing, usage, wrongFlag] = await Promise.all([
      xtf('export', broken, '--format', 'hf', '--out', out),
      xtf('export', join(dir, 'nope.jsonl'), '--format', 'hf', '--out', out),
      xtf('export', scores, '--format', 'parquet', '--out', out),
      xtf('export', scores, '--format', 'axolotl', '--out', out, '--eos-id', '2'),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`${broken}:3: not valid JSON`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nope\.jsonl does not exist/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--format must be hf or axolotl/);
    expect(wrongFlag.code).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});
