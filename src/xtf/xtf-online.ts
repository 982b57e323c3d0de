// Online XTF: knowledge novelty re-scored at every step from the model BEING TRAINED, the other two
// attributes as the initial scoring gave them; a token selector for the trainer (TrainArgs.selectTokens),
// the XTF counterpart of online SLM (./slm-online.ts).
//
// At each step, for every example row of the step's micro-batches:
// - Knowledge novelty is judged anew on p = exp(−loss), the current model's teacher-forced probability of
//   each of the example's label tokens (the trainer's extra forward, TrainArgs.selectTokens), with the rule
//   set of the XTF options: 'paper' flags p > 1 − kn.threshold (S_KN = 1 − p < threshold, strict, as
//   ./select.ts); 'released' applies releasedKn (./released.ts) with the cap caps.kn over the ANSWER, i.e.
//   the example's label tokens as a whole (every label token the row holds, whether or not the incoming
//   mask trains it; in padding mode a row holds exactly one example, whole), so the answer is the one the
//   initial scoring capped.
// - Reasoning importance stays FIXED at the initial scoring's flags: it needs the attention the label
//   tokens receive, and the training forward does not compute attention probabilities (the trainer's
//   extra forward gives per-position losses only). Re-scoring it would cost a scoring forward per step.
// - Task relevance stays fixed, as the issue asks (it depends on the token type and the domain, and under
//   the released rules on a dataset-level cut).
// - The union of the fixed RI / TR flags (those of enabled attributes) and the fresh KN flags is masked;
//   the initial scoring's own KN flags are ignored (replaced every step).
// - Only label tokens can train: a position whose target is not a label token of its example (prompt,
//   the example's last token, padding) gets 0 whatever the incoming mask said; a label position the
//   incoming mask already left out stays out (not reported).
// - A token whose current loss is not finite is never KN-flagged and does not count in the released
//   answer's n (released.ts's convention for missing scores).
// - Rows must carry their example's id, one example per row (batchOf / makeBatches in padding mode): a
//   micro-batch without `rows`, a packed row, an id the initial scoring does not know, or a row whose
//   tokens are not the scored example's (different tokenisation, or truncated further) is refused with a
//   RangeError, as online SLM refuses; guessing which scores belong to a row would silently mask the
//   wrong tokens.
import type { TokenBatch } from '../data/batch.ts';
import { XTF_RULES, type XtfOptions } from './options.ts';
import { releasedKn } from './released.ts';
import type { Attribute, ScoredExample } from './types.ts';

export interface OnlineXtfOptions {
  /** The initial XTF scoring of every example (scoreExamples, method 'xtf', with these options): its
   *  tokens, label tokens and flags (the RI / TR flags are kept as they are). Ids must be distinct. */
  scored: readonly Pick<ScoredExample, 'id' | 'tokens' | 'label' | 'flags'>[];
  /** The XTF options: rules, caps.kn (released), kn.threshold (paper) and attributes are read. */
  xtf: Pick<XtfOptions, 'rules' | 'caps' | 'kn' | 'attributes'>;
  /** Told about every label token the step considered (the incoming mask trained it): the example, the
   *  token's position in it, whether it trains, and the attributes that masked it (ri, kn, tr order). */
  onToken?: (id: string, position: number, kept: boolean, flags: readonly Attribute[]) => void;
}

const RI = 1, KN = 2, TR = 4;
/** FLAG_SETS[bits] with bits = ri | kn << 1 | tr << 2 (shared, frozen). */
const FLAG_SETS: readonly (readonly Attribute[])[] = Array.from({ length: 8 }, (_, bits) =>
  Object.freeze((['ri', 'kn', 'tr'] as const).filter((_, i) => bits & (1 << i))));

interface Prepared {
  id: string;
  tokens: readonly number[];
  /** Positions j >= 1 of the label tokens (position 0 is never predicted). */
  labels: Int32Array;
  /** Per token position: RI | TR bits of the initial flags (enabled attributes only); -1 where not a label. */
  fixed: Int8Array;
}

