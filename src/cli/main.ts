// The `xtf` command line: thin, parses flags and calls the library.
import { benchCommand } from './bench.ts';
import { convertCommand } from './convert.ts';
import { deviceCommand } from './device.ts';
import { evalCommand } from './eval.ts';
import { experimentCommand } from './experiment.ts';
import { explainCommand } from './explain.ts';
import { exportCommand } from './export.ts';
import { generateCommand } from './generate.ts';
import { logprobsCommand } from './logprobs.ts';
import { pipelineCommand } from './pipeline.ts';
import { scoreCommand } from './score.ts';
import { trainCommand } from './train.ts';

interface Command {
  summary: string;
  run(args: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  bench: { summary: 'tokens/s of the xtf train path vs bare training steps (pipeline overhead)', run: benchCommand },
  convert: { summary: 'convert a llama2.c / GGUF / HF model into a Hugging Face folder', run: convertCommand },
  device: { summary: 'report the WebGPU adapter, its features and limits', run: deviceCommand },
  eval: { summary: 'held-out loss, perplexity and task accuracy (GSM8K, PubMedQA, MedQA) of a model or adapter', run: evalCommand },
  experiment: { summary: 'compare normal, XTF, its ablations and the baselines over seeds on one model and dataset (resumable)', run: experimentCommand },
  explain: { summary: 'write an HTML page explaining an XTF score file (heatmaps, histograms)', run: explainCommand },
  export: { summary: 'export an XTF score file for TRL / Axolotl / torchtune (hf, axolotl)', run: exportCommand },
  generate: { summary: 'continue a prompt (KV cache; greedy or sampled)', run: generateCommand },
  logprobs: { summary: 'per-token log-probabilities of a text as JSON', run: logprobsCommand },
  train: { summary: 'fine-tune (LoRA or full) on the tokens that survive a filter, with validation and checkpoints', run: trainCommand },
  pipeline: { summary: 'the main job: XTF-score a dataset slice, fine-tune with and without the mask, compare, report', run: pipelineCommand },
  score: { summary: 'score every label token with XTF (or a baseline) and select the noisy ones', run: scoreCommand },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return ['usage: xtf <command> [options]', '', 'commands:', ...lines, '', 'xtf <command> --help for its options'].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`xtf: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    const err = e as Error & { code?: string };
    // An unknown or malformed flag is a usage error, like a missing one: exit 2 and point at --help.
    if (err.code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`xtf ${name}: ${err.message}\n(xtf ${name} --help lists the options)`);
      return 2;
    }
    console.error(`xtf ${name}: ${err.name === 'Error' ? '' : err.name + ': '}${err.message}`);
    if (process.env.XTF_DEBUG) console.error(err.stack);
    return 1;
  }
}
