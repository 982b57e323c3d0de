// The tooltips' account of why a token was kept or masked (src/report/rule-checks.ts): hand-worked
// cases under each rule set, and the property that matters — the checks say "masked" exactly where the
// selection flagged the token — over a whole score file under both rule sets.
import { describe, expect, it } from 'vitest';
import { ruleChecks, ruleChecksSource, type RuleCheck, type RuleContext } from '../../src/report/rule-checks.ts';
import { rulesView } from '../../src/report/xtf-rules-view.ts';
import { explainHtml } from '../../src/report/xtf-explain.ts';
import type { Attribute, DatasetSummary, ScoredExample } from '../../src/xtf/types.ts';
import { fakeScoreFile, releasedFake } from '../xtf/fake-scores.ts';

/** Does this list of checks say the attribute masks the token? Every comparison must point the masking way. */
function says(a: Attribute, checks: RuleCheck[], c: RuleContext): boolean {
  if (checks.length === 0 || checks.some((k) => k.relation === '')) return false;
  if (c.rules === 'paper' && a === 'tr') {
    // The noisy band: at or above cut 1 and, with two cuts, below cut 2.
    return checks.some((k) => k.what.includes('noisy class'));
  }
  return checks.every((k) => (a === 'kn' && c.rules === 'released' ? k.relation === '>' : k.relation === '<'));
}

const released = { ri: { cut: 0.1, fence: 0.05, capped: true }, kn: { cap: 0.97, floor: 0.95 }, tr: { cut: 0.3, cap: 0.2 } };

describe('ruleChecks, worked by hand', () => {
  it('released: each comparison with the answer\'s cuts, KN on p = 1 − S_KN', () => {
    const c: RuleContext = { rules: 'released', cuts: released };
    expect(ruleChecks('ri', 0.08, c)).toEqual([{ relation: '<', what: "the answer's cap (its fence would mask more than ri-max)", value: 0.1 }]);
    expect(ruleChecks('ri', 0.1, c)[0].relation).toBe('≥'); // equal to the cut: kept
    // p = 0.96: above the floor, below the cap: kept.
    expect(ruleChecks('kn', 0.04, c).map((k) => [k.on, k.relation, k.value])).toEqual([['p', '>', 0.95], ['p', '≤', 0.97]]);
    expect(ruleChecks('kn', 0.02, c).map((k) => k.relation)).toEqual(['>', '>']);
    expect(ruleChecks('tr', 0.25, c).map((k) => k.relation)).toEqual(['<', '≥']); // below the cut, above the cap
    expect(ruleChecks('tr', 0.1, c).map((k) => k.relation)).toEqual(['<', '<']);
    expect(ruleChecks('tr', 0.1, { rules: 'released', cuts: { ...released, tr: { cut: null, cap: 0.2 } } })).toEqual([{ relation: '', what: 'no dataset cut (TR masks nothing)', value: null }]);
    expect(ruleChecks('ri', 0.1, { rules: 'released', cuts: null })[0].what).toBe('cuts unknown');
    expect(ruleChecks('ri', null, c)).toEqual([]);
  });

  it('paper: the fence, the threshold and the TR band', () => {
    const c: RuleContext = { rules: 'paper', riFence: 0.02, knThreshold: 0.05, trCuts: [0.3, 0.48] };
    expect(ruleChecks('ri', 0.01, c)).toEqual([{ relation: '<', what: 'fence', value: 0.02 }]);
    expect(ruleChecks('ri', 0.01, { ...c, riFence: null })[0].what).toBe('no fence (< 4 label tokens)');
    expect(ruleChecks('kn', 0.06, c)).toEqual([{ relation: '≥', what: 'threshold', value: 0.05 }]);
    expect(ruleChecks('tr', 0.2, c)).toEqual([{ relation: '<', what: 'cut 1 (lowest class, skipped)', value: 0.3 }]);
    expect(ruleChecks('tr', 0.4, c).map((k) => k.what)).toEqual(['cut 1', 'cut 2 (noisy class)']);
    expect(ruleChecks('tr', 0.5, c)).toEqual([{ relation: '≥', what: 'cut 2 (upper class)', value: 0.48 }]);
    expect(ruleChecks('tr', 0.5, { ...c, trCuts: [0.3, Infinity] })[0].what).toBe('cut 1 (noisy class)');
    expect(ruleChecks('kn', 0.01, { rules: null, knThreshold: null, trCuts: null })[0].what).toBe('thresholds unknown');
  });

  it('is self-contained JavaScript a page can run', () => {
    const fn = new Function(`return (${ruleChecksSource()})`)() as typeof ruleChecks;
    expect(fn('kn', 0.02, { rules: 'released', cuts: released })).toEqual(ruleChecks('kn', 0.02, { rules: 'released', cuts: released }));
    expect(fn('tr', 0.4, { rules: 'paper', trCuts: [0.3, 0.48] })).toEqual(ruleChecks('tr', 0.4, { rules: 'paper', trCuts: [0.3, 0.48] }));
  });
});

describe('the checks agree with the selection, token by token', () => {
  const check = (scored: ScoredExample[], summary: DatasetSummary) => {
    const view = rulesView(summary, scored);
    let flagged = 0;
    for (const ex of scored) {
      const c = view.context(ex);
      ex.label.forEach((l, i) => {
        if (!l) return;
        for (const a of ['ri', 'kn', 'tr'] as Attribute[]) {
          const v = ex[a][i];
          if (v === null) continue;
          const hit = ex.flags[i].includes(a);
          if (hit) flagged++;
          expect(says(a, ruleChecks(a, v, c), c), `${ex.id} token ${i} ${a} = ${v}`).toBe(hit);
        }
      });
    }
    return flagged;
  };

  it('under the paper rules', () => {
    const { scored, summary } = fakeScoreFile(8);
    expect(rulesView(summary, scored).rules).toBe('paper');
    expect(check(scored, summary)).toBeGreaterThan(10);
  });

  it('under the released rules, and the page names the rules, the caps, the domain words and each answer\'s cuts', () => {
    const { scored, summary } = releasedFake();
    expect(rulesView(summary, scored).rules).toBe('released');
    expect(check(scored, summary)).toBeGreaterThan(5);
    const html = explainHtml(scored, summary, { examples: 3 });
    expect(html).toContain('Rules: <b>released</b>');
    expect(html).toContain('tr-max 0.2');
    expect(html).toContain("TR domain: gsm8k&#39;s default words 1 + (2)");
    expect(html).toMatch(/cuts: RI [0-9.e-]+/);
    expect(html).toContain('function ruleChecks');
    expect(html).toContain('data-rc="{&quot;rules&quot;:&quot;released&quot;,&quot;cuts&quot;:{');
    expect(html).not.toContain('Thresholds unknown');
    // Records alone (no summary) still know their rules from the cuts they carry.
    expect(rulesView({ ...summary, rules: null }, scored).rules).toBe('released');
  });
});
