// Bad input and interruption, as an ordinary user meets them: no silent wrong result, no hang, nothing
// stale. Each case here once succeeded with a wrong result or left something behind.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';

const MODEL = '../shared/models/stories260K/stories260K.bin';
const dir = mkdtempSync(join(tmpdir(), 'xtf-trust-'));
const gsm8k = readFileSync('../shared/data/gsm8k/train.jsonl', 'utf8').split('\n').filter(Boolean);
const dataA = join(dir, 'a.jsonl'), dataB = join(dir, 'b.jsonl');
writeFileSync(dataA, gsm8k.slice(0, 10).join('\n') + '\n');
writeFileSync(dataB, gsm8k.slice(10, 20).join('\n') + '\n');
const train = (out: string, ...more: string[]) => ['train', '--model', MODEL, '--out', out, '--batch-size', '4', '--lora-rank', '4', '--val-fraction', '0.2', ...more];

describe('--resume continues only the same run', () => {
  const out = join(dir, 'run');

  it('says where it starts, and refuses another run\'s checkpoint naming what differs', async () => {
    const none = await xtf(...train(out, '--data', dataA, '--steps', '1', '--resume'));
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toContain(`no checkpoint in ${join(out, 'checkpoints')}: starting at step 0`);
    const otherData = await xtf(...train(out, '--data', dataB, '--steps', '2', '--resume'));
    expect(otherData.code).toBe(1);
    expect(otherData.stderr).toMatch(/resume: the checkpoint was made with another data \(10 examples, fnv1a [0-9a-f]{8}, this run: 10 examples, fnv1a [0-9a-f]{8}\)/);
    const otherBatch = await xtf(...train(out, '--data', dataA, '--steps', '2', '--resume', '--batch-size', '2'));
    expect(otherBatch.stderr).toMatch(/resume: the checkpoint was made with another batchSize \(4, this run: 2\)/);
    const otherFilter = await xtf(...train(out, '--data', dataA, '--steps', '2', '--resume', '--filter', 'random'));
    expect(otherFilter.stderr).toMatch(/another (data|filter)/);
    const same = await xtf(...train(out, '--data', dataA, '--steps', '2', '--resume'));
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).toContain('resumed from step 1');
    const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train').map((r) => r.step);
    expect(steps).toEqual([1, 2]);
  });

  it('a fresh run into the same folder leaves no old checkpoint for a later --resume', async () => {
    const fresh = await xtf(...train(out, '--data', dataB, '--steps', '1', '--checkpoint-every', '0'));
    expect(fresh.code, fresh.stderr).toBe(0);
    const resumed = await xtf(...train(out, '--data', dataB, '--steps', '2', '--resume'));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resumed from step 1');
  });

  it('Ctrl-C saves a checkpoint and stops; --resume goes on from it with each step once in metrics.jsonl', async () => {
    const killed = join(dir, 'killed');
    const child = spawn('node', ['bin/xtf.mjs', ...train(killed, '--data', dataA, '--epochs', '50', '--checkpoint-every', '0')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/"type":"train"/.test(existsSync(join(killed, 'metrics.jsonl')) ? readFileSync(join(killed, 'metrics.jsonl'), 'utf8') : '') && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/SIGINT: saving a checkpoint after this step/);
    const stoppedAt = Number(/stopped at step (\d+)/.exec(stderr)?.[1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(killed, 'checkpoints', 'train'))).toBe(true);
    const more = await xtf(...train(killed, '--data', dataA, '--epochs', '50', '--steps', String(stoppedAt + 1), '--resume'));
    expect(more.code, more.stderr).toBe(0);
    expect(more.stderr).toContain(`resumed from step ${stoppedAt}`);
    const steps = readFileSync(join(killed, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'train').map((r) => r.step);
    expect(steps).toEqual(Array.from({ length: stoppedAt + 1 }, (_, i) => i + 1));
  });
});

describe('a run that goes non-finite stops with an error and writes no adapter', () => {
  it('--lr 1e10', async () => {
    const out = join(dir, 'nan');
    const r = await xtf(...train(out, '--data', dataA, '--steps', '4', '--lr', '1e10'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NonFiniteLossError: step \d+: the (loss|gradient norm|validation loss) is (NaN|Infinity|-Infinity) \(not a finite number\)/);
    expect(r.stderr).toMatch(/Try a lower learning rate/);
    expect(existsSync(join(out, 'adapter'))).toBe(false);
  });

  it('a score file whose token ids are outside the model\'s vocabulary is refused at its line', async () => {
    const scores = join(dir, 'scores.jsonl');
    const s = await xtf('score', '--model', MODEL, '--data', dataA, '--limit', '2', '--out', scores, '--method', 'none');
    expect(s.code, s.stderr).toBe(0);
    const lines = readFileSync(scores, 'utf8').trim().split('\n');
    const ex = JSON.parse(lines[1]);
    ex.tokens[3] = 4000;
    writeFileSync(scores, [lines[0], JSON.stringify(ex)].join('\n') + '\n');
    const r = await xtf('train', '--model', MODEL, '--scores', scores, '--out', join(dir, 'bad-ids'), '--steps', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/scores\.jsonl:2: example .*token id 4000 \(position 3\) is outside this model's vocabulary 0\.\.511/);
  });
});

describe('bad flags fail before anything is read or written', () => {
  it('xtf train', async () => {
    for (const [flag, value, message] of [['--lr', 'abc', /--lr must be a number, got 'abc'/], ['--schedule', 'bogus', /--schedule must be one of cosine, constant, got 'bogus'/],
      ['--targets', 'foo', /--targets: unknown target 'foo'; the targets are q_proj, k_proj/], ['--checkpoint-every', '-1', /--checkpoint-every must be a whole number/]] as const) {
      const out = join(dir, `flag${flag}`);
      const r = await xtf(...train(out, '--data', dataA, `${flag}=${value}`));
      expect(r.code, flag).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(existsSync(out), `${flag} made ${out}`).toBe(false);
    }
    const empty = join(dir, 'empty-train.jsonl');
    writeFileSync(empty, '');
    const nothing = await xtf(...train(join(dir, 'empty-run'), '--data', empty));
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/empty-train\.jsonl has no example with a label token to train on/);
    expect(existsSync(join(dir, 'empty-run'))).toBe(false);
  });

  it('xtf score', async () => {
    const out = join(dir, 'flags.jsonl');
    const attributes = await xtf('score', '--model', MODEL, '--data', dataA, '--out', out, '--attributes', 'foo');
    expect(attributes.stderr).toMatch(/--attributes must list some of ri, kn, tr, got 'foo'/);
    const limit = await xtf('score', '--model', MODEL, '--data', dataA, '--out', out, '--limit=-1');
    expect(limit.stderr).toMatch(/--limit must be a whole number >= 1, got '-1'/);
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '');
    const nothing = await xtf('score', '--model', MODEL, '--data', empty, '--out', out);
    expect(nothing.stderr).toMatch(/empty\.jsonl has no records: nothing to score/);
    const nowhere = await xtf('score', '--model', MODEL, '--data', dataA, '--out', join(dir, 'no-such-folder', 's.jsonl'));
    expect(nowhere.stderr).toMatch(/cannot write .*s\.jsonl: the folder .*no-such-folder does not exist or is not writable/);
    for (const r of [attributes, limit, nothing, nowhere]) expect(r.code).toBe(1);
    expect(existsSync(out)).toBe(false);
  });
});

describe('a killed xtf score leaves no temporary file', () => {
  it('removes its own on SIGTERM and a stale one at the next start', async () => {
    const out = join(dir, 'killed-scores.jsonl');
    writeFileSync(`${out}.tmp-0123456789ab`, 'left by a harder kill');
    const many = join(dir, 'many.jsonl');
    writeFileSync(many, gsm8k.slice(0, 400).join('\n') + '\n');
    const child = spawn('node', ['bin/xtf.mjs', 'score', '--model', MODEL, '--data', many, '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => /scoring/.test(d.toString()) && !child.killed && child.kill('SIGTERM'));
      child.on('exit', (c) => resolve(c));
    });
    expect(code).toBe(143);
    expect(readdirSync(dir).filter((f) => f.startsWith('killed-scores.jsonl'))).toEqual([]);
  });
});
