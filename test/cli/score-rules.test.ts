// `xtf score --rules released|paper` end to end: the released rules' score file and summary, and the
// XTF block's bad values stopping with the flag's name before anything is read or written.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';
import { parseScoredExample, parseSummary } from '../../src/xtf/scorefile.ts';

const MODEL = '../shared/models/stories260K/stories260K.bin';
const GSM8K = '../shared/data/gsm8k/train.jsonl';

describe('xtf score --rules', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtf-score-rules-'));

  it('--rules released --domain-words 1,2,+ writes the released selection and names rules, caps and words', async () => {
    const out = join(dir, 'released.jsonl');
    const r = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '5', '--out', out, '--rules', 'released', '--domain-words', '1,2,+', '--kn-max', '0.2');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('rules released, caps ri 0.05 kn 0.2 tr 0.05; TR domain: domain words 1 2 + (3)');
    const lines = readFileSync(out, 'utf8').trim().split('\n').map(parseScoredExample);
    expect(lines).toHaveLength(5);
    for (const ex of lines) {
      expect(ex.cuts).toBeDefined();
      expect(ex.cuts!.kn.floor).toBe(0.95);
      ex.label.forEach((l, i) => expect(ex.lossMask[i]).toBe(l && ex.flags[i].length === 0 ? 1 : 0));
    }
    const summary = parseSummary(readFileSync(join(dir, 'released.summary.json'), 'utf8'));
    expect(summary.rules?.rules).toBe('released');
    expect(summary.rules?.caps).toEqual({ ri: 0.05, kn: 0.2, tr: 0.05 });
    expect(summary.rules?.domain).toEqual({ source: 'option', words: ['1', '2', '+'], skipped: [], task: null });
    expect(summary.rules?.released?.tr.thresholds).toHaveLength(4);
    expect(typeof summary.rules?.released?.tr.cut).toBe('number');
    // Every occurrence counts, prompts included: more than the label tokens.
    expect(summary.rules!.released!.tr.occurrences).toBe(lines.reduce((s, ex) => s + ex.tokens.length, 0));
    expect(summary.rules!.released!.tr.occurrences).toBeGreaterThan(summary.labelTokens);
    expect(summary.thresholds).toBeNull();
    // Cuts in the examples agree with the summary's TR cut.
    for (const ex of lines) expect(ex.cuts!.tr.cut).toBe(summary.rules!.released!.tr.cut);
  });

  it("the default (released) names its rules and caps and writes each answer's cuts; --rules paper writes none; --help documents the block", async () => {
    const out = join(dir, 'default.jsonl');
    const r = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '2', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, 'default.summary.json'), 'utf8'));
    expect(summary.rules.rules).toBe('released');
    expect(summary.rules.caps).toEqual({ ri: 0.05, kn: 0.1, tr: 0.05 });
    // No --task: no word list applies, and the summary says the label mean stood in.
    expect(summary.rules.domain).toEqual({ source: 'label-mean fallback', words: null, skipped: [], task: null });
    expect(JSON.parse(readFileSync(out, 'utf8').split('\n')[0])).toHaveProperty('cuts');
    const paperOut = join(dir, 'paper.jsonl');
    const p = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '2', '--rules', 'paper', '--out', paperOut);
    expect(p.code, p.stderr).toBe(0);
    const paper = JSON.parse(readFileSync(join(dir, 'paper.summary.json'), 'utf8'));
    expect(paper.rules).toEqual({ rules: 'paper', caps: null, domain: { source: 'label-mean', words: null, skipped: [], task: null }, released: null });
    expect(JSON.parse(readFileSync(paperOut, 'utf8').split('\n')[0])).not.toHaveProperty('cuts');
    const help = await xtf('score', '--help');
    for (const flag of ['--rules R', 'released | paper (default released)', '--ri-max', '--kn-max', '--tr-max', '--domain-words']) expect(help.stdout).toContain(flag);
  });

  it('bad values stop with the flag and what it accepts, before the data is read and nothing is written', async () => {
    const out = join(dir, 'never.jsonl');
    const cases: [string[], RegExp][] = [
      [['--rules', 'authors'], /--rules must be one of released, paper, got 'authors'/],
      [['--rules', 'released', '--ri-max', '1.5'], /--ri-max must be a share in \[0, 1\], got '1\.5'/],
      [['--rules', 'released', '--kn-max=-0.1'], /--kn-max must be a share in \[0, 1\]/],
      [['--rules', 'released', '--tr-max', 'x'], /--tr-max/],
      [['--rules', 'released', '--domain-words', ' , ,'], /--domain-words is empty: give comma-separated domain words/],
      [['--kn-threshold', '0.1'], /--kn-threshold applies only with --rules paper \(the rules in force are released, the default\)/],
      [['--rules', 'paper', '--ri-max', '0.1'], /--ri-max applies only with --rules released \(the rules in force are paper\)/],
      [['--rules', 'paper', '--domain-words', '1,2'], /--domain-words applies only with --rules released/],
      [['--rules', 'released', '--kn-threshold', '0.1'], /--kn-threshold applies only with --rules paper/],
      [['--rules', 'released', '--expert-words', 'a,b'], /--expert-words applies only with --rules paper/],
    ];
    for (const [flags, message] of cases) {
      // A data file that does not exist: the flag's error must come first.
      const r = await xtf('score', '--model', MODEL, '--data', join(dir, 'missing.jsonl'), '--out', out, ...flags);
      expect(r.code, flags.join(' ')).toBe(1);
      expect(r.stderr, flags.join(' ')).toMatch(message);
      expect(existsSync(out)).toBe(false);
    }
  });
});
