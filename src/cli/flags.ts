// Reading the value of a numeric flag, the same way for every command.

/** The flag's value as a number, undefined when the flag is absent; a RangeError naming the flag when the
 *  text is not a finite number (an empty text is not 0). */
export function numberFlag(name: string, value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n)) throw new RangeError(`--${name} must be a number, got '${value}'`);
  return n;
}
