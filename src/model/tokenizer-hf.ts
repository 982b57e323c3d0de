// Hugging Face tokenizer.json (+ tokenizer_config.json) through @huggingface/tokenizers, behind the project's
// Tokenizer interface; and the reverse: a llama2.c vocabulary written as a Llama-2-style tokenizer.json.

import { Tokenizer as HfLibraryTokenizer } from '@huggingface/tokenizers';
import { TokenizerFormatError } from './errors.ts';
import type { EncodeOptions, Tokenizer } from './tokenizer.ts';
import type { Llama2cTokenizer } from './tokenizer-llama2c.ts';

/** tokenizer.json, as far as this module reads it. */
export interface TokenizerJson {
  model: { type?: string; vocab?: unknown; merges?: unknown; [key: string]: unknown };
  added_tokens?: { id: number; content: string; special?: boolean }[];
  normalizer: unknown;
  pre_tokenizer: unknown;
  post_processor: unknown;
  decoder: unknown;
  [key: string]: unknown;
}

/** tokenizer_config.json: special tokens are strings or AddedToken objects ({ content: "<s>", ... }). */
export type TokenizerConfigJson = Record<string, unknown>;

export interface HfTokenizerOptions {
  /** Folder or file name for messages. */
  name?: string;
  /** config.json's bos_token_id / eos_token_id: used when tokenizer_config.json names no BOS / EOS token. */
  bosTokenId?: number;
  eosTokenId?: number | number[];
}

