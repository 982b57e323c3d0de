// The `xtf` command as a user runs it (a child process through bin/xtf.mjs).
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';
import { reference } from '../model/stories260k.ts';

const MODEL = '../shared/models/stories260K/stories260K.bin';


describe('xtf CLI', () => {
  it('logprobs prints the reference log-probabilities as JSON', async () => {
    const c = reference.cases[1];
    const r = await xtf('logprobs', '--model', MODEL, '--text', c.text);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { tokens: number[]; logprobs: number[] };
    expect(out.tokens).toEqual(c.tokens);
    out.logprobs.forEach((lp, i) => expect(Math.abs(lp - c.next_token_logprobs[i])).toBeLessThan(1e-4));
  });

  it('generate --temperature 0 continues like llama2.c', async () => {
    const r = await xtf('generate', '--model', MODEL, '--prompt', 'Once upon a time', '--max-tokens', '30', '--temperature', '0', '--json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { text: string; generated: number };
    expect(out.generated).toBe(30);
    expect(reference.greedy.text.startsWith(out.text)).toBe(true);
  });

  it('says what is wrong with bad input', async () => {
    const missing = await xtf('logprobs', '--text', 'hi');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/usage: xtf logprobs/);
    const nofile = await xtf('logprobs', '--model', 'no/such/model.bin', '--text', 'hi');
    expect(nofile.code).toBe(1);
    expect(nofile.stderr).toMatch(/no\/such\/model\.bin.*does not exist/);
    const badFlag = await xtf('logprobs', '--modle', MODEL);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/xtf logprobs: Unknown option '--modle'.*\n\(xtf logprobs --help lists the options\)/s);
    const unknown = await xtf('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
  });
});
