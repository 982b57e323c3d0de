// `xtf experiment` as a user runs it: a tiny grid on real GSM8K problems with noise injected into the
// training answers, written to a folder; the same command again resumes instead of retraining.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';

const GSM8K = '../shared/data/gsm8k/test.jsonl';

describe('xtf experiment', () => {
  it('explains itself and refuses bad flags with the flag named', async () => {
    const help = await xtf('experiment', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: xtf experiment');
    const taskOnly = await xtf('experiment', '--task', 'gsm8k');
    expect(taskOnly.code).toBe(1);
    expect(taskOnly.stderr).toMatch(/--task needs --data/);
    const badTask = await xtf('experiment', '--data', GSM8K, '--task', 'trivia');
    expect(badTask.stderr).toMatch(/--task must be one of gsm8k, pubmedqa, medqa, mbpp/);
    const badLr = await xtf('experiment', '--lr', 'abc');
    expect(badLr.stderr).toMatch(/--lr must be a number, got 'abc'/);
    const badTargets = await xtf('experiment', '--targets', 'q_proj,foo');
    expect(badTargets.stderr).toMatch(/--targets: unknown target 'foo'; the targets are q_proj, k_proj/);
    const badFilter = await xtf('experiment', '--filters', 'xtf,magic');
    expect(badFilter.stderr).toMatch(/unknown filter 'magic'/);
    const badSeeds = await xtf('experiment', '--seeds', '1,x');
    expect(badSeeds.stderr).toMatch(/--seeds must be/);
  });

  it('runs a grid on a task file with injected noise, writes the results, and resumes', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'xtf-experiment-')), 'exp');
    const args = ['experiment', '--data', GSM8K, '--task', 'gsm8k', '--examples', '8', '--held-out-examples', '3', '--reference-examples', '4',
      '--noise-rate', '0.2', '--filters', 'normal,tc,oracle', '--seeds', '1', '--epochs', '1', '--batch-size', '4', '--eval-every', '0',
      '--reference-epochs', '1', '--accuracy-examples', '1', '--max-new-tokens', '8', '--out', out];
    const first = await xtf(...args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/\| Normal \(all label tokens\) \| 1 \| 0\.0% \|/);
    expect(first.stdout).toMatch(/\| Oracle \(injected noise masked\) \| 1 \| [1-9]\d*\.\d% \|.* 100\.0% \| 0\.0% \|/);
    expect(first.stdout).toMatch(/\| Token Cleaning \(top 60%\) \| 1 \| 4\d\.\d% \|/);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.runs.map((r: { filter: string }) => r.filter)).toEqual(['normal', 'tc', 'oracle']);
    expect(results.data).toMatchObject({ train: 8, heldOut: 3, reference: 4 });
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain('<svg');
    expect(existsSync(join(out, 'adapters/normal.seed0/adapter_config.json'))).toBe(true);
    expect(existsSync(join(out, 'reference-adapter/adapter_model.safetensors'))).toBe(true);

    const again = await xtf(...args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('normal.seed0: done in an earlier session');
    expect(again.stderr).not.toMatch(/run \d+\/\d+ \w+\.seed0: \d+\/\d+ steps/);
    const changed = await xtf(...args.map((a) => (a === '0.2' ? '0.3' : a)));
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/other settings \(data, examples differ\)/);
  });
});

describe('xtf experiment and xtf eval on a user\'s own prompt/completion data (no task)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtf-own-data-'));
  const lines = readFileSync(GSM8K, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { question: string; answer: string });
  const write = (name: string, rows: typeof lines) => {
    const path = join(dir, name);
    writeFileSync(path, rows.map((r) => JSON.stringify({ prompt: `${r.question}\n`, completion: r.answer })).join('\n') + '\n');
    return path;
  };
  const train = write('my.jsonl', lines.slice(0, 10));
  const test = write('my-test.jsonl', lines.slice(100, 104));

  it('compares normal and XTF on it and reports loss without a task', async () => {
    const out = join(dir, 'exp');
    const r = await xtf('experiment', '--data', train, '--held-out', test, '--filters', 'normal,xtf', '--seeds', '1', '--epochs', '1', '--batch-size', '4', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| Normal \(all label tokens\) \| 1 \| 0\.0% \|/);
    expect(r.stdout).toMatch(/\| XTF \(RI ∪ KN ∪ TR\) \| 1 \|/);
    expect(r.stdout).not.toMatch(/accuracy/);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.config.task).toBeNull();
    expect(results.data).toMatchObject({ train: 10, heldOut: 4, reference: 0 });
    for (const run of results.runs) expect(run.accuracy).toBeNull();
  });

  it('evaluates held-out loss and perplexity on it without a task', async () => {
    const r = await xtf('eval', '--model', '../shared/models/stories260K/stories260K.bin', '--data', test, '--no-generate', '--json');
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ task: null, examples: 4 });
    expect(j.perplexity).toBeCloseTo(Math.exp(j.loss), 6);
    expect(j.accuracy).toBeUndefined();
  });

  it('names the file, line and field of a bad record on these paths', async () => {
    const bad = join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"prompt": "a", "completion": "b"}\n{"prompt": "a", "completion": 7}\n');
    const e = await xtf('eval', '--model', '../shared/models/stories260K/stories260K.bin', '--data', bad, '--no-generate');
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/bad\.jsonl:2: field 'completion': expected a string, got 7/);
    const x = await xtf('experiment', '--data', bad, '--filters', 'normal', '--seeds', '1', '--out', join(dir, 'bad-exp'));
    expect(x.code).toBe(1);
    expect(x.stderr).toMatch(/bad\.jsonl:2: field 'completion': expected a string, got 7/);
  });
});
