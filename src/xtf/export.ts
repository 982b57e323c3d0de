// Exports of a score file for other trainers (docs/exports.md has the consuming configs).
//   'hf'      {input_ids, attention_mask, labels}: labels = -100 on prompt and masked tokens — the
//             pre-tokenised form of Hugging Face TRL, Axolotl (empty `type:`) and torchtune. Token ids are
//             the scoring model's, so it only fits a model with that tokenizer.
//   'axolotl' a conversation {messages: [user = prompt, assistant = completion + train_detail]} where
//             train_detail lists character spans of the completion with train true/false, the form of
//             Axolotl's chat_template `message_field_training_detail`: begin_offset and end_offset are
//             INCLUSIVE indices into the message content in code points (Python str indices), see
//             axolotl src/axolotl/prompt_strategies/chat_template.py get_offsets_for_train_detail.
import { codePointLength } from './scorefile.ts';
import type { ScoredExample } from './types.ts';

export type ExportFormat = 'hf' | 'axolotl';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['hf', 'axolotl'];

/** The label value Hugging Face / PyTorch cross-entropy ignores. */
export const IGNORE_INDEX = -100;

export interface HfRecord {
  input_ids: number[];
  attention_mask: number[];
  labels: number[];
}

export interface HfExportOptions {
  /**
   * Append this EOS id (trained) when the example does not already end with it. Axolotl's pre-tokenised
   * format asks for BOS and EOS, trained on EOS; the scorer's records carry no EOS. Default: none.
   */
  eosId?: number;
}

/** labels[i] = tokens[i] on kept label tokens (lossMask 1), -100 on prompt and masked tokens. */
export function toHf(ex: ScoredExample, opts: HfExportOptions = {}): HfRecord {
  const input_ids = ex.tokens.slice();
  const labels = ex.tokens.map((t, i) => (ex.label[i] && ex.lossMask[i] !== 0 ? t : IGNORE_INDEX));
  if (opts.eosId !== undefined && input_ids[input_ids.length - 1] !== opts.eosId) {
    input_ids.push(opts.eosId);
    labels.push(opts.eosId);
  }
  return { input_ids, attention_mask: input_ids.map(() => 1), labels };
}

export interface TrainDetailSpan {
  /** First character (code point index into the content), inclusive. */
  begin_offset: number;
  /** Last character, inclusive (Axolotl's convention: "I'm doing" in "I'm doing very..." is 0..8). */
  end_offset: number;
  train: boolean;
}

export interface AxolotlMessage {
  role: 'user' | 'assistant';
  content: string;
  /** message_field_training: the user turn never trains; the assistant turn trains when any character is kept. */
  train: boolean;
  /** message_field_training_detail (assistant only). */
  train_detail?: TrainDetailSpan[];
}

export interface AxolotlRecord {
  id: string;
  messages: [AxolotlMessage, AxolotlMessage];
}

export interface AxolotlExportOptions {
  /**
   * Drop one leading space from the completion (the llama2.c/SentencePiece convention puts the word
   * separator at the start of a piece, so a completion that follows its prompt directly starts with " ").
   * Default false: the content is exactly the completion pieces joined.
   */
  stripLeadingSpace?: boolean;
}

/** Prompt and completion text with, per completion token, its character range [start, end) in code points. */
export function splitText(ex: ScoredExample): { prompt: string; completion: string; ranges: { token: number; start: number; end: number }[] } {
  let prompt = '', completion = '', at = 0;
  const ranges: { token: number; start: number; end: number }[] = [];
  for (let i = 0; i < ex.tokens.length; i++) {
    if (!ex.label[i]) {
      prompt += ex.pieces[i];
      continue;
    }
    const len = codePointLength(ex.pieces[i]);
    completion += ex.pieces[i];
    ranges.push({ token: i, start: at, end: at + len });
    at += len;
  }
  return { prompt, completion, ranges };
}

/**
 * Character spans over the whole completion, adjacent tokens with the same decision merged; a character
 * trains when the token it belongs to is kept (label and lossMask 1). Tokens with an empty piece cover no
 * character and are skipped.
 */
export function trainDetail(ex: ScoredExample, opts: AxolotlExportOptions = {}): { content: string; spans: TrainDetailSpan[] } {
  const { completion, ranges } = splitText(ex);
  let content = completion, shift = 0;
  if (opts.stripLeadingSpace && content.startsWith(' ')) {
    content = content.slice(1);
    shift = 1;
  }
  const spans: TrainDetailSpan[] = [];
  for (const r of ranges) {
    const start = Math.max(r.start - shift, 0), end = r.end - shift;
    if (end <= start) continue;
    const train = ex.lossMask[r.token] !== 0;
    const last = spans[spans.length - 1];
    if (last && last.train === train && last.end_offset === start - 1) last.end_offset = end - 1;
    else spans.push({ begin_offset: start, end_offset: end - 1, train });
  }
  return { content, spans };
}

export function toAxolotl(ex: ScoredExample, opts: AxolotlExportOptions = {}): AxolotlRecord {
  const { prompt } = splitText(ex);
  const { content, spans } = trainDetail(ex, opts);
  return {
    id: ex.id,
    messages: [
      { role: 'user', content: prompt, train: false },
      { role: 'assistant', content, train: spans.some((s) => s.train), train_detail: spans },
    ],
  };
}

export interface ExportOptions extends HfExportOptions, AxolotlExportOptions {}

/** One output JSONL line (without the newline). */
export function exportLine(ex: ScoredExample, format: ExportFormat, opts: ExportOptions = {}): string {
  if (format === 'hf') return JSON.stringify(toHf(ex, opts));
  if (format === 'axolotl') return JSON.stringify(toAxolotl(ex, opts));
  throw new RangeError(`export format must be ${EXPORT_FORMATS.join(' or ')}, got ${JSON.stringify(format)}`);
}
