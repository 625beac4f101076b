/**
 * Durations such as "24h", "30m", "7d", "1.5h", "500ms", or milliseconds.
 */
import { invalidParameter, rangeError, typeError } from '../errors.js';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parses a duration to milliseconds.
 * @example parseDuration('24h') // 86400000
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_DURATION when not a string or number
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_DURATION when it does not parse or is not positive
 */
export function parseDuration(value: unknown, name: string): number {
  const expected = "a positive duration such as '24h', '30m', '7d' or a number of milliseconds";
  if (typeof value === 'number') {
    if (!(Number.isFinite(value) && value > 0)) throw rangeError(invalidParameter(name, expected, value), 'ERR_FUSIONRANK_INVALID_DURATION');
    return value;
  }
  if (typeof value !== 'string') throw typeError(invalidParameter(name, expected, value), 'ERR_FUSIONRANK_INVALID_DURATION');
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(value);
  if (!match) throw rangeError(invalidParameter(name, expected, value), 'ERR_FUSIONRANK_INVALID_DURATION');
  const ms = Number(match[1]) * UNITS[match[2]];
  if (!(ms > 0)) throw rangeError(invalidParameter(name, expected, value), 'ERR_FUSIONRANK_INVALID_DURATION');
  return ms;
}
