// The tokenizer contract shared by the llama2.c tokenizer and (later) Hugging Face tokenizer.json.

export interface EncodeOptions {
  /** Prepend the BOS id (default true: every model here was trained on BOS-prefixed sequences). */
  bos?: boolean;
  /** Append the EOS id (default false). */
  eos?: boolean;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Text to token ids, exactly as the model's own reference implementation encodes it. */
  encode(text: string, options?: EncodeOptions): number[];
  /**
   * Token ids to text. BOS/EOS produce no text; bytes split across byte-fallback tokens are joined before
   * UTF-8 decoding (invalid sequences become U+FFFD). decode(encode(text)) === text for ordinary text.
   */
  decode(ids: readonly number[]): string;
  /** The vocabulary entry of one id as stored, e.g. " Once", "<0x0A>" (for explanations and debugging). */
  piece(id: number): string;
  /**
   * Optional: the text each token contributes, by the rule of ./pieces.ts's tokenPieces (which calls it
   * when present), computed the tokenizer's own faster way. Without it tokenPieces decodes windows.
   */
  tokenPieces?(ids: readonly number[]): string[];
}
