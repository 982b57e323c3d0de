// `xtf train` end to end: data in, PEFT adapter + metrics out, the adapter usable by `xtf generate`,
// and a stopped run resumed with --resume.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';

const MODEL = '../shared/models/stories260K/stories260K.bin';

describe('xtf train', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtf-train-'));
  const data = join(dir, 'gsm8k-20.jsonl');
  writeFileSync(data, readFileSync('../shared/data/gsm8k/train.jsonl', 'utf8').split('\n').slice(0, 20).join('\n'));

  it('trains LoRA on XTF-filtered data, writes a PEFT adapter that generate loads, and resumes', async () => {
    const out = join(dir, 'run');
    const common = ['train', '--model', MODEL, '--data', data, '--filter', 'xtf', '--out', out, '--batch-size', '4', '--lr', '3e-3', '--lora-rank', '4', '--val-fraction', '0.2'];
    const first = await xtf(...common, '--steps', '2');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/xtf: masked \d+\.\d% of \d+ label tokens/);
    const second = await xtf(...common, '--steps', '4', '--resume');
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^4 steps \(steps\), best validation loss/m);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const steps = metrics.filter((r) => r.type === 'train').map((r) => r.step);
    expect(steps).toEqual([1, 2, 3, 4]); // the resumed run continued at step 3
    expect(existsSync(join(out, 'adapter', 'adapter_config.json'))).toBe(true);
    const g = await xtf('generate', '--model', MODEL, '--adapter', join(out, 'adapter'), '--prompt', 'Natalia sold', '--max-tokens', '8', '--temperature', '0', '--json');
    expect(g.code, g.stderr).toBe(0);
    expect(JSON.parse(g.stdout).generated).toBeGreaterThan(0);
  });

  it('trains with online SLM against a reference model, and says what it needs without one', async () => {
    const out = join(dir, 'online');
    const args = ['train', '--model', MODEL, '--data', data, '--filter', 'slm-online', '--out', out, '--batch-size', '4', '--lora-rank', '4', '--val-fraction', '0.2', '--steps', '2'];
    const r = await xtf(...args, '--reference', MODEL);
    expect(r.code, r.stderr).toBe(0);
    // Each step keeps floor(60%) of its label tokens.
    const masked = Number(/slm-online: masked (\d+\.\d)% of (\d+) label tokens/.exec(r.stderr)?.[1]);
    expect(masked).toBeGreaterThanOrEqual(40);
    expect(masked).toBeLessThan(42);
    expect(existsSync(join(out, 'adapter', 'adapter_config.json'))).toBe(true);
    const missing = await xtf(...args);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/slm-online needs a reference model.*--reference/);
  });

  it('trains with online XTF: RI / TR fixed from one scoring, KN re-scored at every step', async () => {
    const out = join(dir, 'xtf-online');
    const r = await xtf('train', '--model', MODEL, '--data', data, '--filter', 'xtf-online', '--rules', 'released', '--out', out, '--batch-size', '4', '--lora-rank', '4', '--val-fraction', '0.2', '--steps', '2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/xtf-online: released rules over \d+ label tokens: RI \d+\.\d% and TR \d+\.\d% fixed; KN \(\d+\.\d% at the base model\) re-scored at every step/);
    // 2 steps of 4 examples: every label token of those 8 examples is seen once.
    const m = /xtf-online: masked (\d+\.\d)% of (\d+) label tokens seen in training \(RI (\d+\.\d)%, KN (\d+\.\d)%, TR (\d+\.\d)%\)/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThan(100);
    // The released caps (5% RI, 10% KN, 5% TR per answer) bound the union.
    expect(Number(m![1])).toBeLessThanOrEqual(20);
    expect(r.stdout).toMatch(/^2 steps \(steps\), best validation loss/m);
    expect(existsSync(join(out, 'adapter', 'adapter_config.json'))).toBe(true);
    const usage = await xtf('train', '--help');
    expect(usage.stdout).toMatch(/xtf-online scores once with XTF/);
  });

  it('refuses contradictory inputs', async () => {
    const r = await xtf('train', '--model', MODEL, '--data', data, '--scores', data, '--out', join(dir, 'x'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/give --data or --scores, not both/);
  });
});

describe('xtf train limits', () => {
  it('refuses a batch the device cannot bind before allocating it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'xtf-train-limit-'));
    const data = join(dir, 'one.jsonl');
    writeFileSync(data, JSON.stringify({ prompt: 'Once upon a time', completion: ' there was a cat.' }) + '\n');
    // 5M rows of 512-vocab logits exceed the 1 GiB binding limit of the software GPU.
    const r = await xtf('train', '--model', MODEL, '--data', data, '--out', join(dir, 'run'), '--batch-size', '5000000', '--val-fraction', '0');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/LimitExceededError: logits \[\d+, 512\] at batch 5000000 .* needs maxStorageBufferBindingSize/);
    expect(r.stderr).toMatch(/Use at most \d+ tokens per micro-batch/);
  });
});
