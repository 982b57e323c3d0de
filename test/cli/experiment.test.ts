// `xtf experiment` as a user runs it: a tiny grid on real GSM8K problems with noise injected into the
// training answers, written to a folder; the same command again resumes instead of retraining.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
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
    const noTask = await xtf('experiment', '--data', GSM8K);
    expect(noTask.code).toBe(1);
    expect(noTask.stderr).toMatch(/--data needs --task/);
    const badFilter = await xtf('experiment', '--filters', 'xtf,magic');
    expect(badFilter.stderr).toMatch(/unknown filter 'magic'/);
    const badSeeds = await xtf('experiment', '--seeds', '1,x');
    expect(badSeeds.stderr).toMatch(/--seeds must be/);
  });

  it('runs a grid on a task file with injected noise, writes the results, and resumes', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'xtf-experiment-')), 'exp');
    const args = ['experiment', '--data', GSM8K, '--task', 'gsm8k', '--examples', '8', '--held-out-examples', '3', '--reference-examples', '4',
      '--noise-rate', '0.2', '--filters', 'normal,tc,oracle', '--seeds', '1', '--epochs', '1', '--batch-size', '4', '--eval-points', '0',
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
