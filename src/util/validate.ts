/**
 * Argument checks shared by the public API. Each throws a `TypeError` or
 * `RangeError` with a `code` and the message shape of `invalidParameter`.
 */
import { invalidParameter, rangeError, typeError } from '../errors.js';
import { native } from '../native.js';

/** Throws unless `value` is a Float32Array backed by a live buffer. */
export function requireFloat32Array(value: unknown, name: string): Float32Array {
  if (!(value instanceof Float32Array)) throw typeError(invalidParameter(name, 'a Float32Array', value));
  // A detached buffer reads as empty; ask the engine only in that case.
  if (value.byteLength === 0 && native.isDetached(value.buffer))
    throw typeError(`${name} is backed by a detached ArrayBuffer (was it transferred to a worker?)`, 'ERR_FUSIONRANK_DETACHED_BUFFER');
  return value;
}

/** Throws unless `value` is undefined or a live Uint32Array. */
export function optionalUint32Array(value: unknown, name: string): Uint32Array | undefined {
  if (value === undefined || value === null) return undefined;
  if (!(value instanceof Uint32Array)) throw typeError(invalidParameter(name, 'a Uint32Array of row ids', value));
  if (value.byteLength === 0 && native.isDetached(value.buffer))
    throw typeError(`${name} is backed by a detached ArrayBuffer (was it transferred to a worker?)`, 'ERR_FUSIONRANK_DETACHED_BUFFER');
  return value;
}

/** Throws unless `value` is an integer in [min, max]. */
export function requireInteger(value: unknown, name: string, min: number, max: number, code = 'ERR_FUSIONRANK_INVALID_ARGUMENT'): number {
  if (typeof value !== 'number') throw typeError(invalidParameter(name, `an integer in [${min}, ${max}]`, value), code);
  if (!Number.isInteger(value) || value < min || value > max)
    throw rangeError(invalidParameter(name, `an integer in [${min}, ${max}]`, value), code);
  return value;
}

/** Throws unless `value` is a plain object (or undefined, giving `{}`). */
export function optionalOptions<T extends object>(value: unknown, name: string): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw typeError(invalidParameter(name, 'an options object', value));
  return value as Partial<T>;
}

/** Throws unless `value` is one of `allowed`. */
export function requireOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[], code = 'ERR_FUSIONRANK_INVALID_ARGUMENT'): T {
  if (typeof value !== 'string') throw typeError(invalidParameter(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value), code);
  if (!allowed.includes(value as T))
    throw rangeError(invalidParameter(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value), code);
  return value as T;
}
