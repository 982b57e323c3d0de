// The score step's HTML: how much each attribute masks (and their overlaps), the token heatmap (masked
// tokens coloured by the attribute that flagged them) and the tooltip of one token's scores. Pure: the
// page puts the strings where they go.
import { escapeHtml, visiblePiece } from '../src/report/html.ts';
import { ruleChecks, type RuleContext } from '../src/report/rule-checks.ts';
import type { Attribute, DatasetSummary, ScoredExample } from '../src/xtf/types.ts';
import { count, fmt } from './format.ts';

/** One bar per attribute and for their union, the overlaps, the token types each masks most, and the rules
 *  in words (what rulesLine says). */
export function fractionsHtml(s: DatasetSummary, ms: number, rules: string): string {
  const masked = Math.round(s.fractionMasked * s.labelTokens);
  const bar = (cls: string, name: string, f: number) =>
    `<div class="frac"><span class="tag ${cls}">${name}</span><div class="track"><div class="fill ${cls}" style="width:${(100 * f).toFixed(1)}%"></div></div><b>${(100 * f).toFixed(1)}%</b></div>`;
  const overlaps = s.overlaps.map((o) => `${o.pair[0].toUpperCase()}∩${o.pair[1].toUpperCase()} ${o.count} (${(100 * o.overlap).toFixed(0)}%)`).join(' · ');
  return bar('ri', 'RI', s.fractionFlagged.ri) + bar('kn', 'KN', s.fractionFlagged.kn) + bar('tr', 'TR', s.fractionFlagged.tr) + bar('all', 'any', s.fractionMasked) +
    `<p class="small muted">${count(masked)} of ${count(s.labelTokens)} label tokens masked · overlaps ${overlaps || '—'} · re-selected in ${ms.toFixed(0)} ms</p>` +
    (rules ? `<p class="small muted" data-testid="rules-used">${escapeHtml(rules)}</p>` : '') +
    `<p class="small muted">most masked: ${(['ri', 'kn', 'tr'] as const).map((a) => `<span class="tag ${a}">${a.toUpperCase()}</span> ${s.mostFlagged[a].slice(0, 5).map((t) => `<code>${visiblePiece(t.piece)}</code>`).join(' ') || '—'}`).join(' ')}</p>`;
}

/** The examples' tokens; data-e / data-t (example, token) let the page find a hovered token's scores. */
export function heatmapHtml(examples: readonly ScoredExample[]): string {
  return examples.map((ex, e) => {
    const spans = ex.pieces.map((piece, t) => {
      if (piece === '' && !ex.label[t]) return ''; // BOS and other empty prompt pieces
      let cls = 'tok';
      if (!ex.label[t]) cls += ' prompt';
      else if (ex.flags[t].length > 0) cls += ` m ${ex.flags[t].length > 1 ? 'multi' : ex.flags[t][0]}`;
      return `<span class="${cls}" data-e="${e}" data-t="${t}">${visiblePiece(piece)}</span>`;
    });
    return `<div class="ex"><div class="exid">${escapeHtml(ex.id)}</div><div class="toks">${spans.join('')}</div></div>`;
  }).join('');
}

/** Token t's scores beside the cuts that judged them (./rule-checks.ts), and the verdict. */
export function tokenTipHtml(ex: ScoredExample, t: number, context: RuleContext): string {
  if (!ex.label[t]) return `<div class="tp">${visiblePiece(ex.pieces[t])}</div><div class="muted">prompt token: never trained on</div>`;
  const flags = ex.flags[t];
  const why = (a: Attribute) => ruleChecks(a, ex[a][t], context)
    .map((c) => `${c.on ? `${c.on} ` : ''}${c.relation ? `${escapeHtml(c.relation)} ` : ''}${escapeHtml(c.what)}${c.value === null ? '' : ` ${fmt(c.value)}`}`)
    .join(', ');
  return `<div class="tp">${visiblePiece(ex.pieces[t])}</div>
       <div>p <b>${fmt(ex.p[t])}</b></div>
${(['ri', 'kn', 'tr'] as const).map((a) => `       <div><span class="tag ${a}">${a.toUpperCase()}</span> ${fmt(ex[a][t])} <span class="muted">${why(a)}</span></div>`).join('\n')}
       <div class="verdict ${flags.length ? 'masked' : 'kept'}">${flags.length ? `masked by ${flags.map((f) => f.toUpperCase()).join(' + ')}` : 'kept: trained on'}</div>`;
}
