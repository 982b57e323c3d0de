import { parseArgs } from 'node:util';
import { explainHtml } from '../report/xtf-explain.ts';
import { DEFAULT_EXPLAIN_EXAMPLES, summaryFromRecords } from '../xtf/explain.ts';
import type { ScoredExample } from '../xtf/types.ts';
import { readScoreFile, readSummaryBeside, summaryNames, writeFileAtomic } from './score-io.ts';

const USAGE = `usage: xtf explain SCORES.jsonl --html REPORT.html [--examples N | --ids a,b,c] [--title T]

Writes one self-contained HTML page (works offline) explaining an XTF selection: the dataset summary,
histograms of S_RI, S_KN and S_TR with the thresholds, and examples as token heatmaps (hover a token for
its scores and why it was kept or masked). Reads SCORES.jsonl and the summary beside it (SCORES.summary.json);
without the summary, fractions come from the records and the thresholds are shown as unknown.
  --html FILE        the page to write (atomically)
  --examples N       draw the first N examples (default ${DEFAULT_EXPLAIN_EXAMPLES})
  --ids a,b,c        draw these examples, in this order
  --title T          page title`;

export async function explainCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      html: { type: 'string' },
      examples: { type: 'string' },
      ids: { type: 'string' },
      title: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const usage = (why: string): number => {
    console.error(`xtf explain: ${why}\n\n${USAGE}`);
    return 2;
  };
  if (positionals.length !== 1) return usage(positionals.length ? 'give exactly one score file' : 'which score file?');
  if (!values.html) return usage('--html is required');
  if (values.examples !== undefined && values.ids !== undefined) return usage('--examples and --ids exclude each other');
  let examples: number | string[] = DEFAULT_EXPLAIN_EXAMPLES;
  if (values.examples !== undefined) {
    examples = Number(values.examples);
    if (!/^\d+$/.test(values.examples) || !Number.isSafeInteger(examples)) return usage(`--examples must be a whole number, got '${values.examples}'`);
  }
  if (values.ids !== undefined) {
    examples = values.ids.split(',').map((s) => s.trim()).filter(Boolean);
    if (!examples.length) return usage('--ids needs at least one id');
  }
  const [scoreFile] = positionals;
  const scored: ScoredExample[] = [];
  for await (const ex of readScoreFile(scoreFile)) scored.push(ex);
  const beside = await readSummaryBeside(scoreFile);
  if (!beside) console.error(`xtf explain: no summary beside ${scoreFile} (${summaryNames(scoreFile).join(' or ')}): fractions computed from the records, thresholds unknown`);
  const summary = beside?.summary ?? summaryFromRecords(scored);
  const html = explainHtml(scored, summary, { examples, title: values.title });
  await writeFileAtomic(values.html, html);
  const shown = Array.isArray(examples) ? examples.length : Math.min(examples, scored.length);
  console.log(`wrote ${values.html} (${shown} of ${scored.length} examples drawn, ${(Buffer.byteLength(html) / 1024).toFixed(0)} KiB)`);
  return 0;
}
