// The built-in defaults of the commands that run without arguments (`xtf pipeline`, `xtf experiment`):
// the files in ../shared beside the project when they are there, else their public addresses.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readRecordsFile } from '../data/files-fs.ts';
import { parseRecordsBytes, type RawRecord } from '../data/files.ts';
import { isUrl } from '../model/source.ts';
import { cachedDownloader, defaultCacheDir } from '../model/source-fs.ts';

const SHARED = resolve('../shared');
const SOURCES = {
  model: [join(SHARED, 'models/stories260K/stories260K.bin'), 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin'],
  gsm8kTrain: [join(SHARED, 'data/gsm8k/train.jsonl'), 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/train.jsonl'],
  gsm8kTest: [join(SHARED, 'data/gsm8k/test.jsonl'), 'https://raw.githubusercontent.com/openai/grade-school-math/master/grade_school_math/data/test.jsonl'],
} as const;

/** The local copy when it exists, else the public address. */
export function defaultSource(name: keyof typeof SOURCES): string {
  const [local, url] = SOURCES[name];
  return existsSync(local) ? local : url;
}

/** A data file's records from a path or an https URL (JSONL / JSON, gzip or not). A URL goes through the
 *  model files' download cache (~/.cache/xtf-webgpu: timeouts, no HTML page or short body taken, one copy
 *  kept), so `--refresh` fetches it again and `--offline` reads only the cache, failing at once, naming the
 *  cache file, when the copy is not there. */
export async function readRecords(pathOrUrl: string, options: { refresh?: boolean; offline?: boolean } = {}): Promise<RawRecord[]> {
  if (!isUrl(pathOrUrl)) return readRecordsFile(pathOrUrl);
  const bytes = await cachedDownloader(defaultCacheDir(), { refresh: options.refresh, offline: options.offline })(pathOrUrl);
  if (bytes === null) throw new Error(`${pathOrUrl}: HTTP 404 (no such file)`);
  return parseRecordsBytes(bytes, pathOrUrl);
}
