// Dataset files -> raw records with the line each starts on: JSON Lines, a JSON array, a JSON object keyed by
// id (PubMedQA's ori_pqal.json), and gzip of any of them. Browser-safe: gzip goes through fflate, so Node,
// Deno and the browser take one code path. Reading a path from disk lives in files-fs.ts.
import { gunzipSync } from 'fflate';
import { DataFormatError, parseJsonl } from './jsonl.ts';

export interface RawRecord {
  /** 1-based line the record starts on (for messages). */
  line: number;
  value: unknown;
  /** The id the container gives the record: its key in a JSON object of id -> record, "file[i]" in a JSON
   *  array (records in one array may share a line). JSONL records have none (their id falls back to file:line). */
  key?: string;
}

const isGzip = (bytes: Uint8Array) => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;

/** File bytes -> text, gunzipping when the bytes start with the gzip magic number. */
export function decodeDataBytes(bytes: Uint8Array, file: string): string {
  let raw = bytes;
  if (isGzip(bytes)) {
    try {
      raw = gunzipSync(bytes);
    } catch (e) {
      throw new DataFormatError(file, 0, null, `gzip data is corrupt (${(e as Error).message})`);
    }
  }
  return new TextDecoder('utf-8').decode(raw);
}

/** Records of a JSONL / JSON-array / JSON-object text. JSONL is told from pretty-printed JSON by whether the
 *  first non-blank line is a JSON value on its own. */
export function parseRecordsText(text: string, file: string): RawRecord[] {
  const start = text.search(/\S/);
  if (start < 0) return [];
  if (text.charCodeAt(0) === 0xfeff) text = ' ' + text.slice(1);
  const firstLine = text.slice(start, (text.indexOf('\n', start) + 1 || text.length + 1) - 1).trim();
  const looksJsonl = text[start] === '{' && (() => {
    try {
      JSON.parse(firstLine);
      return true;
    } catch {
      return false;
    }
  })();
  if (looksJsonl || (text[start] !== '[' && text[start] !== '{')) return [...parseJsonl(text, file)];
  let whole: unknown;
  try {
    whole = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    const pos = /position (\d+)/.exec(msg);
    throw new DataFormatError(file, pos ? lineAt(text, Number(pos[1])) : 0, null, `not valid JSON (${msg})`);
  }
  const starts = topLevelStarts(text, start);
  const lines = linesAt(text, starts);
  const name = file.split('/').pop();
  if (Array.isArray(whole)) return whole.map((value, i) => ({ line: lines[i] ?? 1, value, key: `${name}[${i}]` }));
  const object = whole as Record<string, unknown>;
  const values = Object.values(object);
  // An object of objects is a map id -> record; anything else is one record. Keys are read from the text
  // because Object.keys puts integer-like keys (PubMedQA's PMIDs) in numeric order, not file order.
  if (values.length > 0 && values.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v))) {
    const seen = new Set<string>();
    const out: RawRecord[] = [];
    starts.forEach((at, i) => {
      const key = JSON.parse(text.slice(at, stringEnd(text, at))) as string;
      if (seen.has(key)) throw new DataFormatError(file, lines[i], key, 'appears twice in the object');
      seen.add(key);
      out.push({ line: lines[i], value: object[key], key });
    });
    return out;
  }
  return [{ line: lineAt(text, start), value: whole }];
}

/** Records of file bytes (gzip or not). */
export function parseRecordsBytes(bytes: Uint8Array, file: string): RawRecord[] {
  return parseRecordsText(decodeDataBytes(bytes, file), file);
}

/** Records of a browser File/Blob. */
export async function readRecordsBlob(blob: Blob, file = (blob as { name?: string }).name ?? 'blob'): Promise<RawRecord[]> {
  return parseRecordsBytes(new Uint8Array(await blob.arrayBuffer()), file);
}

function lineAt(text: string, offset: number): number {
  return linesAt(text, [offset])[0];
}

/** 1-based lines of ascending offsets, in one pass. */
function linesAt(text: string, offsets: readonly number[]): number[] {
  const out: number[] = [];
  let line = 1, i = 0;
  for (const offset of offsets) {
    for (; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
    out.push(line);
  }
  return out;
}

/** End (exclusive) of the JSON string literal starting at a quote. */
function stringEnd(text: string, at: number): number {
  for (let i = at + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  return text.length;
}

/** Offsets where each element (array) or key (object) of the top-level container begins. */
function topLevelStarts(text: string, open: number): number[] {
  const starts: number[] = [];
  const isObject = text[open] === '{';
  let depth = 0, inString = false, expectValue = true;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (depth === 1 && expectValue && !/[\s,\]}]/.test(c)) {
      starts.push(i);
      expectValue = false;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === ',' && depth === 1) expectValue = true;
    if (i === open) expectValue = true;
    if (isObject && c === ':' && depth === 1) expectValue = false;
  }
  return starts;
}
