// Chat messages -> text segments with the assistant turns marked for training. The conversation is rendered
// once with the model's own chat template (Jinja, through @huggingface/jinja) or, for models without one
// (llama2.c), a plain "<|role|>\ncontent\n" template; then each message's content is found in the rendered
// text in order, and the assistant contents (plus an end-of-turn marker right after them) become label spans.
import { Template } from '@huggingface/jinja';
import type { Segment } from './records.ts';

export interface ChatMessage {
  role: string;
  content: string;
  /** Train on this message (default: role === 'assistant'). */
  train?: boolean;
}

export interface ChatTemplateOptions {
  /** Jinja source; undefined -> FALLBACK_CHAT_TEMPLATE. */
  template?: string;
  bosToken?: string;
  eosToken?: string;
}

/** For models with no chat template of their own (llama2.c checkpoints). */
export const FALLBACK_CHAT_TEMPLATE = "{% for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '\n' }}{% endfor %}";

/** End-of-turn texts templates put right after an assistant message; trained so the model learns to stop. */
const END_OF_TURN = ['<|im_end|>', '<|eot_id|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '</s>'];

export class ChatTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChatTemplateError';
  }
}

const compiled = new Map<string, Template>();

export function renderChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
  const source = options.template ?? FALLBACK_CHAT_TEMPLATE;
  let template = compiled.get(source);
  if (!template) {
    try {
      template = new Template(source);
    } catch (e) {
      throw new ChatTemplateError(`the chat template does not parse: ${(e as Error).message}`);
    }
    compiled.set(source, template);
  }
  try {
    return template.render({
      messages: messages.map(({ role, content }) => ({ role, content })),
      add_generation_prompt: false,
      bos_token: options.bosToken ?? '',
      eos_token: options.eosToken ?? '',
    });
  } catch (e) {
    throw new ChatTemplateError(`the chat template fails on this conversation: ${(e as Error).message}`);
  }
}

/** Rendered conversation as segments; trained messages' content (and a following end-of-turn marker) train. */
export function chatSegments(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): Segment[] {
  const text = renderChat(messages, options);
  const ends = options.eosToken ? [options.eosToken, ...END_OF_TURN] : END_OF_TURN;
  const segments: Segment[] = [];
  let cursor = 0, emitted = 0;
  for (const [i, m] of messages.entries()) {
    if (m.content === '') continue;
    // Templates sometimes trim content; look for it as given, then trimmed.
    let content = m.content, at = text.indexOf(content, cursor);
    if (at < 0) {
      content = m.content.trim();
      at = content === '' ? -1 : text.indexOf(content, cursor);
    }
    if (at < 0) throw new ChatTemplateError(`message ${i} (${m.role}): its content is not in the rendered conversation; the template rewrites content, so label spans cannot be found`);
    let end = at + content.length;
    const train = m.train ?? m.role === 'assistant';
    if (train) {
      const marker = ends.find((e) => e !== '' && text.startsWith(e, end));
      if (marker) end += marker.length;
      if (at > emitted) segments.push({ text: text.slice(emitted, at), train: false });
      segments.push({ text: text.slice(at, end), train: true });
      emitted = end;
    }
    cursor = end;
  }
  if (emitted < text.length) segments.push({ text: text.slice(emitted), train: false });
  return segments;
}

/** The chat template options of a tokenizer: its own template (HfTokenizer.chatTemplate) and special tokens;
 *  a tokenizer without a template (llama2.c) gets the fallback and no special-token text. */
export function chatOptionsFor(tokenizer: { chatTemplate?: string; bosId: number; eosId: number; piece(id: number): string }): ChatTemplateOptions {
  if (tokenizer.chatTemplate === undefined) return {};
  return { template: tokenizer.chatTemplate, bosToken: tokenizer.piece(tokenizer.bosId), eosToken: tokenizer.piece(tokenizer.eosId) };
}
