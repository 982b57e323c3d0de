// An experiment's preparation, done once and kept in its store: the training records scored with XTF
// (through the one token path, so the masks index the trainer's tokens), the reference model of SLM /
// Token Cleaning trained with the same recipe on clean records, and every filter's mask. Only when an
// opt-in filter pins the rule set the experiment does not use ('xtf-paper' / 'xtf-released'), the records
// are scored once more under that rule set (scores.<rules>.jsonl beside scores.jsonl).
import { tokenizeRecords, unfiltered } from '../data/tokenize.ts';
import { explainHtml } from '../report/xtf-explain.ts';
import { finetune } from '../train/finetune.ts';
import { referenceTokenLosses } from '../xtf/slm-online.ts';
import { scoreExamples } from '../xtf/score.ts';
import type { ExperimentConfig } from './config.ts';
import type { Attribute, ScoredExample } from '../xtf/types.ts';
import { noiseTokens, ONLINE_FILTERS, pinnedRules, seedFreeMasks, xtfSelection, type FilterName } from './filters.ts';
import type { ExperimentSummary } from './report.ts';
import type { ExperimentContext, ExperimentData, ExperimentEvent } from './context.ts';

/** What preparation leaves for the runs: token ids, each filter's loss mask as '0'/'1' strings per example. */
export interface Prepared {
  ids: string[];
  tokens: number[][];
  normal: string[];
  masks: Partial<Record<FilterName, { maskedFraction: number; lossMask: string[] }>>;
  /** XTF's masked fraction (the random control masks as much). */
  xtfFraction: number;
  xtf: ExperimentSummary['xtf'];
  /** Injected-noise label tokens as '0'/'1' strings, or null without known noise. */
  noise: string[] | null;
  /** Online SLM: the reference model's loss of every token of every example (null where none). */
  referenceLoss?: (number | null)[][];
  /** Online XTF: per example, per token, '-' where the token is not a label token, else the digit
   *  ri | kn << 1 | tr << 2 of XTF's flags (all three attributes, the experiment's rules); the selector
   *  keeps the RI / TR bits and re-scores KN. See onlineXtfScored. */
  xtfFlags?: string[];
}

const FLAG_BITS: Record<Attribute, number> = { ri: 1, kn: 2, tr: 4 };
const flagChars = (ex: ScoredExample) => ex.label.map((l, j) => (l ? String(ex.flags[j].reduce((b, a) => b | FLAG_BITS[a], 0)) : '-')).join('');

/** The initial scoring online XTF needs (id, tokens, label tokens, flags), read back from prepared.json. */
export function onlineXtfScored(prepared: Prepared): Pick<ScoredExample, 'id' | 'tokens' | 'label' | 'flags'>[] {
  if (!prepared.xtfFlags) throw new Error("filter 'xtf-online' needs XTF's flags of every example (prepare did not store them)");
  return prepared.xtfFlags.map((row, e) => ({
    id: prepared.ids[e],
    tokens: prepared.tokens[e],
    label: Array.from(row, (c) => c !== '-'),
    flags: Array.from(row, (c) => (c === '-' ? [] : (['ri', 'kn', 'tr'] as const).filter((a) => Number(c) & FLAG_BITS[a]))),
  }));
}

const bits = (w: readonly number[]) => w.map((x) => (x > 0 ? '1' : '0')).join('');
const parseOr = <T>(text: string | null): T | null => (text === null ? null : (JSON.parse(text) as T));

/** Tokens, scores and every filter's mask; read back from the store when an earlier session built them.
 *  Also writes XTF's scores to the store: scores.jsonl and scores.summary.json (`xtf explain`, `xtf export`)
 *  and xtf-scores.html (the token heatmap). */
