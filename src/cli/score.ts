import { parseArgs } from 'node:util';
import { parseExamples } from '../data/examples.ts';
import { readDataText } from '../data/files-fs.ts';
import { baselineOptions, xtfOptions } from '../xtf/options.ts';
import { SCORE_METHODS, scoreStream, type ScoreMethod } from '../xtf/score.ts';
import { formatSummary } from '../xtf/summary.ts';
import { LlamaModel } from '../model/llama.ts';
import { MODEL_OPTIONS, MODEL_USAGE, REFERENCE_OPTIONS, REFERENCE_USAGE, openModel, openReference } from './model-args.ts';
import { AtomicLineWriter, summaryNames, writeFileAtomic } from './score-io.ts';
import { progressLine } from './progress.ts';
import { numberFlag } from './flags.ts';

const USAGE = `usage: xtf score --model M --data D.jsonl --out S.jsonl [--method xtf|stm|slm|tc|random|none] [options]

Scores every label token of the dataset on the GPU (XTF: reasoning importance, knowledge novelty, task
relevance), selects the noisy ones, and writes one JSON line per example (tokens, pieces, label, p, ri, kn,
tr, flags, weight) plus S.summary.json. Data: JSONL with prompt/completion (or question/answer,
instruction/input/output).
${MODEL_USAGE}
  --data FILE          the examples (JSONL)
  --out FILE           the score file to write (atomically)
  --limit N            score only the first N examples
  --method M           xtf (default), stm, slm, tc (Token Cleaning), random (XTF's masked fraction), none
${REFERENCE_USAGE}
  --batch-size N       examples per GPU batch (default 8)
  --ri-layers L        all | last | comma list (default all)
  --ri-heads H         mean | max (default mean)
  --ri-queries Q       all | output (default all)
  --ri-r R             Tukey fence constant (default 1.0)
  --kn-threshold T     S_KN threshold (default 0.05)
  --tr-distance D      cosine | euclidean (default cosine)
  --tr-classes K       Multi-Otsu classes (default 3)
  --expert-words W     comma-separated domain words for the TR domain vector
  --attributes A       which attributes take part, e.g. ri,kn (default ri,kn,tr)
  --keep K             keep fraction for slm / tc (default 0.6)
  --seed S             seed for random (default 0)`;

export async function scoreCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...MODEL_OPTIONS,
      data: { type: 'string' },
      out: { type: 'string', short: 'o' },
      limit: { type: 'string' },
      method: { type: 'string', default: 'xtf' },
      ...REFERENCE_OPTIONS,
      'batch-size': { type: 'string' },
      'ri-layers': { type: 'string' },
      'ri-heads': { type: 'string' },
      'ri-queries': { type: 'string' },
      'ri-r': { type: 'string' },
      'kn-threshold': { type: 'string' },
      'tr-distance': { type: 'string' },
      'tr-classes': { type: 'string' },
      'expert-words': { type: 'string' },
      attributes: { type: 'string' },
      keep: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model || !values.data || !values.out) {
    console.error(USAGE);
    return 2;
  }
  const method = values.method as ScoreMethod;
  if (!SCORE_METHODS.includes(method)) throw new RangeError(`--method must be one of ${SCORE_METHODS.join(', ')}, got '${values.method}'`);
  const num = (v: string | undefined, name: string) => numberFlag(name, v);
  const attrs = values.attributes?.split(',').map((s) => s.trim());
  const xtf = xtfOptions({
    batchSize: num(values['batch-size'], 'batch-size'),
    ri: {
      layers: values['ri-layers'] === undefined ? undefined : values['ri-layers'] === 'all' || values['ri-layers'] === 'last' ? values['ri-layers'] : values['ri-layers'].split(',').map(Number),
      headReduction: values['ri-heads'] as 'mean' | 'max' | undefined,
      queries: values['ri-queries'] as 'all' | 'output' | undefined,
      fenceR: num(values['ri-r'], 'ri-r'),
    },
    kn: { threshold: num(values['kn-threshold'], 'kn-threshold') },
    tr: {
      distance: values['tr-distance'] as 'cosine' | 'euclidean' | undefined,
      classes: num(values['tr-classes'], 'tr-classes'),
      expertWords: values['expert-words']?.split(',').map((w) => w.trim()).filter(Boolean),
    },
    attributes: attrs ? { ri: attrs.includes('ri'), kn: attrs.includes('kn'), tr: attrs.includes('tr') } : undefined,
  });
  const keep = num(values.keep, 'keep');
  const baselines = baselineOptions({
    slm: { keepFraction: keep },
    tokenCleaning: { keepFraction: keep },
    random: { seed: num(values.seed, 'seed') },
  });
  // Read and check the data before loading anything heavy: a malformed line stops here, nothing written.
  const examples = parseExamples(readDataText(values.data), values.data, num(values.limit, 'limit') ?? Infinity);
  const m = await openModel(values);
  let reference: LlamaModel | undefined;
  try {
    reference = await openReference(m.rt, values);
    const progress = progressLine('scoring', 'examples');
    // Lines go to a temporary file as examples finish (bounded memory); it is renamed only when all succeeded.
    const out = new AtomicLineWriter(values.out);
    let summary;
    try {
      summary = await scoreStream(
        m.model,
        m.tokenizer,
        examples,
        { method, xtf, baselines, reference, onProgress: (p) => progress.update(p.examplesDone, p.examples, p.tokensPerSecond, p.etaSeconds) },
        (ex) => out.write(JSON.stringify(ex)),
      );
      await out.commit();
    } catch (e) {
      await out.abort();
      throw e;
    }
    progress.done();
    const summaryPath = summaryNames(values.out)[0];
    await writeFileAtomic(summaryPath, JSON.stringify(summary, null, 2) + '\n');
    console.log(formatSummary(summary));
    console.log(`wrote ${values.out} and ${summaryPath}`);
  } finally {
    reference?.release();
    m.release();
  }
  return 0;
}
