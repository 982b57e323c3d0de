import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EXPORT_FORMATS, exportLine, type ExportFormat, type ExportOptions } from '../xtf/export.ts';
import { AtomicLineWriter, readScoreFile } from './score-io.ts';

const USAGE = `usage: xtf export SCORES.jsonl --format hf|axolotl --out DATA.jsonl [--eos-id N] [--strip-leading-space]

Writes the XTF mask in a form other trainers read (docs/exports.md has their configs):
  hf        {input_ids, attention_mask, labels}, labels -100 on prompt and masked tokens: pre-tokenised data
            for Hugging Face TRL, Axolotl (empty \`type:\`) and torchtune; needs the scoring model's tokenizer.
  axolotl   {id, messages: [user = prompt, assistant = completion with train_detail]}: character spans
            (inclusive begin_offset/end_offset, train true/false) for Axolotl's chat_template
            message_field_training_detail; any tokenizer.
  --eos-id N               hf: append this EOS id (trained) unless the example already ends with it
  --strip-leading-space    axolotl: drop one leading space of the completion (llama2.c piece convention)`;

export async function exportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      format: { type: 'string', short: 'f' },
      out: { type: 'string', short: 'o' },
      'eos-id': { type: 'string' },
      'strip-leading-space': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const usage = (why: string): number => {
    console.error(`xtf export: ${why}\n\n${USAGE}`);
    return 2;
  };
  if (positionals.length !== 1) return usage(positionals.length ? 'give exactly one score file' : 'which score file?');
  if (!values.format || !EXPORT_FORMATS.includes(values.format as ExportFormat)) return usage(`--format must be ${EXPORT_FORMATS.join(' or ')}`);
  if (!values.out) return usage('--out is required');
  const format = values.format as ExportFormat;
  const opts: ExportOptions = { stripLeadingSpace: values['strip-leading-space'] };
  if (values['eos-id'] !== undefined) {
    if (!/^\d+$/.test(values['eos-id'])) return usage(`--eos-id must be a token id, got '${values['eos-id']}'`);
    if (format !== 'hf') return usage('--eos-id applies to --format hf');
    opts.eosId = Number(values['eos-id']);
  }
  if (opts.stripLeadingSpace && format !== 'axolotl') return usage('--strip-leading-space applies to --format axolotl');
  const [scoreFile] = positionals;
  if (resolve(scoreFile) === resolve(values.out)) return usage('--out must not be the score file itself');

  // Read the first line before creating anything, so a missing file leaves nothing behind either.
  const records = readScoreFile(scoreFile);
  const first = await records.next();
  const out = new AtomicLineWriter(values.out);
  let examples = 0, labels = 0, kept = 0;
  try {
    for (let r = first; !r.done; r = await records.next()) {
      const ex = r.value;
      examples++;
      ex.label.forEach((l, i) => l && (labels++, ex.lossMask[i] !== 0 && kept++));
      await out.write(exportLine(ex, format, opts));
    }
    await out.commit();
  } catch (e) {
    await out.abort();
    throw e;
  }
  console.log(`wrote ${values.out}: ${examples} examples (${format}), ${kept} of ${labels} label tokens kept (${labels ? ((100 * kept) / labels).toFixed(1) : '0'}%)`);
  return 0;
}
