/**
 * Errors crossing a worker boundary. Structured clone keeps an Error's
 * message but not its `code`, so workers send this plain shape and the main
 * thread rebuilds a TypeError / RangeError / FusionrankError from it.
 */
import { FusionrankError, rangeError, typeError } from '../errors.js';

export interface WireError {
  name: string;
  code: string;
  message: string;
}

/** Flattens an error (with a fallback code when it has none of ours). */
export function encodeError(error: unknown, fallbackCode: string): WireError {
  const e = error as { name?: string; code?: unknown; message?: string } | null;
  const code = typeof e?.code === 'string' && e.code.startsWith('ERR_FUSIONRANK_') ? e.code : fallbackCode;
  return { name: e?.name ?? 'Error', code, message: String(e?.message ?? error) };
}

/** Rebuilds the coded error on this side. */
export function decodeError(wire: WireError): Error {
  if (wire.name === 'TypeError') return typeError(wire.message, wire.code);
  if (wire.name === 'RangeError') return rangeError(wire.message, wire.code);
  return new FusionrankError(wire.message, wire.code);
}
