// Small hand-made Hugging Face style artefacts: a byte-level BPE vocabulary (GPT-2 / Qwen style) and an
// in-memory folder reader.
import type { ReadFile } from '../../src/model/hf.ts';
import type { TokenizerJson } from '../../src/model/tokenizer-hf.ts';

/** GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest map to U+0100 onwards. */
export function byteToUnicode(): string[] {
  const map: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    map[b] = String.fromCodePoint(printable ? b : next++);
  }
  return map;
}

/** A byte-level vocabulary: 256 byte symbols, the merged pieces, then the special tokens. */
export function byteLevelVocab(merges: [string, string][], specials: string[]): { tokens: string[]; merges: string[]; specialIds: Record<string, number> } {
  const tokens = [...byteToUnicode()];
  for (const [a, b] of merges) tokens.push(a + b);
  const specialIds: Record<string, number> = {};
  for (const s of specials) specialIds[s] = tokens.push(s) - 1;
  return { tokens, merges: merges.map(([a, b]) => `${a} ${b}`), specialIds };
}

/** Ġ is the byte-level symbol of a space. */
export const QWEN_LIKE_MERGES: [string, string][] = [['h', 'e'], ['l', 'l'], ['he', 'll'], ['hell', 'o'], ['Ġ', 'w'], ['o', 'r'], ['Ġw', 'or'], ['l', 'd'], ['Ġwor', 'ld']];
export const QWEN_LIKE_SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** A Qwen2-style tokenizer.json (Split regex + ByteLevel, no BOS) with its tokenizer_config.json. */
export function qwenLikeTokenizer(): { tokenizerJson: TokenizerJson; tokenizerConfig: Record<string, unknown>; tokens: string[] } {
  const { tokens, merges, specialIds } = byteLevelVocab(QWEN_LIKE_MERGES, QWEN_LIKE_SPECIALS);
  const regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  return {
    tokens,
    tokenizerJson: {
      version: '1.0',
      added_tokens: QWEN_LIKE_SPECIALS.map((content) => ({ id: specialIds[content], content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: { type: 'NFC' },
      pre_tokenizer: {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false },
          { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
        ],
      },
      post_processor: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false,
        vocab: Object.fromEntries(tokens.slice(0, 256 + QWEN_LIKE_MERGES.length).map((t, i) => [t, i])), merges },
    },
    tokenizerConfig: {
      add_prefix_space: false,
      bos_token: null,
      eos_token: '<|im_end|>',
      pad_token: '<|endoftext|>',
      chat_template: "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
      clean_up_tokenization_spaces: false,
      tokenizer_class: 'Qwen2Tokenizer',
    },
  };
}

export function json(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

/** An in-memory folder; `reads` records every file asked for. */
export function memoryFolder(files: Record<string, Uint8Array>, reads: string[] = []): ReadFile {
  return async (file) => {
    reads.push(file);
    return files[file] ?? null;
  };
}