export async function prepare(config: ExperimentConfig, data: ExperimentData, ctx: ExperimentContext, maxLen: number): Promise<Prepared> {
  const { model, tokenizer, store } = ctx;
  const emit = (e: ExperimentEvent) => ctx.onEvent?.(e);
  // Random (per seed) and online SLM / XTF (per step) have no mask to prepare; online SLM needs the
  // reference losses, online XTF the flags of the initial scoring.
  const wanted = config.filters.filter((f) => f !== 'random' && !ONLINE_FILTERS.includes(f));
  const online = config.filters.includes('slm-online');
  const onlineXtf = config.filters.includes('xtf-online');
  const cached = parseOr<Prepared>(await store.read('prepared.json'));
  if (cached && wanted.every((f) => cached.masks[f]) && (!online || cached.referenceLoss) && (!onlineXtf || cached.xtfFlags)) return cached;
  // Random needs XTF's fraction; XTF variants, STM and the oracle share one scoring pass.
  emit({ type: 'phase', text: `scoring ${data.train.length} training examples with XTF` });
  const xtf = { ...config.xtf, maxSeqLen: maxLen };
  const { scored, summary } = await scoreExamples(model, tokenizer, data.train, { xtf, baselines: config.baselines, task: config.task, onProgress: (progress) => emit({ type: 'score-progress', what: 'xtf', progress }) });
  await store.write('scores.jsonl', scored.map((ex) => JSON.stringify(ex) + '\n').join(''));
  await store.write('scores.summary.json', JSON.stringify(summary, null, 2) + '\n');
  await store.write('xtf-scores.html', explainHtml(scored, summary, { examples: 12, title: `XTF token scores: ${scored.length} training examples of ${config.data}` }));
  const noise = data.noise ?? undefined;
  const trCut = summary.rules?.released?.tr.cut ?? null;
  const inputs: Parameters<typeof seedFreeMasks>[1] = { scored, xtf, baselines: config.baselines, noise, trCut };
  // XTF pinned to the rule set the experiment does not use: the records scored once more under it.
  const otherRules = [...new Set(wanted.map(pinnedRules))].find((r) => r !== null && r !== xtf.rules);
  if (otherRules) {
    emit({ type: 'phase', text: `scoring ${data.train.length} training examples with XTF under the ${otherRules} rules` });
    const other = await scoreExamples(model, tokenizer, data.train, { xtf: { ...xtf, rules: otherRules }, baselines: config.baselines, task: config.task, onProgress: (progress) => emit({ type: 'score-progress', what: `xtf, ${otherRules} rules`, progress }) });
    await store.write(`scores.${otherRules}.jsonl`, other.scored.map((ex) => JSON.stringify(ex) + '\n').join(''));
    await store.write(`scores.${otherRules}.summary.json`, JSON.stringify(other.summary, null, 2) + '\n');
    inputs.otherRules = { rules: otherRules, scored: other.scored, trCut: other.summary.rules?.released?.tr.cut ?? null };
  }
  const needReference = wanted.filter((f) => f === 'slm' || f === 'tc');
  let referenceLoss: Prepared['referenceLoss'];
  if (needReference.length > 0 || online) {
    if (data.reference.length === 0) throw new RangeError(`filters ${[...needReference, ...(online ? ['slm-online'] : [])].join(', ')} need clean reference examples to train the reference model`);
    emit({ type: 'phase', text: `training the reference model on ${data.reference.length} clean examples (${config.referenceEpochs} epochs)` });
    const reference = ctx.newModel();
    try {
      const records = tokenizeRecords(tokenizer, data.reference, { maxLength: maxLen }).examples;
      // The same recipe as every run, for the reference epochs, seed 0.
      await finetune({ model: reference, config: { ...config.finetune, epochs: config.referenceEpochs, steps: undefined, seed: 0 }, examples: records.map(unfiltered), padId: tokenizer.eosId });
      await store.saveAdapter?.('reference-adapter', reference);
      if (online) {
        emit({ type: 'phase', text: "the reference model's token losses (online SLM)" });
        const r = await referenceTokenLosses(reference, tokenizer, data.train, { xtf, onProgress: (progress) => emit({ type: 'score-progress', what: 'reference', progress }) });
        referenceLoss = r.scored.map((ex) => r.referenceLoss.get(ex.id)!);
      }
      for (const method of needReference) {
        emit({ type: 'phase', text: `scoring with ${method === 'slm' ? 'SLM' : 'Token Cleaning'} against the reference model` });
        const r = await scoreExamples(model, tokenizer, data.train, { method, reference, xtf, baselines: config.baselines, onProgress: (progress) => emit({ type: 'score-progress', what: method, progress }) });
        inputs[method] = r.scored.map((ex) => ex.lossMask);
      }
    } finally {
      reference.release();
    }
  }
  // Normal (the label tokens) and XTF (the random control's fraction) are needed whichever filters run.
  const masks = seedFreeMasks([...new Set<FilterName>(['normal', 'xtf', ...wanted])], inputs);
  const prepared: Prepared = {
    ids: scored.map((ex) => ex.id),
    tokens: scored.map((ex) => ex.tokens),
    normal: masks.normal!.lossMask.map(bits),
    masks: Object.fromEntries(Object.entries(masks).map(([f, m]) => [f, { maskedFraction: m.maskedFraction, lossMask: m.lossMask.map(bits) }])),
    xtfFraction: masks.xtf!.maskedFraction,
    xtf: { fractionMasked: summary.fractionMasked, fractionFlagged: summary.fractionFlagged, seconds: summary.seconds, rules: summary.rules },
    noise: noise ? noiseTokens(scored, noise).map((row) => row.map((x) => (x ? '1' : '0')).join('')) : null,
    ...(referenceLoss ? { referenceLoss } : {}),
    // The flags of 'xtf' (all three attributes, the experiment's rules), as online XTF starts from them.
    ...(onlineXtf ? { xtfFlags: xtfSelection(scored, xtf, ['ri', 'kn', 'tr'], trCut).map(flagChars) } : {}),
  };
  await store.write('prepared.json', JSON.stringify(prepared) + '\n');
  return prepared;
}
