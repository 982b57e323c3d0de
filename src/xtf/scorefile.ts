// Reading score files without Node: one ScoredExample per JSONL line, checked field by field so a bad
// file fails on the line that is wrong (the CLI adds file:line), and the summary written beside it.
import type { Attribute, DatasetSummary, ScoredExample, XtfRules } from './types.ts';

export const ATTRIBUTES: readonly Attribute[] = ['ri', 'kn', 'tr'];

/** A problem with one line of a score file; the reader prefixes it with file:line. */
export class ScoreFileError extends Error {
  override name = 'ScoreFileError';
}

const fail = (message: string): never => {
  throw new ScoreFileError(message);
};

/** Parses and checks one JSONL line of a score file (every per-token array has tokens.length entries). */
export function parseScoredExample(line: string): ScoredExample {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return fail('expected a JSON object (one scored example)');
  const r = v as Record<string, unknown>;
  if (typeof r.id !== 'string') fail(`"id" must be a string`);
  const id = r.id as string;
  const arr = (field: string): unknown[] => (Array.isArray(r[field]) ? (r[field] as unknown[]) : fail(`example ${JSON.stringify(id)}: "${field}" must be an array`));
  const tokens = arr('tokens');
  const n = tokens.length;
  const check = (field: string, ok: (x: unknown) => boolean, rule: string): void => {
    const a = arr(field);
    if (a.length !== n) fail(`example ${JSON.stringify(id)}: "${field}" has ${a.length} entries, "tokens" has ${n}`);
    const bad = a.findIndex((x) => !ok(x));
    if (bad >= 0) fail(`example ${JSON.stringify(id)}: ${field}[${bad}] must be ${rule}, got ${JSON.stringify(a[bad])}`);
  };
  check('tokens', (x) => Number.isInteger(x) && (x as number) >= 0, 'a token id');
  check('pieces', (x) => typeof x === 'string', 'a string');
  check('label', (x) => typeof x === 'boolean', 'true or false');
  for (const f of ['p', 'ri', 'kn', 'tr']) check(f, (x) => x === null || (typeof x === 'number' && Number.isFinite(x)), 'a number or null');
  check('flags', (x) => Array.isArray(x) && x.every((a) => ATTRIBUTES.includes(a as Attribute)), `a list of ${ATTRIBUTES.map((a) => `"${a}"`).join(', ')}`);
  // Score files written before the mask had one name call it "weight".
  if (r.lossMask === undefined && r.weight !== undefined) {
    r.lossMask = r.weight;
    delete r.weight;
  }
  check('lossMask', (x) => typeof x === 'number' && Number.isFinite(x) && x >= 0, 'a number >= 0');
  if (r.truncated !== undefined && !(Number.isInteger(r.truncated) && (r.truncated as number) >= 0)) fail(`example ${JSON.stringify(id)}: "truncated" must be a count`);
  if (r.cuts !== undefined) checkCuts(id, r.cuts);
  const ex = r as unknown as ScoredExample;
  const leak = ex.label.findIndex((l, i) => !l && ex.lossMask[i] !== 0);
  if (leak >= 0) fail(`example ${JSON.stringify(id)}: prompt token ${leak} has lossMask ${ex.lossMask[leak]}; prompt tokens never carry loss`);
  return ex;
}

const isObject = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object' && !Array.isArray(x);
const numberOrNull = (x: unknown) => x === null || (typeof x === 'number' && Number.isFinite(x));

/** The released rules' per-answer cuts (types.ts, ReleasedAnswerCuts): every field present, numbers finite or null. */
function checkCuts(id: string, cuts: unknown): void {
  const where = `example ${JSON.stringify(id)}: "cuts"`;
  if (!isObject(cuts) || !isObject(cuts.ri) || !isObject(cuts.kn) || !isObject(cuts.tr)) return fail(`${where} must be {ri, kn, tr}`);
  const fields: [string, Record<string, unknown>, string, (x: unknown) => boolean, string][] = [
    ['ri', cuts.ri, 'cut', numberOrNull, 'a number or null'],
    ['ri', cuts.ri, 'fence', numberOrNull, 'a number or null'],
    ['ri', cuts.ri, 'capped', (x) => typeof x === 'boolean', 'true or false'],
    ['kn', cuts.kn, 'cap', numberOrNull, 'a number or null'],
    ['kn', cuts.kn, 'floor', (x) => typeof x === 'number' && Number.isFinite(x), 'a number'],
    ['tr', cuts.tr, 'cut', numberOrNull, 'a number or null'],
    ['tr', cuts.tr, 'cap', numberOrNull, 'a number or null'],
  ];
  for (const [a, o, f, ok, rule] of fields) if (!ok(o[f])) fail(`${where}.${a}.${f} must be ${rule}, got ${JSON.stringify(o[f])}`);
}

const RULES: readonly XtfRules[] = ['released', 'paper'];

/** Checks a parsed <score file>.summary.json enough to draw it (thresholds may be null). */
export function parseSummary(text: string): DatasetSummary {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  const s = v as Partial<DatasetSummary> | null;
  if (!s || typeof s !== 'object') return fail('expected a JSON object (a dataset summary)');
  if (typeof s.labelTokens !== 'number' || typeof s.fractionMasked !== 'number' || !s.fractionFlagged) fail('missing labelTokens / fractionMasked / fractionFlagged');
  const t = s.thresholds;
  if (t !== null && t !== undefined && (typeof t.knThreshold !== 'number' || !Array.isArray(t.trCuts) || typeof t.riFences !== 'object')) {
    fail('"thresholds" must be null or {riFences, knThreshold, trCuts}');
  }
  // Summaries written before rule sets existed have no "rules" (read as null).
  const r = s.rules;
  if (r !== null && r !== undefined && (!isObject(r) || !RULES.includes(r.rules as XtfRules) || !isObject(r.domain) || (r.caps !== null && !isObject(r.caps)) || (r.released !== null && !isObject(r.released)))) {
    fail(`"rules" must be null or {rules: ${RULES.map((x) => `"${x}"`).join(' | ')}, caps, domain, released}`);
  }
  return { rules: null, overlaps: [], mostFlagged: { ri: [], kn: [], tr: [] }, thresholds: null, tokensPerSecond: NaN, seconds: NaN, truncatedExamples: 0, truncatedTokens: 0, method: 'xtf', examples: 0, ...s } as DatasetSummary;
}

/** Code points of a string (Python's str indexing, which Axolotl's offsets use), not UTF-16 units. */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}
