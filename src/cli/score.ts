import { parseArgs } from 'node:util';
import { chatOptionsFor } from '../data/chat.ts';
import { readRecordsFile } from '../data/files-fs.ts';
import { toTrainRecords } from '../data/records.ts';
import { SCORE_METHODS, scoreStream, type ScoreMethod } from '../xtf/score.ts';
import { formatSummary } from '../xtf/summary.ts';
import type { LlamaModel } from '../model/llama.ts';
import { loadModel } from '../model/source-fs.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { backendLabel, chooseBackend, loadOnBackend } from '../backend.ts';
import type { Scorable } from '../xtf/scoring-model.ts';
import { baselineOptionsFromFlags, XTF_FLAG_OPTIONS, XTF_USAGE, xtfOptionsFromFlags } from './flag-blocks.ts';
import { MODEL_OPTIONS, MODEL_USAGE, REFERENCE_OPTIONS, REFERENCE_USAGE, openModel, openReference } from './model-args.ts';
import { AtomicLineWriter, prepareOutput, summaryNames, writeFileAtomic } from './score-io.ts';
import { progressLine } from './progress.ts';
import { numberFlag } from './flags.ts';

const USAGE = `usage: xtf score --model M --data D.jsonl --out S.jsonl [--method xtf|stm|slm|tc|random|none] [options]

Scores every label token of the dataset on the GPU (XTF: reasoning importance, knowledge novelty, task
relevance), selects the noisy ones, and writes one JSON line per example (tokens, pieces, label, p, ri, kn,
tr, flags, lossMask) plus S.summary.json. The tokens are exactly those \`xtf train\` trains on (one token
path). Data: any format xtf train reads (text, prompt/completion, messages, alpaca, sharegpt,
question/answer, input_ids/labels).
${MODEL_USAGE}
  --data FILE          the examples (JSONL / JSON / .gz)
  --out FILE           the score file to write (atomically)
  --limit N            score only the first N examples
  --method M           xtf (default), stm, slm, tc (Token Cleaning), random (XTF's masked fraction), none
${REFERENCE_USAGE}
  --seed S             seed for random (default 0)
  --backend B          webgpu (default) or gpujs: gpu.js instead of WebGPU (WebGL in a browser; plain JavaScript
                       in Node, which has no WebGL: slow). Same scores (p within 1e-3, the same masks); f32
                       weights only, so no --adapter, compact --base-dtype or --reference (docs/backends.md)
${XTF_USAGE}`;

export async function scoreCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...MODEL_OPTIONS,
      ...XTF_FLAG_OPTIONS,
      data: { type: 'string' },
      out: { type: 'string', short: 'o' },
      limit: { type: 'string' },
      method: { type: 'string', default: 'xtf' },
      ...REFERENCE_OPTIONS,
      seed: { type: 'string' },
      backend: { type: 'string', default: 'webgpu' },
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
  const limit = numberFlag('limit', values.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`--limit must be a whole number >= 1, got '${values.limit}'`);
  if (values.backend !== 'webgpu' && values.backend !== 'gpujs') throw new RangeError(`--backend must be webgpu or gpujs, got '${values.backend}'`);
  const seed = numberFlag('seed', values.seed) ?? 0;
  const xtf = xtfOptionsFromFlags(values);
  const baselines = baselineOptionsFromFlags(values, seed);
  // Read and check the data before loading anything heavy: a malformed line stops here, nothing written.
  const raw = readRecordsFile(values.data).slice(0, limit ?? Infinity);
  if (raw.length === 0) throw new RangeError(`${values.data} has no records: nothing to score`);
  await prepareOutput(values.out);
  const m = values.backend === 'gpujs' ? await openGpuJsModel(values) : await openModel(values);
  let reference: LlamaModel | undefined;
  try {
    const examples = toTrainRecords(raw, values.data, { chat: chatOptionsFor(m.tokenizer) });
    if (m.rt) reference = await openReference(m.rt, values);
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

/** The model on gpu.js (--backend gpujs), chosen by src/backend.ts like the demo's; what it cannot hold is refused up front. */
async function openGpuJsModel(values: { model?: string; tokenizer?: string; adapter?: string; 'base-dtype'?: string; reference?: string; 'reference-adapter'?: string; refresh?: boolean; offline?: boolean }): Promise<{ rt: null; model: Scorable & { release(): void }; tokenizer: Tokenizer; release(): void }> {
  const dtype = values['base-dtype'];
  const refused = [values.adapter !== undefined && '--adapter', dtype !== undefined && dtype !== 'auto' && dtype !== 'f32' && `--base-dtype ${dtype}`, values.reference !== undefined && '--reference', values['reference-adapter'] !== undefined && '--reference-adapter'].filter(Boolean);
  if (refused.length > 0) throw new RangeError(`--backend gpujs keeps f32 weights and runs no adapter or reference model: drop ${refused.join(', ')}, or score on WebGPU`);
  const backend = await chooseBackend({ skipWebGpu: '--backend gpujs asks for it' });
  const loaded = await loadModel(values.model!, { tokenizer: values.tokenizer, refresh: values.refresh, offline: values.offline });
  const model = await loadOnBackend(backend, loaded.weights);
  console.error(`scoring on ${backendLabel(backend.kind)}`);
  return { rt: null, model, tokenizer: loaded.tokenizer, release: () => model.release() };
}
