// Runs the `xtf` command as a user would (a child process through bin/xtf.mjs).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function xtf(...args: string[]): Promise<CliResult> {
  try {
    const r = await promisify(execFile)('node', ['bin/xtf.mjs', ...args], { encoding: 'utf8', timeout: 120_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as CliResult;
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}
