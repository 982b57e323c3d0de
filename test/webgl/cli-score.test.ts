// `xtf score --backend gpujs` as a user runs it: the same score file as the default WebGPU backend (p within
// 1e-3, the same loss masks), and what gpu.js cannot hold (an adapter, a compact base, a reference model)
// refused up front with the flag named. gpu.js runs as JavaScript here (Node has no WebGL), so the sample
// is small.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { xtf } from '../helpers/cli.ts';

const MODEL = '../shared/models/stories260K/stories260K.bin';
const GSM8K = '../shared/data/gsm8k/test.jsonl';

interface Line {
  id: string;
  tokens: number[];
  p: (number | null)[];
  lossMask: number[];
}

const lines = (file: string): Line[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);

describe('xtf score --backend gpujs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xtf-score-gpujs-'));

  it('writes the score file the WebGPU backend writes (p within 1e-3, the same masks) and says it ran on gpu.js', async () => {
    const runs = [];
    for (const backend of ['webgpu', 'gpujs']) {
      const out = join(dir, `${backend}.jsonl`);
      const r = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '6', '--out', out, '--backend', backend);
      expect(r.code, r.stderr).toBe(0);
      runs.push({ r, scored: lines(out), summary: JSON.parse(readFileSync(join(dir, `${backend}.summary.json`), 'utf8')) });
    }
    const [webgpu, gpujs] = runs;
    expect(gpujs.r.stderr).toMatch(/scoring on gpu\.js \(cpu\)/);
    expect(webgpu.r.stderr).not.toMatch(/gpu\.js/);
    expect(gpujs.scored.map((e) => e.id)).toEqual(webgpu.scored.map((e) => e.id));
    let worst = 0, compared = 0;
    webgpu.scored.forEach((ex, e) => {
      const other = gpujs.scored[e];
      expect(other.tokens).toEqual(ex.tokens);
      expect(other.lossMask, ex.id).toEqual(ex.lossMask);
      ex.p.forEach((p, j) => {
        expect(other.p[j] === null, `p of ${ex.id} at ${j}`).toBe(p === null);
        if (p !== null) {
          worst = Math.max(worst, Math.abs(p - other.p[j]!));
          compared++;
        }
      });
    });
    expect(compared).toBeGreaterThan(100);
    expect(worst).toBeLessThan(1e-3);
    expect(webgpu.summary.fractionMasked).toBeGreaterThan(0);
    expect(gpujs.summary.fractionMasked).toBe(webgpu.summary.fractionMasked);
  });

  it('refuses what gpu.js cannot hold, and an unknown backend, before writing anything', async () => {
    const out = join(dir, 'refused.jsonl');
    const compact = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '2', '--out', out, '--backend', 'gpujs', '--base-dtype', 'q8', '--reference', MODEL);
    expect(compact.code).toBe(1);
    expect(compact.stderr).toMatch(/--backend gpujs .*drop --base-dtype q8, --reference/);
    const unknown = await xtf('score', '--model', MODEL, '--data', GSM8K, '--limit', '2', '--out', out, '--backend', 'webgl');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/--backend must be webgpu or gpujs, got 'webgl'/);
    expect(existsSync(out)).toBe(false);
  });
});
