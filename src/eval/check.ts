/**
 * Argument checks for the evaluation module. Unlike `util/validate.ts` these
 * never touch the native addon, so `fusionrank/eval` loads without it.
 */
import { invalidParameter, rangeError, typeError, type ErrorCode } from '../errors.js';

/** Throws unless `value` is a plain object (or undefined, giving `{}`). */
export function options<T extends object>(value: unknown, name: string): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw typeError(invalidParameter(name, 'an options object', value));
  return value as Partial<T>;
}

/** Throws unless `value` is a non-null, non-array object. */
export function object<T extends object>(value: unknown, name: string, expected: string): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw typeError(invalidParameter(name, expected, value));
  return value as T;
}

/** Throws unless `value` is an integer in [min, max]; undefined gives `fallback`. */
export function integer(value: unknown, name: string, min: number, max: number, fallback?: number, code: ErrorCode = 'ERR_FUSIONRANK_INVALID_ARGUMENT'): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') throw typeError(invalidParameter(name, `an integer in [${min}, ${max}]`, value), code);
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(invalidParameter(name, `an integer in [${min}, ${max}]`, value), code);
  return value;
}

/** Throws unless `value` is a finite number in [min, max]; undefined gives `fallback`. */
export function number(value: unknown, name: string, min: number, max: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number') throw typeError(invalidParameter(name, `a number in [${min}, ${max}]`, value));
  if (!Number.isFinite(value)) throw rangeError(invalidParameter(name, `a finite number in [${min}, ${max}]`, value), 'ERR_FUSIONRANK_NON_FINITE');
  if (value < min || value > max) throw rangeError(invalidParameter(name, `a number in [${min}, ${max}]`, value));
  return value;
}

/** Throws unless `value` is one of `allowed`; undefined gives `fallback`. */
export function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  const expected = `one of ${allowed.map((a) => `'${a}'`).join(', ')}`;
  if (typeof value !== 'string') throw typeError(invalidParameter(name, expected, value));
  if (!allowed.includes(value as T)) throw rangeError(invalidParameter(name, expected, value));
  return value as T;
}

/**
 * Throws unless `value` is `Record<query, Record<doc, finite number>>`.
 * Keys are read with `Object.keys`, so `__proto__` as an id is an own key
 * only when the caller built the object with it as one (JSON.parse does).
 */
export function scoresByQuery(value: unknown, name: string, what: 'label' | 'score'): Record<string, Record<string, number>> {
  const table = object<Record<string, unknown>>(value, name, `an object of { query: { doc: ${what} } }`);
  for (const query of Object.keys(table)) {
    const docs = table[query];
    if (docs === null || typeof docs !== 'object' || Array.isArray(docs))
      throw typeError(invalidParameter(`${name}[${JSON.stringify(query)}]`, `an object of { doc: ${what} }`, docs));
    for (const doc of Object.keys(docs)) {
      const v = (docs as Record<string, unknown>)[doc];
      if (typeof v !== 'number') throw typeError(invalidParameter(`${name}[${JSON.stringify(query)}][${JSON.stringify(doc)}]`, `a finite number (${what})`, v));
      if (!Number.isFinite(v))
        throw rangeError(invalidParameter(`${name}[${JSON.stringify(query)}][${JSON.stringify(doc)}]`, `a finite number (${what})`, v), 'ERR_FUSIONRANK_NON_FINITE');
    }
  }
  return table as Record<string, Record<string, number>>;
}