export class HfTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Whether encode() prepends BOS by default: tokenizer_config's add_bos_token, else what the post-processor does. */
  readonly addBos: boolean;
  /** The default chat template (Jinja source) of tokenizer_config.json, if any. */
  readonly chatTemplate: string | undefined;
  private readonly library: HfLibraryTokenizer;

  constructor(readonly json: TokenizerJson, readonly config: TokenizerConfigJson = {}, options: HfTokenizerOptions = {}) {
    const name = options.name ?? 'tokenizer.json';
    const fail = (detail: string): never => {
      throw new TokenizerFormatError(name, 0, detail);
    };
    validateTokenizerJson(json, name);
    this.library = buildLibraryTokenizer(json, config ?? {}, fail);
    let maxId = -1;
    for (const id of this.library.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    const idOf = (field: string): number | undefined => {
      const token = tokenContent(config[field]);
      if (token === undefined) return undefined;
      const id = this.library.token_to_id(token);
      if (id === undefined) fail(`tokenizer_config.json's ${field} ${JSON.stringify(token)} is not in the vocabulary`);
      return id;
    };
    const firstId = (v: number | number[] | undefined) => (Array.isArray(v) ? v[0] : v);
    const eosId = idOf('eos_token') ?? firstId(options.eosTokenId);
    if (eosId === undefined) fail('names no EOS token: tokenizer_config.json has no eos_token and config.json no eos_token_id');
    this.eosId = eosId!;
    // Qwen-style tokenizers have no BOS token; config.json's bos_token_id (often = EOS) stands in for it.
    this.bosId = idOf('bos_token') ?? firstId(options.bosTokenId) ?? this.eosId;

    if (typeof config.add_bos_token === 'boolean') {
      this.addBos = config.add_bos_token;
    } else {
      // Whether the post-processor adds BOS: encode a letter with and without special tokens.
      const encodeA = (addSpecialTokens: boolean): number[] => {
        try {
          return this.library.encode('a', { add_special_tokens: addSpecialTokens }).ids;
        } catch (e) {
          return fail(`@huggingface/tokenizers cannot encode with this tokenizer: ${(e as Error).message}`);
        }
      };
      const withSpecials = encodeA(true);
      this.addBos = withSpecials.length > 0 && withSpecials[0] === this.bosId && encodeA(false)[0] !== this.bosId;
    }
    const template = config.chat_template;
    this.chatTemplate = typeof template === 'string' ? template
      : Array.isArray(template) ? (template.find((t) => t?.name === 'default') ?? template[0])?.template : undefined;
  }

  encode(text: string, { bos = this.addBos, eos = false }: EncodeOptions = {}): number[] {
    // Special tokens are added here, not by the post-processor, so that bos/eos mean the same for every format.
    const ids = text === '' ? [] : this.library.encode(text, { add_special_tokens: false }).ids;
    return [...(bos ? [this.bosId] : []), ...ids, ...(eos ? [this.eosId] : [])];
  }

  decode(ids: readonly number[]): string {
    for (const id of ids) this.checkId(id);
    const kept = ids.filter((id) => id !== this.bosId && id !== this.eosId);
    // No clean_up_tokenization_spaces, whatever tokenizer_config.json says (Llama-3's says true; the library's
    // default is true): it deletes the space before . , ? ! and contractions ("we get .75X" -> "we get.75X"),
    // which breaks decode(encode(text)) === text and changes the numbers answer parsing reads. The tokens
    // themselves carry every space.
    return kept.length === 0 ? '' : this.library.decode(kept, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  piece(id: number): string {
    return this.library.id_to_token(this.checkId(id)) ?? '';
  }

  /** The vocabulary entry's id, if the vocabulary has it (e.g. "<|im_start|>"). */
  tokenId(piece: string): number | undefined {
    return this.library.token_to_id(piece);
  }

  private checkId(id: number): number {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new RangeError(`token id ${id} is outside the vocabulary 0..${this.vocabSize - 1}`);
    }
    return id;
  }
}

function buildLibraryTokenizer(json: TokenizerJson, config: TokenizerConfigJson, fail: (detail: string) => never): HfLibraryTokenizer {
  try {
    // The library requires every pipeline key; absent ones mean "none" in tokenizer.json.
    return new HfLibraryTokenizer({ added_tokens: [], ...json, normalizer: json.normalizer ?? null, pre_tokenizer: json.pre_tokenizer ?? null,
      post_processor: json.post_processor ?? null, decoder: json.decoder ?? null }, config);
  } catch (e) {
    return fail(`@huggingface/tokenizers cannot build this tokenizer: ${(e as Error).message}`);
  }
}

// ---- tokenizer.json structure -----------------------------------------------------------------------------

/** The pipeline component types @huggingface/tokenizers builds, by tokenizer.json key. */
const COMPONENT_TYPES = {
  normalizer: ['BertNormalizer', 'Precompiled', 'Sequence', 'Replace', 'NFC', 'NFD', 'NFKC', 'NFKD', 'Strip', 'StripAccents', 'Lowercase', 'Prepend'],
  pre_tokenizer: ['BertPreTokenizer', 'Sequence', 'Whitespace', 'WhitespaceSplit', 'Metaspace', 'ByteLevel', 'Split', 'Punctuation', 'Digits', 'Replace', 'FixedLength'],
  post_processor: ['TemplateProcessing', 'ByteLevel', 'BertProcessing', 'RobertaProcessing', 'Sequence'],
  decoder: ['ByteLevel', 'WordPiece', 'Metaspace', 'BPEDecoder', 'CTC', 'Sequence', 'Replace', 'Fuse', 'Strip', 'ByteFallback'],
} as const;
/** Where a Sequence keeps its steps, by tokenizer.json key. */
const SEQUENCE_KEY = { normalizer: 'normalizers', pre_tokenizer: 'pretokenizers', post_processor: 'processors', decoder: 'decoders' } as const;

/**
 * Checks the parts of tokenizer.json that @huggingface/tokenizers reads without checking, so that a
 * malformed file is a TokenizerFormatError naming the file and the field ("model.merges[3]: expected ...")
 * instead of "Cannot read properties of undefined" from inside the library.
 */
export function validateTokenizerJson(json: unknown, file = 'tokenizer.json'): asserts json is TokenizerJson {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new TokenizerFormatError(file, 0, `${field ? `field ${field}: ` : ''}expected ${expected}, got ${describe(got)}`, field || undefined);
  };
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  const isId = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  if (!isObject(json)) fail('', 'a tokenizer.json object', json);
  const root = json as Record<string, unknown>;
  const model = root.model;
  if (!isObject(model)) fail('model', 'an object (the tokenization model: BPE, WordPiece or Unigram)', model);
  const m = model as Record<string, unknown>;
  if (m.type !== 'BPE' && m.type !== 'WordPiece' && m.type !== 'Unigram') {
    fail('model.type', '"BPE", "WordPiece" or "Unigram" (the model types supported here)', m.type);
  }
  if (m.type === 'Unigram') {
    if (!Array.isArray(m.vocab)) fail('model.vocab', 'an array of [piece, score] pairs', m.vocab);
    (m.vocab as unknown[]).forEach((e, i) => {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number') fail(`model.vocab[${i}]`, 'a [piece, score] pair', e);
    });
  } else {
    if (!isObject(m.vocab)) fail('model.vocab', 'an object mapping each token to its id', m.vocab);
    for (const [token, id] of Object.entries(m.vocab as Record<string, unknown>)) {
      if (!isId(id)) fail(`model.vocab[${JSON.stringify(token)}]`, 'a non-negative integer id', id);
    }
  }
  if (m.type === 'BPE') {
    if (!Array.isArray(m.merges)) fail('model.merges', 'an array of merges ("left right" strings or [left, right] pairs)', m.merges);
    (m.merges as unknown[]).forEach((merge, i) => {
      const ok = typeof merge === 'string' ? merge.includes(' ')
        : Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string';
      if (!ok) fail(`model.merges[${i}]`, 'a "left right" string or a [left, right] pair of strings', merge);
    });
  }
  if (root.added_tokens !== undefined && root.added_tokens !== null) {
    if (!Array.isArray(root.added_tokens)) fail('added_tokens', 'an array of {id, content, ...} objects', root.added_tokens);
    (root.added_tokens as unknown[]).forEach((t, i) => {
      if (!isObject(t)) fail(`added_tokens[${i}]`, 'an {id, content, ...} object', t);
      const token = t as Record<string, unknown>;
      if (!isId(token.id)) fail(`added_tokens[${i}].id`, 'a non-negative integer id', token.id);
      if (typeof token.content !== 'string') fail(`added_tokens[${i}].content`, 'the token text (a string)', token.content);
    });
  }
  const component = (key: keyof typeof COMPONENT_TYPES, value: unknown, field: string) => {
    if (value === null || value === undefined) return;
    if (!isObject(value)) fail(field, `null or a ${key} object with a "type"`, value);
    const c = value as Record<string, unknown>;
    if (!(COMPONENT_TYPES[key] as readonly unknown[]).includes(c.type)) fail(`${field}.type`, `one of ${COMPONENT_TYPES[key].join(', ')}`, c.type);
    if (c.type === 'Sequence') {
      const steps = c[SEQUENCE_KEY[key]];
      if (!Array.isArray(steps)) fail(`${field}.${SEQUENCE_KEY[key]}`, `an array of ${key} objects`, steps);
      (steps as unknown[]).forEach((step, i) => {
        if (step === null || step === undefined) fail(`${field}.${SEQUENCE_KEY[key]}[${i}]`, `a ${key} object`, step);
        component(key, step, `${field}.${SEQUENCE_KEY[key]}[${i}]`);
      });
    }
    if ((c.type === 'Replace' || c.type === 'Split') && key !== 'post_processor') {
      const p = c.pattern;
      if (!isObject(p) || (typeof p.String !== 'string' && typeof p.Regex !== 'string')) fail(`${field}.pattern`, 'a {"String": ...} or {"Regex": ...} pattern', p);
      if (c.type === 'Replace' && typeof c.content !== 'string') fail(`${field}.content`, 'the replacement text (a string)', c.content);
    }
    if (c.type === 'TemplateProcessing') {
      for (const part of ['single', 'pair'] as const) {
        if (!Array.isArray(c[part])) fail(`${field}.${part}`, 'an array of {"SpecialToken": ...} / {"Sequence": ...} items', c[part]);
        (c[part] as unknown[]).forEach((item, i) => {
          if (!isObject(item) || !(isObject(item.SpecialToken) || isObject(item.Sequence))) {
            fail(`${field}.${part}[${i}]`, 'a {"SpecialToken": {"id": ...}} or {"Sequence": {"id": ...}} item', item);
          }
        });
      }
      if (c.special_tokens !== undefined && !isObject(c.special_tokens)) fail(`${field}.special_tokens`, 'an object of special tokens', c.special_tokens);
      for (const [name, t] of Object.entries((c.special_tokens ?? {}) as Record<string, unknown>)) {
        if (!isObject(t) || !Array.isArray(t.ids) || !t.ids.every(isId)) fail(`${field}.special_tokens[${JSON.stringify(name)}].ids`, 'an array of token ids', isObject(t) ? t.ids : t);
      }
    }
  };
  for (const key of Object.keys(COMPONENT_TYPES) as (keyof typeof COMPONENT_TYPES)[]) component(key, root[key], key);
}

