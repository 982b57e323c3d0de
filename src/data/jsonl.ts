// JSON Lines with errors that name the file and line. Blank lines are skipped.
export class DataFormatError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly field: string | null,
    problem: string,
  ) {
    super(`${file}:${line}${field ? `: field '${field}'` : ''}: ${problem}`);
    this.name = 'DataFormatError';
  }
}

export function* parseJsonl(text: string, file: string): Generator<{ line: number; value: unknown }> {
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new DataFormatError(file, lineNo, null, `not valid JSON (${(e as Error).message})`);
    }
    yield { line: lineNo, value };
  }
}
