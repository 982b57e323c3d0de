// The text each token contributes, such that pieces.join('') === tokenizer.decode(ids): what a
// heatmap shows per token and what character-offset exports are built from.
import type { Tokenizer } from './tokenizer.ts';

// Decoding a window of at least WINDOW - 1 earlier tokens with each step keeps byte-fallback characters
// (up to 4 bytes) and decoder rules that look at neighbours (leading-space stripping) right, at
// O(n·WINDOW) cost. The window's start moves WINDOW tokens at a time, so most steps reuse the previous
// step's decode as their `before`: one decode a token instead of two.
const WINDOW = 8;

export function tokenPieces(tokenizer: Tokenizer, ids: readonly number[]): string[] {
  if (tokenizer.tokenPieces) return tokenizer.tokenPieces(ids);
  return windowedPieces(tokenizer, ids);
}

/** tokenPieces for any tokenizer, from decode() alone (exported to test tokenizers' own tokenPieces against). */
export function windowedPieces(tokenizer: Tokenizer, ids: readonly number[]): string[] {
  const pieces: string[] = [];
  let emitted = ''; // text of ids[0..i) as pieces so far
  let pendingBytesFrom = -1;
  let start = 0;
  let previous = ''; // decode(ids[start..i)) once i > start
  for (let i = 0; i < ids.length; i++) {
    let before = previous;
    if (i - start >= 2 * WINDOW - 1) {
      start = i - WINDOW + 1;
      before = tokenizer.decode(ids.slice(start, i));
    }
    const after = tokenizer.decode(ids.slice(start, i + 1));
    previous = after;
    let piece = after.startsWith(before) ? after.slice(before.length) : after.slice(commonPrefix(before, after));
    // A token in the middle of a multi-byte character leaves U+FFFD at the end: hold it (an empty
    // piece) until the character completes, then give the whole character to the completing token.
    if (after.endsWith('\uFFFD') && i + 1 < ids.length) {
      if (pendingBytesFrom < 0) pendingBytesFrom = i;
      pieces.push('');
      continue;
    }
    if (pendingBytesFrom >= 0) {
      const from = Math.max(0, pendingBytesFrom - WINDOW + 1);
      const base = tokenizer.decode(ids.slice(from, pendingBytesFrom));
      const whole = tokenizer.decode(ids.slice(from, i + 1));
      piece = whole.startsWith(base) ? whole.slice(base.length) : piece;
      pendingBytesFrom = -1;
    }
    pieces.push(piece);
    emitted += piece;
  }
  // The window can disagree with a whole-sequence decode in rare decoder corner cases: fix the last piece.
  const full = tokenizer.decode(ids);
  if (emitted !== full && full.startsWith(emitted.slice(0, emitted.length - (pieces.at(-1)?.length ?? 0)))) {
    const head = emitted.length - (pieces.at(-1)?.length ?? 0);
    pieces[pieces.length - 1] = full.slice(head);
  }
  return pieces;
}

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
