// `xtf eval` as a user runs it.
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';

const MODEL = '../shared/models/stories260K/stories260K.bin';
const GSM8K = '../shared/data/gsm8k/test.jsonl';

describe('xtf eval', () => {
  it('prints loss, perplexity and accuracy on 2 examples and writes per-example JSONL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xtf-eval-'));
    const out = join(dir, 'eval.jsonl');
    const r = await xtf('eval', '--model', MODEL, '--task', 'gsm8k', '--data', GSM8K, '--limit', '2', '--max-new-tokens', '16', '--json', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, number | string>;
    expect(s).toMatchObject({ task: 'gsm8k', examples: 2, total: 2, maxNewTokens: 16 });
    expect(s.loss as number).toBeGreaterThan(0);
    expect(s.perplexity as number).toBeCloseTo(Math.exp(s.loss as number), 3);
    expect(s.accuracy).toBe((s.correct as number) / 2);
    expect(r.stderr).toMatch(/eval gsm8k: 2\/2 examples .*ETA/);
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; target: string; correct: boolean; output: string });
    expect(lines.map((l) => l.id)).toEqual(['gsm8k-0', 'gsm8k-1']);
    expect(lines[0].target).toBe('18');
    expect(readdirSync(dir)).toEqual(['eval.jsonl']);

    const text = await xtf('eval', '--model', MODEL, '--task', 'gsm8k', '--data', GSM8K, '--limit', '1', '--no-generate');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/loss\s+\d+\.\d+ nats\/token/);
    expect(text.stdout).toMatch(/perplexity\s+\d/);
    expect(text.stdout).not.toMatch(/accuracy/);
  });

  it('says what is wrong with bad input', async () => {
    const bad = await xtf('eval', '--model', MODEL, '--task', 'trivia', '--data', GSM8K);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--task must be one of gsm8k, pubmedqa, medqa, mbpp, got 'trivia'/);
    const missing = await xtf('eval', '--model', MODEL);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/usage: xtf eval/);
    const limit = await xtf('eval', '--model', MODEL, '--task', 'gsm8k', '--data', GSM8K, '--limit', 'x');
    expect(limit.code).toBe(1);
    expect(limit.stderr).toMatch(/--limit must be a whole number/);
  });
});
