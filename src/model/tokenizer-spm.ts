// SentencePiece BPE vocabularies — a GGUF's tokenizer.ggml.* ('llama') or a model folder's tokenizer.model —
// encoded with llama2.c's algorithm (tokenizer-llama2c.ts: merge the best-scoring adjacent pair, byte
// fallback), which is SentencePiece's BPE encoding for the normalizer Llama-family models use (identity,
// dummy-prefix space, spaces kept). tokenizer.model is a ModelProto (sentencepiece_model.proto) read with pbf;
// anything the algorithm would encode differently (Unigram models, other normalizers) is refused naming the fix.

import { PbfReader } from 'pbf';
import { TokenizerFormatError, UnsupportedModelError } from './errors.ts';
import { Llama2cTokenizer } from './tokenizer-llama2c.ts';

/** Piece types: sentencepiece_model.proto's SentencePiece.Type, which GGUF's tokenizer.ggml.token_type copies. */
export const PIECE_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/**
 * SentencePiece pieces with scores ("▁" for a space), merged greedily by score exactly like llama2.c's run.c
 * (and llama.cpp's SPM tokenizer). llama2.c's algorithm works on spaces, so "▁" is translated once here.
 */
export class SentencePieceTokenizer extends Llama2cTokenizer {
  override readonly bosId: number;
  override readonly eosId: number;
  /** encode() prepends BOS by default, as Llama's SentencePiece tokenizer does (llama2.c's encode). */
  readonly addBos = true;
  /** tokenizer_config.json's chat template, when a folder has one beside tokenizer.model. */
  chatTemplate?: string;

  constructor(readonly texts: readonly string[], scores: Float32Array, types: readonly number[], bosId: number, eosId: number, file: string) {
    const utf8 = new TextEncoder();
    const pieces = texts.map((t, i) => utf8.encode(types[i] === PIECE_TYPE.BYTE ? t : t.replaceAll('\u2581', ' ')));
    super(pieces, scores, pieces.reduce((longest, p) => Math.max(longest, p.length), 1));
    // run.c's byte fallback writes id = byte + 3: the vocabulary must have Llama's layout.
    for (let b = 0; b < 256; b++) {
      const expected = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      if (texts[b + 3] !== expected) {
        throw new TokenizerFormatError(file, 0, `expected byte token ${expected} at id ${b + 3}, found ${JSON.stringify(texts[b + 3])}; this SentencePiece vocabulary layout is not supported`);
      }
    }
    this.bosId = bosId;
    this.eosId = eosId;
  }

  override piece(id: number): string {
    this.tokenBytes(-1, id); // range check
    return this.texts[id].replaceAll('\u2581', ' ');
  }
}

/** What tokenizer.model states, as far as encoding with SentencePieceTokenizer depends on it. */
export interface SentencePieceModel {
  pieces: string[];
  scores: Float32Array;
  types: number[];
  /** TrainerSpec.model_type: 1 Unigram, 2 BPE, 3 word, 4 char. */
  modelType: number;
  unkId: number;
  bosId: number;
  eosId: number;
  byteFallback: boolean;
  normalizer: { name: string; addDummyPrefix: boolean; removeExtraWhitespaces: boolean; hasCharsMap: boolean };
}

const MODEL_TYPES: Record<number, string> = { 1: 'Unigram', 2: 'BPE', 3: 'word', 4: 'char' };

