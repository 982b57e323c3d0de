// The explanation page: content, escaping, and what a person sees in a real (headless) Chromium.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { visiblePiece } from '../../src/report/html.ts';
import { explainHtml } from '../../src/report/xtf-explain.ts';
import { fmtNum } from '../../src/report/xtf-format.ts';
import { summaryFromRecords } from '../../src/xtf/explain.ts';
import type { Attribute } from '../../src/xtf/types.ts';
import { fakeScoreFile, releasedFake } from '../xtf/fake-scores.ts';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const OUT = new URL('../../test-output/', import.meta.url);

describe('explainHtml', () => {
  const { scored, summary } = fakeScoreFile(8);

  it('draws the summary, three histograms with their thresholds, and the chosen examples', () => {
    const html = explainHtml(scored, summary, { examples: 3, title: 'GSM8K <test>' });
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('<title>GSM8K &lt;test&gt;</title>');
    expect(html.match(/<article class="card ex"/g)).toHaveLength(3);
    expect(html.match(/<figure class="hist"/g)).toHaveLength(3);
    expect(html).toContain('threshold 0.05');
    expect(html).toContain('cut 1: 0.3');
    expect(html).toContain('cut 2: 0.48');
    expect(html).toMatch(/median fence [0-9.e-]+/);
    expect(html).toContain('1,844 tok/s');
    // Self-contained: no external scripts, styles, images or fonts.
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
    expect(html).not.toMatch(/url\(|@import|https?:\/\//);
  });

  it('escapes every text and keeps whitespace visible', () => {
    const html = explainHtml(scored, summary, { examples: ['edge <b>&"quotes"'] });
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<b>&');
    expect(html).toContain('edge &lt;b&gt;&amp;&quot;quotes&quot;');
    expect(visiblePiece('\n')).toBe('<span class="ws">↵</span>\n');
    expect(visiblePiece(' ')).toBe('<span class="ws">·</span>');
    expect(visiblePiece(' a<')).toBe(' a&lt;');
    expect(visiblePiece('\t')).toContain('⇥');
    expect(visiblePiece('\u0001')).toContain('\u2401');
  });

  it('picks examples by id in the given order and rejects unknown ids', () => {
    const html = explainHtml(scored, summary, { examples: ['gsm8k-train-2', 'gsm8k-train-0'] });
    const ids = [...html.matchAll(/<article class="card ex" id="ex-([^"]+)"/g)].map((m) => m[1]);
    expect(ids).toEqual(['gsm8k-train-2', 'gsm8k-train-0']);
    expect(() => explainHtml(scored, summary, { examples: ['gsm8k-train-0', 'nope'] })).toThrow(/no example with id "nope"/);
    expect(explainHtml(scored, summary).match(/<article class="card ex"/g)).toHaveLength(scored.length); // default 20 > 9
  });

  it('works without thresholds, from the records alone', () => {
    const basic = summaryFromRecords(scored);
    expect(basic.thresholds).toBeNull();
    const labels = scored.flatMap((e) => e.label.filter(Boolean)).length;
    const masked = scored.flatMap((e) => e.lossMask.filter((w, i) => e.label[i] && w === 0)).length;
    expect(basic.labelTokens).toBe(labels);
    expect(basic.fractionMasked).toBeCloseTo(masked / labels, 12);
    for (const a of ['ri', 'kn', 'tr'] as Attribute[]) {
      const n = scored.flatMap((e) => e.flags.filter((f) => f.includes(a))).length;
      expect(basic.fractionFlagged[a]).toBeCloseTo(n / labels, 12);
    }
    const knTr = basic.overlaps.find((o) => o.pair.join() === 'kn,tr')!;
    expect(knTr.count).toBe(scored.flatMap((e) => e.flags.filter((f) => f.includes('kn') && f.includes('tr'))).length);
    const html = explainHtml(scored, basic, { examples: 2 });
    expect(html).toContain('Thresholds unknown');
    expect(html).not.toContain('threshold 0.05');
  });

  it('formats numbers compactly', () => {
    expect(fmtNum(null)).toBe('—');
    expect(fmtNum(0.25)).toBe('0.25');
    expect(fmtNum(0.0012345)).toBe('1.23e-3');
    expect(fmtNum(12345.6)).toBe('12,346');
  });
});

describe.skipIf(!existsSync(CHROMIUM))('explain page in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('shows masked tokens by attribute and a tooltip with the scores on hover', async () => {
    const { scored, summary } = fakeScoreFile(8);
    const chosen = ['gsm8k-train-0', 'gsm8k-train-1', 'edge <b>&"quotes"'];
    const html = explainHtml(scored, summary, { examples: chosen, title: 'XTF on GSM8K (stories260K tokenizer, invented scores)' });
    mkdirSync(OUT, { recursive: true });
    const file = new URL('xtf-explain.html', OUT);
    writeFileSync(file, html);

    const page = await browser.newPage({ viewport: { width: 1240, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(file.href);

    // Every masked label token is drawn with the classes of exactly its flags.
    const ex0 = scored.find((e) => e.id === 'gsm8k-train-0')!;
    const tokens = page.locator('#ex-gsm8k-train-0 .t');
    expect(await tokens.count()).toBe(ex0.tokens.length);
    const classes = await tokens.evaluateAll((els) => els.map((e) => e.className));
    ex0.tokens.forEach((_, i) => {
      if (!ex0.label[i]) expect(classes[i]).toBe('t p');
      else if (ex0.lossMask[i] !== 0) expect(classes[i]).toBe('t l');
      else expect(classes[i]).toBe(`t l m c-${(['ri', 'kn', 'tr'] as Attribute[]).filter((a) => ex0.flags[i].includes(a)).join('-')}`);
    });
    for (const a of ['ri', 'kn', 'tr'] as Attribute[]) {
      const expected = ex0.flags.filter((f) => f.includes(a)).length;
      expect(await page.locator(`#ex-gsm8k-train-0 .t.m[class*="${a}"]`).count()).toBe(expected);
    }
    // Different attributes look different (background colours of single-flag tokens).
    const bg = async (cls: string) => page.locator(`.ex .t.${cls}`).first().evaluate((e) => getComputedStyle(e).backgroundColor);
    const colours = new Set([await bg('c-ri'), await bg('c-kn'), await bg('c-tr')]);
    expect(colours.size).toBe(3);

    // Hover a token flagged by KN: the tooltip shows p and the three scores, and says why it is masked.
    const i = ex0.tokens.findIndex((_, k) => ex0.flags[k].includes('kn'));
    const target = tokens.nth(i);
    await target.hover();
    const tip = page.locator('#tip');
    await expect.poll(() => tip.isVisible()).toBe(true);
    const text = await tip.innerText();
    expect(text).toContain('S_RI');
    expect(text).toContain('S_KN');
    expect(text).toContain('S_TR');
    expect(text).toMatch(/MASKED · flagged by .*KN/);
    const fmt4 = (v: number) => { const x = Number(v.toPrecision(6)); return Math.abs(x) >= 0.01 ? String(+x.toFixed(4)) : x.toExponential(2); };
    expect(text).toContain(fmt4(ex0.p[i]!));
    expect(text).toContain(fmt4(ex0.kn[i]!));
    expect(text).toContain('threshold 0.05');
    // A kept token says so.
    await tokens.nth(ex0.lossMask.findIndex((w) => w === 1)).hover();
    await expect.poll(() => tip.innerText()).toMatch(/KEPT/);
    // Prompt tokens are greyed and explained as such.
    expect(await tokens.nth(3).evaluate((e) => getComputedStyle(e).color)).not.toBe(await tokens.nth(ex0.lossMask.findIndex((w) => w === 1)).evaluate((e) => getComputedStyle(e).color));

    // Put the tooltip over a masked token for the screenshot.
    await page.mouse.move(0, 0);
    await page.screenshot({ path: new URL('xtf-explain.png', OUT).pathname, fullPage: true });
    await target.scrollIntoViewIfNeeded();
    await target.hover();
    await page.screenshot({ path: new URL('xtf-explain-hover.png', OUT).pathname });

    expect(errors).toEqual([]);
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
    await page.close();
  });

  it("under the released rules the tooltip compares the token with its answer's cuts", async () => {
    const { scored, summary } = releasedFake();
    const ex = scored.find((e) => e.flags.some((f) => f.length > 0))!;
    const html = explainHtml(scored, summary, { examples: [ex.id] });
    const file = new URL('xtf-explain-released.html', OUT);
    mkdirSync(OUT, { recursive: true });
    writeFileSync(file, html);
    const page = await browser.newPage({ viewport: { width: 1240, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(file.href);
    const i = ex.flags.findIndex((f) => f.length > 0);
    const a = ex.flags[i][0];
    await page.locator(`#ex-${ex.id} .t`).nth(i).hover();
    const tip = page.locator('#tip');
    await expect.poll(() => tip.isVisible()).toBe(true);
    const text = await tip.innerText();
    const cut = a === 'ri' ? ex.cuts!.ri.cut! : a === 'kn' ? ex.cuts!.kn.cap! : ex.cuts!.tr.cut!;
    expect(text).toContain(fmtNum(cut).slice(0, 4));
    expect(text).toMatch(a === 'kn' ? /p > floor 0\.95, p > the answer's kn-max cap/ : a === 'tr' ? /< dataset cut .*< the answer's tr-max cap/ : /< (fence|the answer's cap)/);
    expect(text).toMatch(/MASKED/);
    await page.screenshot({ path: new URL('xtf-explain-released-hover.png', OUT).pathname });
    expect(errors).toEqual([]);
    await page.close();
  });
});
