// Exports round-trip the XTF mask: pre-tokenised labels, and Axolotl train_detail character spans.
import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX, exportLine, splitText, toAxolotl, toHf, trainDetail, type TrainDetailSpan } from '../../src/xtf/export.ts';
import { ScoreFileError, codePointLength, parseScoredExample } from '../../src/xtf/scorefile.ts';
import type { ScoredExample } from '../../src/xtf/types.ts';
import { fakeScoreFile } from './fake-scores.ts';

const { scored } = fakeScoreFile(8);

/** Per completion character (code point): does it train, according to the spans? */
function charTrain(spans: TrainDetailSpan[], length: number): boolean[] {
  const out = new Array<boolean | undefined>(length).fill(undefined);
  for (const s of spans) for (let c = s.begin_offset; c <= s.end_offset; c++) {
    expect(out[c], `character ${c} is in two spans`).toBeUndefined();
    out[c] = s.train;
  }
  expect(out.every((x) => x !== undefined), 'spans cover every character').toBe(true);
  return out as boolean[];
}

/**
 * Axolotl's ChatTemplatePrompter.get_offsets_for_train_detail (src/axolotl/prompt_strategies/chat_template.py),
 * restated: token i covers [start_i, start_{i+1} - 1] (the last token to len - 1) and trains when it lies
 * completely inside a span with train true. Here the consumer's tokens are our own completion tokens.
 */
function axolotlTrainedTokens(ex: ScoredExample, content: string, spans: TrainDetailSpan[]): number[] {
  const { ranges } = splitText(ex);
  const nonEmpty = ranges.filter((r) => r.end > r.start);
  const offsets = nonEmpty.map((r, k) => [r.start, k + 1 < nonEmpty.length ? nonEmpty[k + 1].start - 1 : codePointLength(content) - 1]);
  return nonEmpty.filter((_, k) => spans.some((d) => d.train && offsets[k][0] >= d.begin_offset && offsets[k][1] <= d.end_offset)).map((r) => r.token);
}

describe('hf export (input_ids / attention_mask / labels)', () => {
  it('labels are -100 exactly where the weight is 0 (prompt and masked tokens)', () => {
    for (const ex of scored) {
      const r = toHf(ex);
      expect(r.input_ids).toEqual(ex.tokens);
      expect(r.attention_mask).toEqual(ex.tokens.map(() => 1));
      ex.tokens.forEach((t, i) => expect(r.labels[i]).toBe(ex.lossMask[i] === 0 ? IGNORE_INDEX : t));
      expect(r.labels.filter((l) => l !== IGNORE_INDEX).length).toBe(ex.lossMask.filter((w) => w > 0).length);
      expect(Object.keys(JSON.parse(exportLine(ex, 'hf')))).toEqual(['input_ids', 'attention_mask', 'labels']);
    }
  });

  it('appends a trained EOS when asked, once', () => {
    const ex = scored[0];
    const r = toHf(ex, { eosId: 2 });
    expect(r.input_ids.at(-1)).toBe(2);
    expect(r.labels.at(-1)).toBe(2);
    expect(r.input_ids.length).toBe(ex.tokens.length + 1);
    const again = toHf({ ...ex, tokens: r.input_ids, pieces: [...ex.pieces, ''], label: [...ex.label, true], lossMask: [...ex.lossMask, 1], flags: [...ex.flags, []], p: [...ex.p, 0.5], ri: [...ex.ri, 0.1], kn: [...ex.kn, 0.5], tr: [...ex.tr, 0.5] }, { eosId: 2 });
    expect(again.input_ids.length).toBe(r.input_ids.length);
  });
});

