// A small, realistic score file for the explain/export tests without the GPU scorer: real GSM8K problems
// tokenised with the real stories260K tokenizer, with invented but plausible scores and the XTF selection
// rules applied to them (Tukey fence per example on RI, a global KN threshold, a TR noisy band).
import { readFileSync } from 'node:fs';
import { summaryFromRecords } from '../../src/xtf/explain.ts';
import { xtfOptions } from '../../src/xtf/options.ts';
import { releasedTrCut } from '../../src/xtf/released.ts';
import { reselectReleased } from '../../src/xtf/score-released.ts';
import type { Attribute, DatasetSummary, ScoredExample, SelectionThresholds } from '../../src/xtf/types.ts';
import { loadTokenizer } from '../model/stories260k.ts';
import { rng } from '../helpers/random.ts';

const GSM8K = new URL('../../../shared/data/gsm8k/train.jsonl', import.meta.url);

const normal = (r: () => number): number => Math.sqrt(-2 * Math.log(r() || 1e-12)) * Math.cos(2 * Math.PI * r());

function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q, lo = Math.floor(at), hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

export const KN_THRESHOLD = 0.05;
export const TR_CUTS = [0.3, 0.48];

export interface FakeScoreFile {
  scored: ScoredExample[];
  summary: DatasetSummary;
}

/** Token ids and pieces of prompt + completion, pieces decoded so that joined they give the text exactly. */
function tokenise(prompt: string, completion: string) {
  const tok = loadTokenizer();
  const text = prompt + completion;
  const tokens = tok.encode(text);
  const decoder = new TextDecoder();
  const pieces: string[] = [];
  tokens.forEach((id, i) => pieces.push(id === tok.bosId ? '' : decoder.decode(tok.tokenBytes(i ? tokens[i - 1] : -1, id), { stream: true })));
  if (pieces.join('') !== text) throw new Error(`pieces do not join to the text of ${JSON.stringify(text.slice(0, 40))}`);
  let at = 0;
  const label = pieces.map((p) => {
    const isLabel = at >= prompt.length;
    at += p.length;
    return isLabel;
  });
  return { tokens, pieces, label };
}

function trOf(token: number, piece: string): number {
  const r = rng(token * 7919 + 13)();
  if (/^\s*$/.test(piece) || /^[\s.,:;!?<>=#$]+$/.test(piece)) return 0.02 + 0.22 * r; // format tokens: lowest class
  if (/\d/.test(piece)) return 0.62 + 0.36 * r;
  return 0.26 + 0.7 * r;
}

/** n GSM8K training examples (plus an optional edge case with markup, a tab and an emoji). */
export function fakeScoreFile(n = 8, { edgeCase = true } = {}): FakeScoreFile {
  const lines = readFileSync(GSM8K, 'utf8').split('\n').filter(Boolean).slice(0, n);
  const raw = lines.map((l, k) => {
    const { question, answer } = JSON.parse(l) as { question: string; answer: string };
    return { id: `gsm8k-train-${k}`, prompt: `Question: ${question}\nAnswer:`, completion: ` ${answer}` };
  });
  if (edgeCase) raw.push({ id: 'edge <b>&"quotes"', prompt: 'Say <script>alert(1)</script> & more:', completion: ' It is 5 \u{1F600}\tdone.\n#### 5' });
  const r = rng(42);
  const fences: Record<string, number | null> = {};
  const scored = raw.map((e): ScoredExample => {
    const { tokens, pieces, label } = tokenise(e.prompt, e.completion);
    const seen = new Set<number>();
    const p: (number | null)[] = [], ri: (number | null)[] = [], kn: (number | null)[] = [], tr: (number | null)[] = [];
    tokens.forEach((t, i) => {
      if (!label[i]) {
        seen.add(t);
        p.push(null), ri.push(null), kn.push(null), tr.push(null);
        return;
      }
      const punct = /^[\s.,:;!?<>=#$]*$/.test(pieces[i]);
      const logit = normal(r) * 1.1 + (seen.has(t) ? 1.4 : 0) + (punct ? 0.9 : 0) - 0.9;
      const prob = 1 / (1 + Math.exp(-logit * 1.5));
      p.push(prob);
      kn.push(1 - prob);
      // Attention: most tokens near the example's typical level, a few (more often format tokens) far below it.
      ri.push(Math.exp(normal(r) * 0.3 - 3.2) * (r() < (punct ? 0.16 : 0.05) ? 0.2 + 0.3 * r() : 1));
      tr.push(trOf(t, pieces[i]));
      seen.add(t);
    });
    const riLabel = ri.filter((v): v is number => v !== null).sort((a, b) => a - b);
    const fence = riLabel.length >= 4 ? quantile(riLabel, 0.25) - 1.0 * (quantile(riLabel, 0.75) - quantile(riLabel, 0.25)) : null;
    fences[e.id] = fence;
    const flags: Attribute[][] = tokens.map((_, i) => {
      if (!label[i]) return [];
      const f: Attribute[] = [];
      if (fence !== null && ri[i]! < fence) f.push('ri');
      if (kn[i]! < KN_THRESHOLD) f.push('kn');
      if (tr[i]! >= TR_CUTS[0] && tr[i]! < TR_CUTS[1]) f.push('tr');
      return f;
    });
    const weight = tokens.map((_, i) => (label[i] && flags[i].length === 0 ? 1 : 0));
    return { id: e.id, tokens, pieces, label, p, ri, kn, tr, flags, lossMask: weight };
  });
  const thresholds: SelectionThresholds = { riFences: fences, knThreshold: KN_THRESHOLD, trCuts: TR_CUTS };
  const summary: DatasetSummary = { ...summaryFromRecords(scored), method: 'xtf (fake scores for tests)', thresholds, tokensPerSecond: 1843.5, seconds: 0.74 };
  return { scored, summary };
}

export const toJsonl = (scored: ScoredExample[]): string => scored.map((e) => JSON.stringify(e)).join('\n') + '\n';

/** The fake score file re-selected under the released rules, with a summary that says so. */
export function releasedFake(n = 8): FakeScoreFile {
  const { scored: paper } = fakeScoreFile(n);
  const options = xtfOptions({ rules: 'released', caps: { ri: 0.1, kn: 0.3, tr: 0.2 } });
  const trCut = releasedTrCut(paper.flatMap((ex) => ex.tr));
  const scored = reselectReleased(paper, options, trCut.cut);
  const summary: DatasetSummary = {
    ...summaryFromRecords(scored),
    rules: {
      rules: 'released',
      caps: options.caps,
      domain: { source: 'task', words: ['1', '+'], skipped: [], task: 'gsm8k' },
      released: { iqrFactor: 1.5, knFloor: 0.95, tr: { classes: 5, thresholds: trCut.thresholds, shares: trCut.shares, cut: trCut.cut, exceededAt: trCut.exceededAt, occurrences: trCut.n } },
    },
  };
  return { scored, summary };
}
