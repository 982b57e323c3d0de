// Evaluation: held-out loss / perplexity over label tokens, and generation-based task accuracy
// (GSM8K exact match of the final number, PubMedQA yes/no/maybe, MedQA option letter).
// Portable: no Node built-ins (the CLI reads files and writes results).
import { contextLength } from '../model/config.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { Tokenizer } from '../model/tokenizer.ts';
import { generateBatch } from '../model/generate.ts';
import { evaluateLoss } from '../train/step.ts';
import { labelBatches } from '../data/batch.ts';
import type { TrainRecord } from '../data/records.ts';
import { gsm8kFinalNumber, medqaLetter, pubmedqaDecision, PUBMEDQA_DECISIONS, type TaskExample } from '../data/tasks.ts';

// ---- answer extraction and normalisation (pure) -----------------------------------------------------------

/** A number as GSM8K compares it: no "$", thousands commas, spaces, leading "+", leading zeros, or trailing
 *  fractional zeros ("1,234.50" -> "1234.5", "$18.00" -> "18", "-0" -> "0"). undefined when it is not a number. */
export function normalizeNumber(text: string): string | undefined {
  let s = text.trim().replace(/[$,\s]/g, '').replace(/\.$/, '');
  const m = /^([-+]?)(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const int = m[2].replace(/^0+(?=\d)/, '') || '0';
  const frac = (m[3] ?? '').replace(/0+$/, '');
  s = frac ? `${int}.${frac}` : int;
  return m[1] === '-' && s !== '0' ? `-${s}` : s;
}

const NUMBER = /[-+]?\$?\s?\d[\d,]*(?:\.\d+)?|[-+]?\.\d+/g;

/** The final number of a GSM8K generation: the number after the last "####" when there is one, else the last
 *  number in the text; normalised (see normalizeNumber). */
export function gsm8kPrediction(output: string): string | undefined {
  if (output.includes('####')) {
    const after = gsm8kFinalNumber(output.replace(/####\s*\$/g, '#### '));
    if (after !== undefined) return normalizeNumber(after);
  }
  const all = output.match(NUMBER);
  return all ? normalizeNumber(all[all.length - 1]) : undefined;
}

/** PubMedQA decision: "Final decision: X", else an answer that starts with yes / no / maybe. */
export function pubmedqaPrediction(output: string): string | undefined {
  const d = pubmedqaDecision(output);
  if (d !== undefined) return d;
  const m = /^\s*(yes|no|maybe)\b/i.exec(output);
  return m && PUBMEDQA_DECISIONS.includes(m[1].toLowerCase()) ? m[1].toLowerCase() : undefined;
}

/** MedQA option letter: the letter the answer starts with ("B. ...", "(B)"), when it is one of the choices. */
export function medqaPrediction(output: string, choices: readonly string[]): string | undefined {
  const l = medqaLetter(output);
  return l !== undefined && choices.includes(l) ? l : undefined;
}

export type EvalTask = 'gsm8k' | 'pubmedqa' | 'medqa';
export const EVAL_TASKS: readonly EvalTask[] = ['gsm8k', 'pubmedqa', 'medqa'];

/** The target an example is scored against, as a string ("72", "yes", "B"). */
export function targetOf(e: TaskExample): string {
  if (e.target.kind === 'tests') throw new RangeError(`example ${e.id}: code tests are not scored by evaluateTask`);
  return e.target.kind === 'number' ? normalizeNumber(e.target.value) ?? e.target.value : e.target.value;
}

/** The prediction parsed from a generation for the task (undefined when nothing parses). */
export function predictionOf(task: EvalTask, output: string, e: TaskExample): string | undefined {
  switch (task) {
    case 'gsm8k':
      return gsm8kPrediction(output);
    case 'pubmedqa':
      return pubmedqaPrediction(output);
    case 'medqa':
      return medqaPrediction(output, e.target.kind === 'choice' ? e.target.choices : []);
  }
}

/** Whether a generation already holds its final answer, so decoding can stop: GSM8K's "#### N" followed by
 *  anything that is not part of the number. Other tasks run to EOS or the token limit. */
export function answerComplete(task: EvalTask, output: string): boolean {
  return task === 'gsm8k' && /####\s*\$?\s*[-+]?[\d,]*\.?\d+[^\d,.]/.test(output);
}

// ---- held-out loss --------------------------------------------------------------------------------------

export interface LossResult {
  /** Mean cross-entropy (nats) over the label (completion) tokens. */
  loss: number;
  /** exp(loss). */
  perplexity: number;
  /** Label tokens the mean is over, and examples that contributed. */
  tokens: number;
  examples: number;
  /** Examples cut to the context (prompt start first, see tokenize.ts fitLength). */
  truncatedExamples: number;
}

export interface LossOptions {
  /** Rows per forward pass (default 4). */
  batchSize?: number;
  /** Cut examples to this many tokens (default: the model's context). */
  maxLength?: number;
}

/** Held-out loss and perplexity over the label tokens of records of any format (prompt tokens not counted),
 *  tokenized by the one token path: an example longer than the context is cut as training cuts it
 *  (tokenize.ts fitLength: the prompt's start first). Examples with no label token left are skipped. */
export async function evaluateHeldOutLoss(model: LlamaModel, tokenizer: Tokenizer, records: readonly TrainRecord[], options: LossOptions = {}): Promise<LossResult> {
  const maxLength = Math.min(options.maxLength ?? contextLength(model.config), contextLength(model.config));
  const { batches, report } = labelBatches(tokenizer, records, { maxLength, batchSize: options.batchSize ?? 4 });
  if (report.examples.length === 0) throw new RangeError('held-out loss: no example has a label token left within the context');
  let tokens = 0;
  for (const b of batches) for (const w of b.lossMask) tokens += w;
  const loss = await evaluateLoss(model, batches);
  return { loss, perplexity: Math.exp(loss), tokens, examples: report.examples.length, truncatedExamples: report.truncatedExamples };
}

// ---- generation-based accuracy -----------------------------------------------------------------------------

export interface ExampleResult {
  id: string;
  target: string;
  /** The parsed answer, or null when the output states none. */
  predicted: string | null;
  correct: boolean;
  /** The generated text (prompt excluded). */
  output: string;
  /** Generated tokens, and prompt tokens cut from the start to fit the context. */
  generatedTokens: number;
  promptTruncated: number;
}

export interface TaskResult {
  accuracy: number;
  correct: number;
  total: number;
  perExample: ExampleResult[];
}

export interface EvaluateTaskOptions {
  task: EvalTask;
  /** Tokens to generate per example (default 256). */
  maxNewTokens?: number;
  /** Evaluate only the first N examples. */
  limit?: number;
  /** Stop decoding once the answer is complete (answerComplete; default true). */
  stopAtAnswer?: boolean;
  /** Prompts decoded side by side (default 16): a step costs about as much for 16 as for 1. Results do not depend on it. */
  batchSize?: number;
  /** Called after each example. */
  onProgress?: (done: number, total: number, last: ExampleResult, generatedTokens: number) => void;
}

/** Greedy generation per example (KV cache, stop at EOS / BOS, several examples at once), the answer parsed and
 *  compared with the target. Results come back in the examples' order. */
export async function evaluateTask(model: LlamaModel, tokenizer: Tokenizer, examples: readonly TaskExample[], options: EvaluateTaskOptions): Promise<TaskResult> {
  const { task } = options;
  if (!EVAL_TASKS.includes(task)) throw new RangeError(`evaluateTask: task must be one of ${EVAL_TASKS.join(', ')}, got ${JSON.stringify(task)}`);
  const maxNewTokens = options.maxNewTokens ?? 256;
  const context = contextLength(model.config);
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1 || maxNewTokens >= context) throw new RangeError(`maxNewTokens must be a whole number in 1..${context - 1}, got ${maxNewTokens}`);
  const batchSize = options.batchSize ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a whole number >= 1, got ${batchSize}`);
  const list = options.limit === undefined ? examples : examples.slice(0, options.limit);
  const targets = list.map(targetOf); // before any decoding: a code-test example is refused at once
  const room = context - maxNewTokens;
  const prompts = list.map((e) => {
    const ids = tokenizer.encode(e.prompt);
    if (ids.length <= room) return { ids, truncated: 0 };
    // Keep the end of a long prompt (the question and "Answer: "), and BOS when there is one.
    return { ids: ids[0] === tokenizer.bosId ? [ids[0], ...ids.slice(ids.length - room + 1)] : ids.slice(ids.length - room), truncated: ids.length - room };
  });
  // Batches of similar prompt lengths: less padding to compute.
  const order = list.map((_, i) => i).sort((a, b) => prompts[a].ids.length - prompts[b].ids.length);
  const stopWhen = options.stopAtAnswer === false ? undefined : (ids: readonly number[]) => answerComplete(task, tokenizer.decode([...ids]));
  const results: ExampleResult[] = new Array(list.length);
  let done = 0, correct = 0, generatedTotal = 0;
  for (let start = 0; start < order.length; start += batchSize) {
    const rows = order.slice(start, start + batchSize);
    const gens = await generateBatch(model, rows.map((i) => prompts[i].ids), { maxTokens: maxNewTokens, temperature: 0, stopTokens: [tokenizer.eosId, tokenizer.bosId], stopWhen });
    rows.forEach((i, b) => {
      const e = list[i], g = gens[b], prompt = prompts[i].ids;
      const target = targets[i];
      // Decode with the prompt so a leading space / byte-fallback pieces come out as in the whole text.
      const promptText = tokenizer.decode(prompt), all = tokenizer.decode(g.tokens);
      const output = all.startsWith(promptText) ? all.slice(promptText.length) : tokenizer.decode(g.generated);
      const predicted = predictionOf(task, output, e) ?? null;
      const ok = predicted !== null && predicted === target;
      if (ok) correct++;
      generatedTotal += g.generated.length;
      results[i] = { id: e.id, target, predicted, correct: ok, output, generatedTokens: g.generated.length, promptTruncated: prompts[i].truncated };
      options.onProgress?.(++done, list.length, results[i], generatedTotal);
    });
  }
  const total = results.length;
  return { accuracy: total === 0 ? 0 : correct / total, correct, total, perExample: results };
}
