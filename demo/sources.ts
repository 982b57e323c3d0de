/// <reference types="vite/client" />
// Where the default model and data come from: a built site fetches the public copies; development serves
// ../shared under /shared/ (vite.config.ts) and falls back to the public copies when ../shared lacks a
// file (a 404). The model and data steps both ask here, and show the note that says which it was. Either
// way the files are stored in this browser on their first download (stored-files.ts).

import { isStored } from './stored-files.ts';

const DEV = import.meta.env.DEV;
const PUBLIC = {
  model: 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin',
  data: 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/train.jsonl',
  heldOut: 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/test.jsonl',
};
const LOCAL = {
  model: new URL('/shared/models/stories260K/stories260K.bin', location.href).href,
  data: new URL('/shared/data/gsm8k/train.jsonl', location.href).href,
  heldOut: new URL('/shared/data/gsm8k/test.jsonl', location.href).href,
};
/** The default model's tokenizer, beside it. */
export const MODEL_TOKENIZER = 'tok512.bin';

/** Where a default comes from, and a note the page shows about it. */
interface Resolved { url: string; note: string }
const resolved = new Map<keyof typeof PUBLIC, Promise<Resolved>>();

export function defaultSource(key: keyof typeof PUBLIC): Promise<Resolved> {
  let r = resolved.get(key);
  if (!r) {
    r = (async (): Promise<Resolved> => {
      if (!DEV) return { url: PUBLIC[key], note: `public address (${new URL(PUBLIC[key]).host})` };
      const head = await fetch(LOCAL[key], { method: 'HEAD' }).catch(() => null);
      if (head?.ok) return { url: LOCAL[key], note: 'local ../shared (development server)' };
      // No answer at all (no network, or the dev server stopped): a copy stored by an earlier visit serves.
      if (!head && (await isStored(LOCAL[key]))) return { url: LOCAL[key], note: 'local ../shared (development server, unreachable now)' };
      return { url: PUBLIC[key], note: `public address (${new URL(PUBLIC[key]).host}): ../shared has no ${new URL(LOCAL[key]).pathname.replace(/^\/shared\//, '')} (${head ? `HTTP ${head.status}` : 'unreachable'})` };
    })();
    resolved.set(key, r);
  }
  return r;
}
