// Text helpers of the HTML reports and the demo: escaping for element text and attributes, JSON for a
// <script type="application/json"> block, and a token's text with its whitespace made visible.

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]);
}

/** A JSON value safe inside <script type="application/json">. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/**
 * A token's text as HTML with whitespace made visible: newlines show ↵ and then break the line, tabs ⇥,
 * other control characters their Unicode control pictures; a token that is only spaces shows them as ·.
 */
export function visiblePiece(piece: string): string {
  if (piece === '') return '<span class="ws e">∅</span>';
  const onlySpaces = /^ +$/.test(piece);
  let out = '';
  for (const ch of piece) {
    const c = ch.codePointAt(0)!;
    if (ch === '\n') out += '<span class="ws">↵</span>\n';
    else if (ch === '\t') out += '<span class="ws">⇥</span>\t';
    else if (ch === ' ' && onlySpaces) out += '<span class="ws">·</span>';
    else if (c < 0x20) out += `<span class="ws">${String.fromCodePoint(0x2400 + c)}</span>`;
    else if (c === 0x7f) out += '<span class="ws">␡</span>';
    else out += escapeHtml(ch);
  }
  return out;
}

/** A piece for a chip or a table: quotes kept off, whitespace shown as symbols. */
export function pieceLabel(piece: string): string {
  if (piece === '') return '<span class="ws">∅</span>';
  let out = '';
  for (const ch of piece) {
    const c = ch.codePointAt(0)!;
    if (ch === ' ') out += '<span class="ws">␣</span>';
    else if (ch === '\n') out += '<span class="ws">↵</span>';
    else if (ch === '\t') out += '<span class="ws">⇥</span>';
    else if (c < 0x20) out += `<span class="ws">${String.fromCodePoint(0x2400 + c)}</span>`;
    else out += escapeHtml(ch);
  }
  return out;
}
