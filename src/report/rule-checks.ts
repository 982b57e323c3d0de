// Why one label token was kept or masked: each rule's comparisons of the token's score with the cuts
// that judged it, under the rule set that scored it. One home for both tooltips: the demo calls it, and
// the explanation page embeds its source (ruleChecksSource) into its offline script, so the function is
// self-contained on purpose (no imports, no helper functions: transpilers may wrap inner functions in
// helpers that a page does not have).
import type { Attribute, ReleasedAnswerCuts } from '../xtf/types.ts';

/** What judged one example's label tokens. */
export interface RuleContext {
  /** The rule set (null: unknown, e.g. a score file without its summary). */
  rules: 'released' | 'paper' | null;
  /** Paper: this example's Tukey fence on S_RI (null: < 4 label tokens; undefined: unknown). */
  riFence?: number | null;
  /** Paper: the global S_KN threshold, and the Multi-Otsu cuts over S_TR (null: unknown). */
  knThreshold?: number | null;
  trCuts?: number[] | null;
  /** Released: this answer's cuts (the score file's `cuts`). */
  cuts?: ReleasedAnswerCuts | null;
}

/** One comparison: `score relation what value` reads e.g. "S_RI < fence 0.012". `value` null: no number
 *  (then `what` says why). `on` names the quantity compared when it is not the attribute's score (p). */
export interface RuleCheck {
  relation: '<' | '≥' | '>' | '≤' | '';
  what: string;
  value: number | null;
  on?: 'p';
}

/** The comparisons behind attribute `a`'s verdict on a label token with score `v` (S_KN for kn: p = 1 − v). */
export function ruleChecks(a: Attribute, v: number | null, c: RuleContext): RuleCheck[] {
  if (v === null || !Number.isFinite(v)) return [];
  if (c.rules === 'released') {
    const cuts = c.cuts;
    if (!cuts) return [{ relation: '', what: 'cuts unknown', value: null }];
    if (a === 'ri') {
      if (cuts.ri.cut === null) return [{ relation: '', what: 'no cut (no scored token)', value: null }];
      return [{ relation: v < cuts.ri.cut ? '<' : '≥', what: cuts.ri.capped ? "the answer's cap (its fence would mask more than ri-max)" : 'fence Q1 − 1.5·IQR', value: cuts.ri.cut }];
    }
    if (a === 'kn') {
      const p = 1 - v;
      const out: RuleCheck[] = [{ relation: p > cuts.kn.floor ? '>' : '≤', what: 'floor', value: cuts.kn.floor, on: 'p' }];
      out.push(cuts.kn.cap === null ? { relation: '', what: 'no cap', value: null } : { relation: p > cuts.kn.cap ? '>' : '≤', what: "the answer's kn-max cap", value: cuts.kn.cap, on: 'p' });
      return out;
    }
    const out: RuleCheck[] = [cuts.tr.cut === null ? { relation: '', what: 'no dataset cut (TR masks nothing)', value: null } : { relation: v < cuts.tr.cut ? '<' : '≥', what: 'dataset cut', value: cuts.tr.cut }];
    if (cuts.tr.cut !== null) out.push(cuts.tr.cap === null ? { relation: '', what: 'no cap', value: null } : { relation: v < cuts.tr.cap ? '<' : '≥', what: "the answer's tr-max cap", value: cuts.tr.cap });
    return out;
  }
  if (c.rules === null && c.riFence === undefined && (c.knThreshold ?? null) === null && !c.trCuts) return [{ relation: '', what: 'thresholds unknown', value: null }];
  if (a === 'ri') {
    if (c.riFence === undefined) return [{ relation: '', what: 'fence unknown', value: null }];
    if (c.riFence === null) return [{ relation: '', what: 'no fence (< 4 label tokens)', value: null }];
    return [{ relation: v < c.riFence ? '<' : '≥', what: 'fence', value: c.riFence }];
  }
  if (a === 'kn') {
    const t = c.knThreshold ?? null;
    return t === null ? [{ relation: '', what: 'threshold unknown', value: null }] : [{ relation: v < t ? '<' : '≥', what: 'threshold', value: t }];
  }
  const cuts = c.trCuts;
  if (!cuts) return [{ relation: '', what: 'cuts unknown', value: null }];
  if (cuts.length === 0) return [{ relation: '', what: 'no cuts', value: null }];
  if (v < cuts[0]) return [{ relation: '<', what: 'cut 1 (lowest class, skipped)', value: cuts[0] }];
  if (cuts.length === 1 || !Number.isFinite(cuts[1])) return [{ relation: '≥', what: 'cut 1 (noisy class)', value: cuts[0] }];
  return v < cuts[1]
    ? [{ relation: '≥', what: 'cut 1', value: cuts[0] }, { relation: '<', what: 'cut 2 (noisy class)', value: cuts[1] }]
    : [{ relation: '≥', what: 'cut 2 (upper class)', value: cuts[1] }];
}

/** ruleChecks as plain JavaScript, for a page's own script. */
export const ruleChecksSource = (): string => ruleChecks.toString();
