// Score files on disk for the CLI: JSONL read line by line (errors name file:line), the summary beside
// it, and outputs written atomically (a temporary sibling renamed into place; removed on failure).
import { randomBytes } from 'node:crypto';
import { constants, createReadStream, createWriteStream, unlinkSync, type WriteStream } from 'node:fs';
import { access, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseScoredExample, parseSummary } from '../xtf/scorefile.ts';
import type { DatasetSummary, ScoredExample } from '../xtf/types.ts';

async function mustExist(path: string): Promise<void> {
  const s = await stat(path).catch(() => null);
  if (!s) throw new Error(`${path} does not exist`);
  if (!s.isFile()) throw new Error(`${path} is not a file`);
}

/** Every example of a score file, in order; a bad line throws "<file>:<line>: <what is wrong>". With
 *  vocabSize, a token id outside the model's vocabulary is such an error too (scored with another model). */
export async function* readScoreFile(path: string, options: { vocabSize?: number } = {}): AsyncGenerator<ScoredExample> {
  await mustExist(path);
  const lines = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      let ex: ScoredExample;
      try {
        ex = parseScoredExample(n === 1 && line.startsWith('\uFEFF') ? line.slice(1) : line);
      } catch (e) {
        throw new Error(`${path}:${n}: ${(e as Error).message}`);
      }
      const V = options.vocabSize;
      const bad = V === undefined ? -1 : ex.tokens.findIndex((t) => t >= V);
      if (bad >= 0) throw new RangeError(`${path}:${n}: example ${JSON.stringify(ex.id)}: token id ${ex.tokens[bad]} (position ${bad}) is outside this model's vocabulary 0..${V! - 1}: the file was scored with another model's tokenizer`);
      yield ex;
    }
  } finally {
    lines.close();
  }
}

/** The summary written beside a score file: S.summary.json for S.jsonl (as `xtf score` writes it), or S.jsonl.summary.json. */
export function summaryNames(path: string): string[] {
  return path.endsWith('.jsonl') ? [`${path.slice(0, -'.jsonl'.length)}.summary.json`, `${path}.summary.json`] : [`${path}.summary.json`];
}

/** A text file's content, or null when there is no such file (any other error is thrown). */
export async function readTextIfExists(path: string): Promise<string | null> {
  return readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
}

export async function readSummaryBeside(path: string): Promise<{ file: string; summary: DatasetSummary } | null> {
  for (const file of summaryNames(path)) {
    const text = await readTextIfExists(file);
    if (text === null) continue;
    try {
      return { file, summary: parseSummary(text) };
    } catch (e) {
      throw new Error(`${file}: ${(e as Error).message}`);
    }
  }
  return null;
}

const tempName = (path: string): string => `${path}.tmp-${randomBytes(6).toString('hex')}`;
const TEMP = /\.tmp-[0-9a-f]{12}$/;

// Temporary files being written: a Ctrl-C or SIGTERM removes them before the process ends, so a killed
// command leaves no OUT.tmp-xxxx behind (and the next run removes any that a harder kill left).
const activeTemps = new Set<string>();
function onSignal(signal: NodeJS.Signals): void {
  for (const t of activeTemps) {
    try {
      unlinkSync(t);
    } catch {
      // already gone
    }
  }
  process.exit(signal === 'SIGINT' ? 130 : 143);
}
function track(temp: string): void {
  if (activeTemps.size === 0) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  activeTemps.add(temp);
}
function untrack(temp: string): void {
  activeTemps.delete(temp);
  if (activeTemps.size === 0) {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Before a long write: the output's folder must be writable (checked before minutes of work), and
 *  temporary files a killed earlier run left beside the output are removed. */
export async function prepareOutput(path: string): Promise<void> {
  const dir = dirname(path);
  try {
    await access(dir, constants.W_OK);
  } catch {
    throw new Error(`cannot write ${path}: the folder ${dir} does not exist or is not writable`);
  }
  const s = await stat(path).catch(() => null);
  if (s?.isDirectory()) throw new Error(`cannot write ${path}: it is a folder`);
  const stem = basename(path);
  for (const f of await readdir(dir)) if (f.startsWith(`${stem}.tmp-`) && TEMP.test(f)) await unlink(join(dir, f)).catch(() => undefined);
}

export async function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  const temp = tempName(path);
  track(temp);
  try {
    await writeFile(temp, content);
    await rename(temp, path);
  } catch (e) {
    await unlink(temp).catch(() => undefined);
    throw e;
  } finally {
    untrack(temp);
  }
}

/** A file written line by line under a temporary name: commit() renames it into place, abort() removes it. */
export class AtomicLineWriter {
  private readonly temp: string;
  private readonly out: WriteStream;
  private failed: Error | null = null;

  constructor(readonly path: string) {
    this.temp = tempName(path);
    track(this.temp);
    this.out = createWriteStream(this.temp);
    this.out.on('error', (e) => (this.failed = e));
  }

  async write(line: string): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.out.write(line + '\n')) {
      await new Promise<void>((resolve, reject) => {
        const done = (): void => {
          this.out.off('error', fail);
          resolve();
        };
        const fail = (e: Error): void => {
          this.out.off('drain', done);
          reject(e);
        };
        this.out.once('drain', done);
        this.out.once('error', fail);
      });
    }
  }

  async commit(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.out.once('error', reject);
      this.out.end(() => resolve());
    });
    if (this.failed) throw this.failed;
    await rename(this.temp, this.path);
    untrack(this.temp);
  }

  async abort(): Promise<void> {
    await new Promise<void>((resolve) => {
      if (this.out.closed) return resolve();
      this.out.once('close', () => resolve());
      this.out.destroy();
    });
    await unlink(this.temp).catch(() => undefined);
    untrack(this.temp);
  }
}
