import { parseArgs } from 'node:util';
import { chatOptionsFor } from '../data/chat.ts';
import { readRecordsFile } from '../data/files-fs.ts';
import { exampleRecord, toTrainRecords, type TrainRecord } from '../data/records.ts';
import { taskExamples, type TaskExample, type TaskName } from '../data/tasks.ts';
import { EVAL_TASKS, evaluateHeldOutLoss, evaluateTask, type EvalTask } from '../eval/metrics.ts';
import { MODEL_OPTIONS, MODEL_USAGE, openModel } from './model-args.ts';
import { progressLine } from './progress.ts';
import { writeFileAtomic } from './score-io.ts';

const USAGE = `usage: xtf eval --model M [--adapter DIR] --data FILE [--task gsm8k|pubmedqa|medqa] [--limit N] [--max-new-tokens N] [--json] [--out FILE]

Evaluates a model (optionally with a LoRA adapter) on held-out data: the loss and perplexity over its label
(answer) tokens, teacher-forced and tokenized exactly as xtf train tokenizes them; with --task, also the
accuracy of greedy generations (GSM8K: exact match of the final number; PubMedQA: yes/no/maybe; MedQA: the
option letter).
${MODEL_USAGE}
  --data FILE          held-out data in any format xtf train reads (text, prompt/completion, messages,
                       alpaca, sharegpt, question/answer, input_ids/labels), or with --task the task's file
                       (e.g. ../shared/data/gsm8k/test.jsonl, pubmedqa/ori_pqal.json)
  --task T             gsm8k | pubmedqa | medqa | mbpp: read --data as that task (mbpp: loss only)
  --limit N            evaluate only the first N examples
  --max-new-tokens N   tokens generated per example (default 256)
  --batch-size N       examples per forward pass for the loss (default 4)
  --no-generate        only the held-out loss and perplexity (always so without --task)
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
  if (!values.model || !values.data) {
    console.error(USAGE);
    return 2;
  }
  const TASKS: readonly TaskName[] = ['gsm8k', 'pubmedqa', 'medqa', 'mbpp'];
  const taskName = values.task as TaskName | undefined;
  if (taskName !== undefined && !TASKS.includes(taskName)) throw new RangeError(`--task must be one of ${TASKS.join(', ')}, got '${values.task}'`);
  const task = taskName && (EVAL_TASKS as readonly string[]).includes(taskName) ? (taskName as EvalTask) : null;
  const whole = (v: string | undefined, name: string, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be a whole number >= ${min}, got '${v}'`);
    return n;
  };
  const limit = whole(values.limit, 'limit', 1);
  const maxNewTokens = whole(values['max-new-tokens'], 'max-new-tokens', 1)!;
  const batchSize = whole(values['batch-size'], 'batch-size', 1)!;

  const raw = readRecordsFile(values.data);
  const picked = limit === undefined ? raw : raw.slice(0, limit);
  if (picked.length === 0) throw new RangeError(`${values.data} has no examples`);
  // A task's file reads through its adapter (prompts and checkable answers); anything else as training records.
  const examples: TaskExample[] = taskName ? taskExamples(taskName, picked, values.data) : [];

  const m = await openModel(values);
  try {
    const records: TrainRecord[] = taskName ? examples.map(exampleRecord) : toTrainRecords(picked, values.data, { chat: chatOptionsFor(m.tokenizer) });
    const t0 = performance.now();
    const loss = await evaluateHeldOutLoss(m.model, m.tokenizer, records, { batchSize });
    const lossSeconds = (performance.now() - t0) / 1000;
    let result: Awaited<ReturnType<typeof evaluateTask>> | null = null;
    let genSeconds = 0;
    if (!values['no-generate'] && task) {
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
      task: taskName ?? null,
      data: values.data,
      examples: records.length,
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
      console.log(`data        ${values.data} (${records.length} examples${taskName ? `, task ${taskName}` : ''})`);
      console.log(`loss        ${loss.loss.toFixed(4)} nats/token over ${loss.tokens} label tokens of ${loss.examples} examples${loss.truncatedExamples ? ` (${loss.truncatedExamples} cut to the context)` : ''}`);
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