/** Reads ModelProto's fields (field numbers from sentencepiece_model.proto; proto2 defaults where absent). */
export function readSentencePieceModel(bytes: Uint8Array, file = 'tokenizer.model'): SentencePieceModel {
  const pieces: string[] = [], scores: number[] = [], types: number[] = [];
  const model: Omit<SentencePieceModel, 'pieces' | 'scores' | 'types'> = {
    modelType: 1, unkId: 0, bosId: 1, eosId: 2, byteFallback: false,
    normalizer: { name: 'nmt_nfkc', addDummyPrefix: true, removeExtraWhitespaces: true, hasCharsMap: false },
  };
  try {
    new PbfReader(bytes).readFields((field, m, pbf) => {
      if (field === 1) { // repeated SentencePiece pieces: piece = 1, score = 2, type = 3 (default NORMAL)
        const p = pbf.readMessage((f, piece, r) => {
          if (f === 1) piece.text = r.readString();
          else if (f === 2) piece.score = r.readFloat();
          else if (f === 3) piece.type = r.readVarint();
        }, { text: '', score: 0, type: PIECE_TYPE.NORMAL as number });
        pieces.push(p.text);
        scores.push(p.score);
        types.push(p.type);
      } else if (field === 2) { // TrainerSpec
        pbf.readMessage((f, t, r) => {
          if (f === 3) t.modelType = r.readVarint();
          else if (f === 35) t.byteFallback = r.readBoolean();
          else if (f === 40) t.unkId = r.readVarint(true);
          else if (f === 41) t.bosId = r.readVarint(true);
          else if (f === 42) t.eosId = r.readVarint(true);
        }, m);
      } else if (field === 3) { // NormalizerSpec
        pbf.readMessage((f, n, r) => {
          if (f === 1) n.name = r.readString();
          else if (f === 2) n.hasCharsMap = r.readBytes().length > 0;
          else if (f === 3) n.addDummyPrefix = r.readBoolean();
          else if (f === 4) n.removeExtraWhitespaces = r.readBoolean();
        }, m.normalizer);
      }
    }, model);
  } catch (e) {
    throw new TokenizerFormatError(file, 0, `not a readable SentencePiece model (tokenizer.model protobuf): ${(e as Error).message}`);
  }
  if (pieces.length === 0) throw new TokenizerFormatError(file, 0, 'holds no pieces; it is not a SentencePiece model');
  return { pieces, scores: Float32Array.from(scores), types, ...model };
}

/**
 * tokenizer.model -> a tokenizer, when SentencePieceTokenizer encodes it as SentencePiece does: BPE with byte
 * fallback and Llama's normalizer (identity, dummy prefix, spaces kept). BOS / EOS: the given ids (config.json's),
 * else the model's own.
 */
export function parseSentencePieceTokenizer(bytes: Uint8Array, file = 'tokenizer.model', ids: { bosId?: number; eosId?: number } = {}): SentencePieceTokenizer {
  const m = readSentencePieceModel(bytes, file);
  const refuse = (what: string): never => {
    throw new UnsupportedModelError(file, `is a SentencePiece model with ${what}, which this runtime does not encode exactly; ` +
      'convert it with transformers to tokenizer.json (AutoTokenizer.from_pretrained(folder).save_pretrained(folder)) and load the folder again');
  };
  if (m.modelType !== 2) refuse(`a ${MODEL_TYPES[m.modelType] ?? `type-${m.modelType}`} model (only BPE is supported)`);
  if (!m.byteFallback) refuse('no byte fallback');
  const n = m.normalizer;
  if (n.hasCharsMap || (n.name !== 'identity' && n.name !== '')) refuse(`the '${n.name}' normalizer (only 'identity', as Llama's)`);
  if (n.removeExtraWhitespaces) refuse('remove_extra_whitespaces (runs of spaces are collapsed)');
  if (!n.addDummyPrefix) refuse('no dummy prefix (add_dummy_prefix false)');
  const bos = ids.bosId ?? m.bosId, eos = ids.eosId ?? m.eosId;
  for (const [name, id] of [['BOS', bos], ['EOS', eos]] as const) {
    if (!(id >= 0 && id < m.pieces.length)) throw new TokenizerFormatError(file, 0, `${name} id ${id} is outside the vocabulary 0..${m.pieces.length - 1}`);
  }
  return new SentencePieceTokenizer(m.pieces, m.scores, m.types, bos, eos, file);
}
