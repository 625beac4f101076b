/**
 * Reading an image argument (a file path or bytes) into a Buffer, with the
 * errors every ingest entry point shares.
 */
import { readFile } from 'node:fs/promises';

import { FusionrankError, invalidParameter, typeError } from '../errors.js';

/** A file path, or the encoded bytes of an image. */
export type ImageInput = string | Buffer | Uint8Array;

/**
 * Throws unless `value` is a non-empty path string or non-empty bytes.
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT
 */
export function requireImageInput(value: unknown, name: string): ImageInput {
  if (typeof value === 'string') {
    if (value.length === 0) throw typeError(invalidParameter(name, 'a file path or image bytes', value));
    return value;
  }
  if (value instanceof Uint8Array) {
    if (value.byteLength === 0) throw typeError(invalidParameter(name, 'non-empty image bytes', value));
    return value;
  }
  throw typeError(invalidParameter(name, 'a file path (string) or image bytes (Buffer/Uint8Array)', value));
}

/** Maps a file-system error to a coded error that names the path. */
export function fileError(error: unknown, path: string): Error {
  const code = (error as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FusionrankError(`No such file: ${path}`, 'ERR_FUSIONRANK_FILE_NOT_FOUND', { cause: error });
  if (code === 'EISDIR') return new FusionrankError(`Expected a file but ${path} is a directory`, 'ERR_FUSIONRANK_FILE_NOT_FOUND', { cause: error });
  return new FusionrankError(`Cannot read ${path}: ${(error as Error)?.message ?? error}`, 'ERR_FUSIONRANK_FILE_NOT_FOUND', { cause: error });
}

/**
 * Reads a path into a Buffer, or wraps bytes without copying.
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND when the path cannot be read
 */
export async function readImageInput(input: ImageInput): Promise<Buffer> {
  if (typeof input === 'string') {
    try {
      return await readFile(input);
    } catch (error) {
      throw fileError(error, input);
    }
  }
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}
