/**
 * Optional peer dependencies (onnxruntime-node, sharp, tesseract.js, piscina,
 * @huggingface/tokenizers) are loaded here, on first use, so that importing
 * fusionrank never loads them and ranking works without them installed.
 */
import { createRequire } from 'node:module';

import { FusionrankError } from '../errors.js';

const loaded = new Map<string, Promise<unknown>>();

/** Why each optional peer is needed, for the error message. */
const purposes: Record<string, string> = {
  'onnxruntime-node': 'ONNX encoder sessions (OnnxModel, ClipEncoder)',
  sharp: 'image decoding and preprocessing (ImagePool, ClipEncoder.encodeImages)',
  'tesseract.js': 'OCR (OcrPool)',
  '@tesseract.js-data/eng': 'offline English OCR data (OcrPool)',
  piscina: 'worker pools (ImagePool, OcrPool)',
  '@huggingface/tokenizers': 'tokenizer.json support (ClipEncoder)',
};

/** The error thrown when an optional peer is not installed. */
export function missingDependency(name: string, cause?: unknown): FusionrankError {
  const purpose = purposes[name] ?? 'this feature';
  return new FusionrankError(
    `The optional dependency '${name}' is needed for ${purpose} but could not be loaded. Install it with: npm install ${name}`,
    'ERR_FUSIONRANK_MISSING_DEPENDENCY',
    { cause },
  );
}

function isNotFound(error: unknown, name: string): boolean {
  const code = (error as { code?: string } | null)?.code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
    // Only when the peer itself is missing, not one of its own imports.
    return String((error as Error).message).includes(name);
  }
  return false;
}

/**
 * Imports an optional peer once per thread. Resolves to the module namespace
 * (with CommonJS `default` unwrapped when that is where the API lives).
 * @throws {FusionrankError} ERR_FUSIONRANK_MISSING_DEPENDENCY when the package is not installed
 */
export function loadOptional<T>(name: string): Promise<T> {
  let promise = loaded.get(name);
  if (!promise) {
    promise = import(name).then(
      (mod: Record<string, unknown>) => ('default' in mod && mod.default && typeof mod.default === 'object' ? { ...mod, ...(mod.default as object) } : mod) as T,
      (error: unknown) => {
        loaded.delete(name);
        throw isNotFound(error, name) ? missingDependency(name, error) : error;
      },
    );
    loaded.set(name, promise);
  }
  return promise as Promise<T>;
}

/**
 * Resolves a file inside an optional package (e.g. its data folder) without
 * loading it.
 * @throws {FusionrankError} ERR_FUSIONRANK_MISSING_DEPENDENCY when the package is not installed
 */
export function resolveOptional(specifier: string, packageName: string): string {
  try {
    return createRequire(import.meta.url).resolve(specifier);
  } catch (error) {
    throw missingDependency(packageName, error);
  }
}