/** A short description of a JSON value for messages: undefined (missing), null, a type, or a short literal. */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing (the field is missing)';
  const text = JSON.stringify(v);
  return text.length <= 40 ? text : `${Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`} (${text.slice(0, 37)}...)`;
}

/** A special-token field of tokenizer_config.json: "<s>" or { "content": "<s>", ... }; null/absent -> undefined. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** Parses tokenizer.json / tokenizer_config.json text (either may be given already parsed). */
export function parseHfTokenizer(tokenizerJson: string | TokenizerJson, tokenizerConfig?: string | TokenizerConfigJson, options: HfTokenizerOptions = {}): HfTokenizer {
  const parse = (text: string, file: string) => {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new TokenizerFormatError(file, 0, `not valid JSON: ${(e as Error).message}`);
    }
  };
  const json = typeof tokenizerJson === 'string' ? parse(tokenizerJson, options.name ?? 'tokenizer.json') : tokenizerJson;
  const config = typeof tokenizerConfig === 'string' ? parse(tokenizerConfig, 'tokenizer_config.json') : (tokenizerConfig ?? {});
  return new HfTokenizer(json, config, options);
}

// ---- llama2.c vocabulary -> tokenizer.json -------------------------------------------------------------

/** SentencePiece's visible space: pieces store "▁Once" where llama2.c stores " Once". */
const METASPACE = '\u2581';
const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

export interface HfTokenizerFiles {
  tokenizerJson: TokenizerJson;
  tokenizerConfig: TokenizerConfigJson;
}

/**
 * The llama2.c vocabulary as the tokenizer.json Llama-2 ships: a BPE model with byte fallback, the
 * normalizer that prepends "▁" and turns spaces into "▁", no pre-tokenizer, BOS added by the
 * post-processor, and the matching decoder. Merges are derived from the scored vocabulary the way
 * transformers' SentencePiece converter does: every split of a piece into two pieces, ranked by the merged
 * piece's score (highest first). llama2.c's greedy "merge the best-scoring adjacent pair, leftmost on ties"
 * then gives the same tokens as BPE by merge rank whenever piece scores are distinct (they are: -rank).
 */
export function llama2cToHfTokenizer(tok: Llama2cTokenizer, options: { modelMaxLength?: number; name?: string } = {}): HfTokenizerFiles {
  const name = options.name ?? 'llama2.c tokenizer';
  const special = new Map([[0, '<unk>'], [tok.bosId, '<s>'], [tok.eosId, '</s>']]);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  // No prototype: pieces such as "toString" or "constructor" (Llama's vocabulary has both) are pieces, not methods.
  const vocab: Record<string, number> = Object.create(null);
  for (let id = 0; id < tok.vocabSize; id++) {
    let piece = special.get(id);
    if (piece === undefined) {
      try {
        piece = utf8.decode(tok.pieces[id]).replaceAll(' ', METASPACE);
      } catch {
        throw new TokenizerFormatError(name, 0, `piece ${id} is not valid UTF-8; it cannot be written to tokenizer.json`);
      }
    }
    if (piece in vocab) throw new TokenizerFormatError(name, 0, `pieces ${vocab[piece]} and ${id} are both ${JSON.stringify(piece)}; tokenizer.json needs distinct pieces`);
    vocab[piece] = id;
    pieces.push(piece);
  }
  for (let b = 0; b < 256; b++) {
    const byte = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    if (vocab[byte] !== b + 3) throw new TokenizerFormatError(name, 0, `expected byte piece ${byte} at id ${b + 3}`);
  }

  const mergeable = (id: number | undefined): id is number => id !== undefined && !special.has(id) && !BYTE_PIECE.test(pieces[id]);
  const merges: { left: string; right: string; score: number; id: number; leftId: number }[] = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    if (!mergeable(id)) continue;
    const chars = Array.from(pieces[id]);
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join(''), right = chars.slice(k).join('');
      if (mergeable(vocab[left]) && mergeable(vocab[right])) merges.push({ left, right, score: tok.scores[id], id, leftId: vocab[left] });
    }
  }
  merges.sort((a, b) => b.score - a.score || a.id - b.id || a.leftId - b.leftId);

  const addedToken = (id: number) => ({ id, content: pieces[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const tokenizerJson: TokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...special.keys()].sort((a, b) => a - b).map(addedToken),
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'Prepend', prepend: METASPACE }, { type: 'Replace', pattern: { String: ' ' }, content: METASPACE }],
    },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [tok.bosId], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: METASPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab,
      // The "left right" string form: readable by every tokenizers version (pieces hold no ASCII space).
      merges: merges.map((m) => `${m.left} ${m.right}`),
    },
  };
  const addedTokensDecoder = Object.fromEntries(tokenizerJson.added_tokens!.map((t) => [String(t.id), { ...t, id: undefined }]));
  const tokenizerConfig: TokenizerConfigJson = {
    // The generic fast class loads tokenizer.json exactly as written in every transformers version.
    tokenizer_class: 'PreTrainedTokenizerFast',
    add_bos_token: true,
    add_eos_token: false,
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: options.modelMaxLength ?? 2048,
    added_tokens_decoder: JSON.parse(JSON.stringify(addedTokensDecoder)),
  };
  return { tokenizerJson, tokenizerConfig };
}
