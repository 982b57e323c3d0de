import { describe, expect, it } from 'vitest';
import { chatOptionsFor, chatSegments, FALLBACK_CHAT_TEMPLATE, renderChat } from '../../src/data/chat.ts';
import { DataFormatError } from '../../src/data/jsonl.ts';
import { toTrainRecord } from '../../src/data/records.ts';
import { tokenizeRecord } from '../../src/data/tokenize.ts';
import { HfTokenizer } from '../../src/model/tokenizer-hf.ts';
import { qwenLikeTokenizer } from '../model/hf-fixtures.ts';
import { loadTokenizer } from '../model/stories260k.ts';

// Qwen2.5's template (tools branch removed): a default system message, ChatML turns.
const CHATML = `{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{%- endif %}
{%- for message in messages %}{%- if message.role == "user" or (message.role == "system" and not loop.first) or message.role == "assistant" %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}{%- endif %}{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}`;

const conversation = [
  { role: 'user', content: 'hello' },
  { role: 'assistant', content: 'hello world' },
  { role: 'user', content: 'world' },
  { role: 'assistant', content: 'hello hello' },
];

describe('chat templates', () => {
  it('renders ChatML and marks each assistant content plus its <|im_end|>', () => {
    expect(renderChat(conversation, { template: CHATML })).toBe(
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\nhello world<|im_end|>\n' +
      '<|im_start|>user\nworld<|im_end|>\n<|im_start|>assistant\nhello hello<|im_end|>\n');
    const trained = chatSegments(conversation, { template: CHATML }).filter((s) => s.train).map((s) => s.text);
    expect(trained).toEqual(['hello world<|im_end|>', 'hello hello<|im_end|>']);
  });

  it('turns assistant spans into label tokens with a Qwen-like HF tokenizer (several spans, no BOS)', () => {
    const { tokenizerJson, tokenizerConfig } = qwenLikeTokenizer();
    const tok = new HfTokenizer(tokenizerJson, { ...tokenizerConfig, chat_template: CHATML });
    const record = toTrainRecord({ messages: conversation }, 'chat.jsonl', 1, { chat: chatOptionsFor(tok) });
    const t = tokenizeRecord(tok, record);
    const imEnd = tok.tokenId('<|im_end|>')!;
    expect(t.tokens[0]).toBe(tok.tokenId('<|im_start|>')); // the template's text, no BOS added
    expect(record).toMatchObject({ bos: false, eos: false }); // the template ends turns itself
    // Label runs decode to the assistant contents with their end-of-turn token.
    const runs: number[][] = [];
    t.lossMask.forEach((m, i) => {
      if (!m) return;
      if (i === 0 || !t.lossMask[i - 1]) runs.push([]);
      runs.at(-1)!.push(t.tokens[i]);
    });
    expect(runs.map((r) => tok.decode(r.filter((id) => id !== imEnd)))).toEqual(['hello world', 'hello hello']);
    expect(runs.every((r) => r.at(-1) === imEnd)).toBe(true);
  });

  it('plain records follow the tokenizer on BOS (a Qwen-like one has none) and end with a trained EOS', () => {
    const { tokenizerJson, tokenizerConfig } = qwenLikeTokenizer();
    const tok = new HfTokenizer(tokenizerJson, tokenizerConfig);
    const t = tokenizeRecord(tok, toTrainRecord({ prompt: 'hello', completion: ' world' }, 'f', 1));
    expect(t.tokens).toEqual([...tok.encode('hello world', { bos: false }), tok.eosId]);
    expect(tok.decode(t.tokens.filter((_, i) => t.lossMask[i]))).toBe(' world');
  });

  it('falls back to a plain template for llama2.c tokenizers (stories260K), with BOS and a trained EOS', () => {
    const tok = loadTokenizer();
    expect(chatOptionsFor(tok)).toEqual({});
    const record = toTrainRecord({ messages: [{ role: 'system', content: 'Be kind.' }, { role: 'user', content: 'Tell a story.' }, { role: 'assistant', content: 'Once upon a time.' }] }, 'f', 1, { chat: chatOptionsFor(tok) });
    expect(renderChat([{ role: 'user', content: 'x' }], {})).toBe('<|user|>\nx\n');
    expect(renderChat([{ role: 'user', content: 'x' }], { template: FALLBACK_CHAT_TEMPLATE })).toBe('<|user|>\nx\n');
    const t = tokenizeRecord(tok, record);
    expect(t.tokens[0]).toBe(tok.bosId);
    expect(t.tokens.at(-1)).toBe(tok.eosId);
    const labels = t.tokens.filter((_, i) => t.lossMask[i]);
    expect(tok.decode(labels).trim()).toBe('Once upon a time.');
    // The trailing "\n" after the assistant turn is not a label; EOS is, so the model learns to stop.
    expect(t.lossMask.at(-1)).toBe(true);
  });

  it('honours per-message weight and reports a template that rewrites content', () => {
    const seg = chatSegments([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'skip', train: false }, { role: 'assistant', content: 'keep' }]);
    expect(seg.filter((s) => s.train).map((s) => s.text)).toEqual(['keep']);
    const rewrite = "{% for m in messages %}{{ m['content'] | upper }}{% endfor %}";
    expect(() => toTrainRecord({ messages: [{ role: 'assistant', content: 'abc' }] }, 'c.jsonl', 3, { chat: { template: rewrite } }))
      .toThrow(DataFormatError);
    expect(() => toTrainRecord({ messages: [{ role: 'assistant', content: 'abc' }] }, 'c.jsonl', 3, { chat: { template: rewrite } }))
      .toThrow(/^c\.jsonl:3: field 'messages': message 0 \(assistant\): its content is not in the rendered conversation/);
  });
});
