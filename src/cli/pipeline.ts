// The main job (`npm start`): `xtf experiment` with two filters — every label token (normal) and the tokens
// XTF keeps — and one seed, on a slice of GSM8K with stories260K, through the one recipe: the same
// initialisation, data order, steps and validation split for both runs, evaluated on GSM8K's own test
// questions, which choose nothing. Reads ../shared when it is there, else the public addresses.
import { parseArgs } from 'node:util';
import { BUILTIN_RECIPE } from '../experiment/config.ts';
import { defaultSource } from './defaults.ts';
import { EXPERIMENT_OPTIONS, experimentPlan, runPlan } from './experiment.ts';
import { trainingUsage } from './flag-blocks.ts';

const USAGE = `usage: xtf pipeline [--model M] [--data D] [--held-out H] [--examples N] [--held-out-examples N] [training options] [--out DIR]

The main job: XTF vs normal fine-tuning, nothing else differing. Scores the training slice with XTF,
fine-tunes LoRA twice with the one recipe (all label tokens / the tokens XTF keeps), picks each run's
checkpoint on a validation split of the training slice, and reports both on the held-out questions
(loss over every answer token; answer accuracy with --accuracy-examples N). Writes DIR/index.html (table, curves), DIR/results.md,
DIR/scores.jsonl (XTF's scores: \`xtf explain DIR/scores.jsonl\`), DIR/runs/*.json and the adapters.
It is \`xtf experiment --filters normal,xtf --seeds 0 --task gsm8k\` with these defaults: stories260K,
GSM8K train (first 128 examples) and test (first 32) from ../shared, else their public addresses.
training (the built-in recipe):
${trainingUsage(BUILTIN_RECIPE)}`;

export async function pipelineCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { ...EXPERIMENT_OPTIONS, out: { type: 'string', default: 'xtf-run' } } });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const plan = experimentPlan(
    // No answer accuracy by default: stories260K answers no GSM8K question (0% before and after either
    // run), and generating them would double the main job's time; --accuracy-examples N adds it.
    { examples: '128', 'held-out-examples': '32', 'accuracy-examples': '0', ...values },
    { filters: ['normal', 'xtf'], seeds: [0], task: 'gsm8k', data: defaultSource('gsm8kTrain'), heldOut: defaultSource('gsm8kTest') },
  );
  return runPlan(plan, values.out!, values);
}
