import { parseArgs } from 'node:util';
import { readRecordsFile } from '../data/files-fs.ts';
import { taskExamples } from '../data/tasks.ts';
import { EVAL_TASKS, evaluateHeldOutLoss, evaluateTask, type EvalTask } from '../eval/metrics.ts';
import { MODEL_OPTIONS, MODEL_USAGE, openModel } from './model-args.ts';
import { progressLine } from './progress.ts';
import { writeFileAtomic } from './score-io.ts';

const USAGE = `usage: xtf eval --model M [--adapter DIR] --task gsm8k|pubmedqa|medqa --data FILE [--limit N] [--max-new-tokens N] [--json] [--out FILE]

Evaluates a model (optionally with a LoRA adapter) on a task file: the held-out loss and perplexity over the
answer tokens (teacher-forced), then the task accuracy of greedy generations (GSM8K: exact match of the final
number; PubMedQA: yes/no/maybe; MedQA: the option letter).
${MODEL_USAGE}
  --task T             gsm8k | pubmedqa | medqa
  --data FILE          the task's file (e.g. ../shared/data/gsm8k/test.jsonl, pubmedqa/ori_pqal.json)
  --limit N            evaluate only the first N examples
  --max-new-tokens N   tokens generated per example (default 256)
  --batch-size N       examples per forward pass for the loss (default 4)
  --no-generate        only the held-out loss and perplexity
  --out FILE           write one JSON line per example (id, target, predicted, correct, output), atomically
  --json               print the result as JSON on stdout`;

export async function evalCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...MODEL_OPTIONS,
      task: { type: 'string' },
      data: { type: 'string' },
      limit: { type: 'string' },
      'max-new-tokens': { type: 'string', default: '256' },
      'batch-size': { type: 'string', default: '4' },
      'no-generate': { type: 'boolean' },
      out: { type: 'string', short: 'o' },
      json: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!values.model || !values.task || !values.data) {
    console.error(USAGE);
    return 2;
  }
  const task = values.task as EvalTask;
  if (!EVAL_TASKS.includes(task)) throw new RangeError(`--task must be one of ${EVAL_TASKS.join(', ')}, got '${values.task}'`);
  const whole = (v: string | undefined, name: string, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be a whole number >= ${min}, got '${v}'`);
    return n;
  };
  const limit = whole(values.limit, 'limit', 1);
  const maxNewTokens = whole(values['max-new-tokens'], 'max-new-tokens', 1)!;
  const batchSize = whole(values['batch-size'], 'batch-size', 1)!;

  const all = taskExamples(task, readRecordsFile(values.data), values.data);
  const examples = limit === undefined ? all : all.slice(0, limit);
  if (examples.length === 0) throw new RangeError(`${values.data} has no examples`);

  const m = await openModel(values);
  try {
    const t0 = performance.now();
    const loss = await evaluateHeldOutLoss(m.model, m.tokenizer, examples, { batchSize });
    const lossSeconds = (performance.now() - t0) / 1000;
    let result: Awaited<ReturnType<typeof evaluateTask>> | null = null;
    let genSeconds = 0;
    if (!values['no-generate']) {
      const progress = progressLine(`eval ${task}`, 'examples');
      const t1 = performance.now();
      let correct = 0;
      result = await evaluateTask(m.model, m.tokenizer, examples, {
        task,
        maxNewTokens,
        onProgress: (done, total, last, tokens) => {
          if (last.correct) correct++;
          const s = (performance.now() - t1) / 1000;
          progress.update(done, total, tokens / Math.max(s, 1e-9), (s / done) * (total - done), `${correct} correct`);
        },
      });
      progress.done();
      genSeconds = (performance.now() - t1) / 1000;
      if (values.out) await writeFileAtomic(values.out, result.perExample.map((r) => JSON.stringify(r) + '\n').join(''));
    }
    const summary = {
      task,
      data: values.data,
      examples: examples.length,
      loss: loss.loss,
      perplexity: loss.perplexity,
      lossTokens: loss.tokens,
      truncatedExamples: loss.truncatedExamples,
      ...(result ? { accuracy: result.accuracy, correct: result.correct, total: result.total, maxNewTokens, parsed: result.perExample.filter((r) => r.predicted !== null).length, promptsTruncated: result.perExample.filter((r) => r.promptTruncated > 0).length } : {}),
      seconds: { loss: round(lossSeconds), generation: round(genSeconds) },
      ...(values.out && result ? { out: values.out } : {}),
    };
    if (values.json) console.log(JSON.stringify(summary));
    else {
      console.log(`task        ${task} (${examples.length} examples from ${values.data})`);
      console.log(`loss        ${loss.loss.toFixed(4)} nats/token over ${loss.tokens} answer tokens${loss.truncatedExamples ? ` (${loss.truncatedExamples} examples cut to the context)` : ''}`);
      console.log(`perplexity  ${loss.perplexity.toFixed(3)}`);
      if (result) {
        console.log(`accuracy    ${(100 * result.accuracy).toFixed(1)}% (${result.correct}/${result.total}; an answer parsed in ${summary.parsed}/${result.total})`);
        if (summary.promptsTruncated) console.log(`            ${summary.promptsTruncated} prompts lost their start to fit the context with --max-new-tokens ${maxNewTokens}`);
        if (values.out) console.log(`per-example ${values.out}`);
      }
    }
  } finally {
    m.release();
  }
  return 0;
}

const round = (s: number) => Math.round(s * 100) / 100;
