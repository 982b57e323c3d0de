// The look and the words of the XTF explanation page (xtf-explain.ts) and its histograms (xtf-histogram.ts):
// one colour pair per attribute, the attributes' names and rules, and compact number formats.
import type { Attribute } from '../xtf/types.ts';

/** Okabe–Ito colours (distinct under the common colour-vision deficiencies), strong and light. */
export const COLOURS: Record<Attribute, { strong: string; light: string }> = {
  ri: { strong: '#0072B2', light: '#bcd9ef' },
  kn: { strong: '#E69F00', light: '#fadc96' },
  tr: { strong: '#CC79A7', light: '#efc6dd' },
};

/** Names and scores; the rules' words depend on the rule set (./xtf-rules-view.ts). */
export const NAMES: Record<Attribute, { short: string; long: string; score: string }> = {
  ri: {
    short: 'RI',
    long: 'Reasoning importance',
    score: 'S_RI: attention the token receives from later tokens',
  },
  kn: {
    short: 'KN',
    long: 'Knowledge novelty',
    score: 'S_KN = 1 − p: how new the token is to the base model',
  },
  tr: {
    short: 'TR',
    long: 'Task relevance',
    score: "S_TR: closeness of the token type's embedding to the domain vector",
  },
};

export function fmtNum(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '—';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 0.01) return x.toFixed(3).replace(/\.?0+$/, '') || '0';
  return x.toExponential(2);
}

export const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(x > 0 && x < 0.001 ? 2 : 1)}%` : '—');
export const int = (x: number): string => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
