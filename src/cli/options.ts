/** Parsers of the CLI's numeric options (commander), shared by every command. */
import { InvalidArgumentError } from 'commander';

/** A positive integer (digits only: `1e3` or `2.5` are refused). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('Expected a positive integer.');
  return n;
}

/** A seed: an integer in [0, 2^32 - 1]. */
export function seedValue(value: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n > 2 ** 32 - 1) throw new InvalidArgumentError('Expected an integer in [0, 2^32 - 1].');
  return n;
}