/** The trainer's selectTokens for online XTF (see the module comment). */
export function onlineXtfSelector(options: OnlineXtfOptions): (microBatches: TokenBatch[], currentLoss: Float32Array[]) => TokenBatch[] {
  const { xtf, onToken } = options;
  if (!XTF_RULES.includes(xtf.rules)) throw new RangeError(`online XTF: rules must be ${XTF_RULES.map((r) => `'${r}'`).join(' or ')}, got ${JSON.stringify(xtf.rules)}`);
  if (!(xtf.caps.kn >= 0 && xtf.caps.kn <= 1)) throw new RangeError(`online XTF: caps.kn must be a share in [0, 1], got ${xtf.caps.kn}`);
  if (!(xtf.kn.threshold > 0 && xtf.kn.threshold < 1)) throw new RangeError(`online XTF: kn.threshold must be in (0, 1), got ${xtf.kn.threshold}`);
  const released = xtf.rules === 'released';
  const { ri: useRi, kn: useKn, tr: useTr } = xtf.attributes;
  const byId = new Map<string, Prepared>();
  for (const ex of options.scored) {
    if (byId.has(ex.id)) throw new RangeError(`online XTF: example id '${ex.id}' appears twice; each example needs its own id`);
    const n = ex.tokens.length;
    if (ex.label.length !== n || ex.flags.length !== n) throw new RangeError(`online XTF: example '${ex.id}' has ${n} tokens but ${ex.label.length} label and ${ex.flags.length} flag entries`);
    const fixed = new Int8Array(n).fill(-1);
    const labels: number[] = [];
    for (let j = 0; j < n; j++) {
      if (!ex.label[j]) continue;
      const f = ex.flags[j];
      fixed[j] = (useRi && f.includes('ri') ? RI : 0) | (useTr && f.includes('tr') ? TR : 0);
      if (j >= 1) labels.push(j);
    }
    byId.set(ex.id, { id: ex.id, tokens: ex.tokens, labels: Int32Array.from(labels), fixed });
  }

  return (microBatches, currentLoss) => {
    if (currentLoss.length !== microBatches.length) throw new RangeError(`online XTF: ${microBatches.length} micro-batches but ${currentLoss.length} loss arrays`);
    return microBatches.map((mb, b) => {
      const T = mb.seqLen;
      const loss = currentLoss[b];
      if (loss.length !== mb.batch * T) throw new RangeError(`online XTF: micro-batch ${b} is ${mb.batch} x ${T} but has ${loss.length} losses`);
      const rows = rowExamples(mb, b, byId);
      const lossMask = mb.lossMask.slice();
      rows.forEach((ex, r) => {
        const base = r * T;
        // The current p of every label token of the answer (position j is predicted at j − 1).
        const p: (number | null)[] = new Array(ex.labels.length);
        for (let k = 0; k < ex.labels.length; k++) {
          const l = loss[base + ex.labels[k] - 1];
          p[k] = Number.isFinite(l) ? Math.exp(-l) : null;
        }
        const kn = new Uint8Array(ex.tokens.length);
        if (useKn) {
          if (released) {
            const mask = releasedKn(p, xtf.caps.kn).mask;
            for (let k = 0; k < mask.length; k++) if (mask[k]) kn[ex.labels[k]] = KN;
          } else {
            for (let k = 0; k < p.length; k++) {
              const v = p[k];
              if (v !== null && 1 - v < xtf.kn.threshold) kn[ex.labels[k]] = KN;
            }
          }
        }
        for (let t = 0; t < T; t++) {
          const at = base + t;
          if (lossMask[at] === 0) continue;
          const j = t + 1;
          const fixed = j < ex.tokens.length ? ex.fixed[j] : -1;
          if (fixed < 0) { lossMask[at] = 0; continue; } // not a label token: prompt, last token, padding
          const bits = fixed | kn[j];
          if (bits !== 0) lossMask[at] = 0;
          onToken?.(ex.id, j, bits === 0, FLAG_SETS[bits]);
        }
      });
      return { ...mb, lossMask };
    });
  };
}

/** Each row's scored example, checked: one example per row, known id, the row holding its tokens whole. */
function rowExamples(mb: TokenBatch, index: number, byId: ReadonlyMap<string, Prepared>): Prepared[] {
  const rows = mb.rows;
  if (!rows || rows.length !== mb.batch || rows.some((r) => r.length !== 1)) {
    throw new RangeError(`online XTF: micro-batch ${index} must hold one example per row with its id (batchOf in padding mode), to find each token's initial flags`);
  }
  return rows.map(([id], r) => {
    const ex = byId.get(id);
    if (!ex) throw new RangeError(`online XTF: micro-batch ${index} row ${r} holds example '${id}', which the initial scoring does not have`);
    if (ex.tokens.length > mb.seqLen) {
      throw new RangeError(`online XTF: example '${id}' has ${ex.tokens.length} tokens as scored but its row holds ${mb.seqLen}: train on the examples as scored (the same maximum length)`);
    }
    for (let t = 0; t < ex.tokens.length; t++) {
      if (mb.ids[r * mb.seqLen + t] !== ex.tokens[t]) {
        throw new RangeError(`online XTF: example '${id}' (micro-batch ${index} row ${r}) differs from its scored tokens at position ${t}: train on the examples as scored`);
      }
    }
    return ex;
  });
}

/** What a resumed online-XTF run must share with the run it continues: the rules that re-score KN and the
 *  fixed RI / TR flags (FNV-1a over every label token's fixed bits). */
export function onlineXtfIdentity(options: Pick<OnlineXtfOptions, 'scored' | 'xtf'>): string {
  const { xtf } = options;
  let h = 0x811c9dc5;
  const mix = (x: number) => (h = Math.imul(h ^ x, 0x01000193) >>> 0);
  for (const ex of options.scored) {
    for (let i = 0; i < ex.id.length; i++) mix(ex.id.charCodeAt(i));
    ex.label.forEach((l, j) => mix(l ? 1 + (ex.flags[j].includes('ri') ? 2 : 0) + (ex.flags[j].includes('tr') ? 4 : 0) : 0));
    mix(0xffffffff);
  }
  const kn = xtf.rules === 'released' ? `kn-max ${xtf.caps.kn}` : `kn-threshold ${xtf.kn.threshold}`;
  const on = (['ri', 'kn', 'tr'] as const).filter((a) => xtf.attributes[a]).join('+') || 'none';
  return `rules ${xtf.rules}, ${kn}, attributes ${on}, fixed flags fnv1a ${h.toString(16).padStart(8, '0')}`;
}
