// `npm run bench:xtf-noise`: the controlled XTF verification (test/xtf/controlled-noise.test.ts) on more
// examples. TinyStories passages with injected noise (src/xtf/noise.ts) are scored once with stories260K
// and XTF under the PAPER's rules (its thresholds are what this bench probes; the released rules' per-answer
// caps are compared on injected noise by `xtf experiment`'s precision / recall columns); the table gives, per noise kind, the precision / recall of each attribute's flags
// and of their union, and the clean tokens' flag rate. Then each attribute alone (a re-selection: the
// thresholds do not depend on which attributes are on, so no rescoring), and RI with smaller fence
// constants r (a sensitivity check: with r = 1 the per-example fence can lie below every score).
// Writes the tables to test-output/xtf-noise-bench.md. Last line: one JSON object.
//   npm run bench:xtf-noise [-- --examples 300 --seed 0 --rate 0.12 --chars 500 --batch 8]
import { exampleRecord } from '../src/data/records.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Runtime } from '../src/gpu/index.ts';
import { parseLlama2cCheckpoint } from '../src/model/llama2c.ts';
import { LlamaModel } from '../src/model/llama.ts';
import { parseLlama2cTokenizer } from '../src/model/tokenizer-llama2c.ts';
import { formatNoiseTable, noiseMetric, noiseTable, noisyDataset, type NoiseRow } from '../src/xtf/noise.ts';
import { xtfOptions } from '../src/xtf/options.ts';
import { scoreExamples } from '../src/xtf/score.ts';
import { reselect } from '../src/xtf/select.ts';

const { values: args } = parseArgs({
  options: {
    examples: { type: 'string', default: '300' },
    seed: { type: 'string', default: '0' },
    rate: { type: 'string', default: '0.12' },
    chars: { type: 'string', default: '500' },
    batch: { type: 'string', default: '8' },
  },
});
const SHARED = new URL('../../shared/', import.meta.url);
const OUTPUT = new URL('../test-output/', import.meta.url);
const read = (path: string) => new Uint8Array(readFileSync(new URL(path, SHARED)));

const examples = noisyDataset(readFileSync(new URL('data/tinystories/sample.txt', SHARED), 'utf8'), {
  examples: Number(args.examples), seed: Number(args.seed), rate: Number(args.rate), maxCompletionChars: Number(args.chars),
});
const weights = parseLlama2cCheckpoint(read('models/stories260K/stories260K.bin'), { name: 'stories260K.bin' });
const tokenizer = parseLlama2cTokenizer(read('models/stories260K/tok512.bin'), { name: 'tok512.bin', vocabSize: 512 });
const rt = await Runtime.create();
const model = LlamaModel.fromWeights(rt, weights);
const xtf = xtfOptions({ rules: 'paper', batchSize: Number(args.batch) });

const t0 = performance.now();
const { scored, summary } = await scoreExamples(model, tokenizer, examples.map(exampleRecord), {
  xtf,
  onProgress: (p) => process.stderr.write(`\r${p.examplesDone}/${p.examples} examples, ${Math.round(p.tokensPerSecond)} tokens/s   `),
});
const seconds = (performance.now() - t0) / 1000;
process.stderr.write('\n');
model.release();
await rt.sync();
rt.destroy();

const rows = noiseTable(scored, examples, xtf.kn.threshold);
const fences = Object.values(summary.thresholds!.riFences).filter((f): f is number => f !== null);
const head = `XTF (paper rules), stories260K, ${examples.length} TinyStories examples (seed ${args.seed}, rate ${args.rate}, ${args.chars}-char completions): ` +
  `${summary.labelTokens} label tokens, scored in ${seconds.toFixed(1)} s, ${Math.round(summary.tokensPerSecond)} tokens/s`;
const main = formatNoiseTable(rows, head);

// Each attribute alone, and RI with smaller r: the union (the mask) per group.
const f2 = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(2));
const variants: { name: string; rows: NoiseRow[] }[] = [
  { name: 'all (defaults)', rows },
  ...(['ri', 'kn', 'tr'] as const).map((a) => ({
    name: `${a} alone`,
    rows: noiseTable(reselect(scored, xtfOptions({ ...xtf, attributes: { ri: a === 'ri', kn: a === 'kn', tr: a === 'tr' } })), examples, xtf.kn.threshold),
  })),
  ...[0.5, 0].map((r) => ({
    name: `ri alone, r = ${r}`,
    rows: noiseTable(reselect(scored, xtfOptions({ ...xtf, ri: { fenceR: r }, attributes: { ri: true, kn: false, tr: false } })), examples, xtf.kn.threshold),
  })),
];
// A sanity check of the re-selection: "a alone" masks exactly what a flags under the defaults.
for (const v of variants.slice(1, 4)) {
  const a = v.name.slice(0, 2) as 'ri' | 'kn' | 'tr';
  v.rows.forEach((r, k) => {
    const want = rows[k].counts[a], got = r.counts.union;
    if (want.flaggedNoise !== got.flaggedNoise || want.flaggedClean !== got.flaggedClean) throw new Error(`${v.name}: mask differs from the ${a} flags under the defaults`);
  });
}
const groups = rows.map((r) => r.group);
const ablation = [
  '**Masked tokens (union of the enabled attributes), precision / recall per group; last row: clean-token flag rate over all examples**',
  '',
  `| group | ${variants.map((v) => v.name).join(' | ')} |`,
  `|---|${variants.map(() => '--:').join('|')}|`,
  ...groups.filter((g) => g !== 'clean').map((g) =>
    `| ${g} | ${variants.map((v) => { const m = noiseMetric(v.rows.find((r) => r.group === g)!.counts.union); return `${f2(m.precision)} / ${f2(m.recall)}`; }).join(' | ')} |`),
  `| clean FPR | ${variants.map((v) => `${(100 * noiseMetric(v.rows.find((r) => r.group === 'all')!.counts.union).fpr).toFixed(1)}%`).join(' | ')} |`,
].join('\n');
const notes = `RI fences (r = ${xtf.ri.fenceR}): ${fences.length} examples, from ${Math.min(...fences).toExponential(2)} to ${Math.max(...fences).toExponential(2)}` +
  ` (${fences.filter((f) => f > 0).length} positive); TR cuts ${summary.thresholds!.trCuts.map((c) => c.toFixed(3)).join(', ')}; ` +
  `masked ${(100 * summary.fractionMasked).toFixed(1)}% of label tokens.`;
const text = `${main}\n\n${ablation}\n\n${notes}\n`;
console.log(text);
mkdirSync(OUTPUT, { recursive: true });
writeFileSync(new URL('xtf-noise-bench.md', OUTPUT), text);
console.log(JSON.stringify({
  examples: examples.length, labelTokens: summary.labelTokens, seconds: +seconds.toFixed(2), tokensPerSecond: Math.round(summary.tokensPerSecond),
  union: Object.fromEntries(rows.map((r) => [r.group, noiseMetric(r.counts.union)])),
}));