describe('axolotl export (chat_template train_detail)', () => {
  it('is a user turn with the prompt and an assistant turn with the completion text', () => {
    const ex = scored[0];
    const rec = toAxolotl(ex);
    expect(rec.id).toBe(ex.id);
    expect(rec.messages[0]).toEqual({ role: 'user', content: ex.pieces.filter((_, i) => !ex.label[i]).join(''), train: false });
    expect(rec.messages[1].role).toBe('assistant');
    expect(rec.messages[1].content).toBe(ex.pieces.filter((_, i) => ex.label[i]).join(''));
    expect(rec.messages[0].content + rec.messages[1].content).toBe(ex.pieces.join(''));
    expect(rec.messages[1].content.startsWith(' Natalia sold 48/2')).toBe(true);
  });

  it('spans cover exactly the kept completion characters, merged, with inclusive ends in code points', () => {
    for (const ex of scored) {
      const { content, spans } = trainDetail(ex);
      const n = codePointLength(content);
      const train = charTrain(spans, n);
      // The expected per-character decision, from the tokens.
      const expected: boolean[] = [];
      ex.tokens.forEach((_, i) => {
        if (ex.label[i]) for (const _c of ex.pieces[i]) expected.push(ex.lossMask[i] !== 0);
      });
      expect(train).toEqual(expected);
      // Merged: neighbours always differ, and they touch.
      spans.forEach((s, k) => {
        expect(s.end_offset).toBeGreaterThanOrEqual(s.begin_offset);
        if (k) {
          expect(s.train).not.toBe(spans[k - 1].train);
          expect(s.begin_offset).toBe(spans[k - 1].end_offset + 1);
        }
      });
      expect(spans[0].begin_offset).toBe(0);
      expect(spans.at(-1)!.end_offset).toBe(n - 1);
      // Read back the way Axolotl reads them, the trained tokens are exactly the kept ones.
      const kept = ex.tokens.map((_, i) => i).filter((i) => ex.label[i] && ex.lossMask[i] !== 0 && ex.pieces[i] !== '');
      expect(axolotlTrainedTokens(ex, content, spans)).toEqual(kept);
    }
  });

  it("counts characters as Python does (an emoji is one), matching Axolotl's own example", () => {
    const edge = scored.find((e) => e.id.startsWith('edge'))!;
    const { content, spans } = trainDetail(edge);
    expect(content).toBe(' It is 5 \u{1F600}\tdone.\n#### 5');
    expect(content.length).toBe(codePointLength(content) + 1);
    expect(spans.at(-1)!.end_offset).toBe(codePointLength(content) - 1);
    // Axolotl's documented example: "I'm doing" is begin 0, end 8 (inclusive).
    const text = "I'm doing very well";
    const words = ["I'm", ' doing', ' very', ' well'];
    const ex: ScoredExample = {
      id: 'doc', tokens: [1, 10, 11, 12, 13], pieces: ['', ...words], label: [false, true, true, true, true],
      p: [null, 0.5, 0.5, 0.99, 0.5], ri: [null, 1, 1, 1, 1], kn: [null, 0.5, 0.5, 0.01, 0.5], tr: [null, 1, 1, 1, 1],
      flags: [[], [], [], ['kn'], []], lossMask: [0, 1, 1, 0, 1],
    };
    expect(trainDetail(ex)).toEqual({
      content: text,
      spans: [
        { begin_offset: 0, end_offset: 8, train: true },
        { begin_offset: 9, end_offset: 13, train: false },
        { begin_offset: 14, end_offset: 18, train: true },
      ],
    });
  });

  it('can drop the leading space of the completion, shifting the spans', () => {
    const ex = scored[0];
    const plain = trainDetail(ex), stripped = trainDetail(ex, { stripLeadingSpace: true });
    expect(stripped.content).toBe(plain.content.slice(1));
    expect(charTrain(stripped.spans, codePointLength(stripped.content))).toEqual(charTrain(plain.spans, codePointLength(plain.content)).slice(1));
  });

  it('an assistant turn with nothing kept does not train at all', () => {
    const ex = { ...scored[0], lossMask: scored[0].lossMask.map(() => 0) };
    const rec = toAxolotl(ex);
    expect(rec.messages[1].train).toBe(false);
    expect(rec.messages[1].train_detail!.every((s) => !s.train)).toBe(true);
    expect(rec.messages[1].train_detail).toHaveLength(1);
  });
});

describe('score file records', () => {
  it('round-trips a record and names what is wrong with a bad one', () => {
    const ex = scored[1];
    expect(parseScoredExample(JSON.stringify(ex))).toEqual(ex);
    expect(() => parseScoredExample('{"id": "x", ')).toThrow(ScoreFileError);
    expect(() => parseScoredExample('[1,2]')).toThrow(/JSON object/);
    expect(() => parseScoredExample(JSON.stringify({ ...ex, lossMask: ex.lossMask.slice(1) }))).toThrow(/"lossMask" has \d+ entries, "tokens" has \d+/);
    // Score files written before the mask had one name call it "weight": still read.
    const { lossMask, ...old } = ex;
    expect(parseScoredExample(JSON.stringify({ ...old, weight: lossMask }))).toEqual(ex);
    expect(() => parseScoredExample(JSON.stringify({ ...ex, flags: ex.flags.map((f, i) => (i === 5 ? ['xx'] : f)) }))).toThrow(/flags\[5\]/);
    expect(() => parseScoredExample(JSON.stringify({ ...ex, lossMask: ex.lossMask.map((w, i) => (i === 0 ? 1 : w)) }))).toThrow(/prompt token 0 has lossMask 1/);
  });
});
