// `xtf score` end to end on real data: the score file's contract, and bad input stopping with file:line
// before anything is written.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';

const MODEL = '../shared/models/stories260K/stories260K.bin';
const GSM8K = '../shared/data/gsm8k/test.jsonl';


describe('xtf score', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtf-score-'));

  it('writes one line per example with every field, and the summary beside it', async () => {
    const out = join(dir, 's.jsonl');
    const r = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '12', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/masked \d+\.\d% \(/);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.length).toBe(12);
    for (const ex of lines) {
      for (const f of ['id', 'tokens', 'pieces', 'label', 'p', 'ri', 'kn', 'tr', 'flags', 'lossMask']) expect(ex, f).toHaveProperty(f);
      const n = ex.tokens.length;
      for (const f of ['pieces', 'label', 'p', 'ri', 'kn', 'tr', 'flags', 'lossMask']) expect(ex[f].length).toBe(n);
      ex.label.forEach((isLabel: boolean, i: number) => {
        if (!isLabel) {
          expect(ex.p[i]).toBeNull();
          expect(ex.lossMask[i]).toBe(0);
        } else {
          expect(ex.kn[i]).toBeCloseTo(1 - ex.p[i], 6);
          expect(ex.lossMask[i]).toBe(ex.flags[i].length === 0 ? 1 : 0);
        }
      });
    }
    const summary = JSON.parse(readFileSync(join(dir, 's.summary.json'), 'utf8'));
    expect(summary.examples).toBe(12);
    expect(summary.fractionMasked).toBeGreaterThan(0);
    expect(summary.tokensPerSecond).toBeGreaterThan(0);
  });

  it('a baseline writes the same format', async () => {
    const out = join(dir, 'stm.jsonl');
    const r = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '4', '--out', out, '--method', 'stm');
    expect(r.code, r.stderr).toBe(0);
    const ex = JSON.parse(readFileSync(out, 'utf8').split('\n')[0]);
    // STM keeps exactly the label tokens with perplexity <= 2.5, i.e. p >= 0.4.
    ex.label.forEach((l: boolean, i: number) => l && expect(ex.lossMask[i]).toBe(1 / ex.p[i] > 2.5 ? 0 : 1));
  });

  it('Token Cleaning against a reference model keeps the asked fraction; without one it says what to pass', async () => {
    const out = join(dir, 'tc.jsonl');
    const r = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '4', '--out', out, '--method', 'tc', '--reference', MODEL, '--keep', '0.5');
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, 'tc.summary.json'), 'utf8'));
    expect(summary.fractionMasked).toBeCloseTo(0.5, 2);
    const missing = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '2', '--out', out, '--method', 'slm');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/needs a reference model.*--reference/);
  });

  it('stops at a malformed line with file:line and writes nothing', async () => {
    const data = join(dir, 'bad.jsonl');
    writeFileSync(data, '{"prompt": "a", "completion": "b"}\n{"prompt": "a", "completion": 3}\n');
    const out = join(dir, 'never.jsonl');
    const r = await xtf('score', '--model', MODEL, '--data', data, '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${data}:2: field 'completion': expected a string`);
    expect(existsSync(out)).toBe(false);
    writeFileSync(data, '{"prompt": "a", "completion": "b"}\nnot json\n');
    expect((await xtf('score', '--model', MODEL, '--data', data, '--out', out)).stderr).toContain(`${data}:2: not valid JSON`);
  });
});
