/**
 * Errors thrown by fusionrank. Every error is a standard class (`TypeError`
 * for a value of the wrong kind, `RangeError` for a value out of range,
 * `FusionrankError` otherwise) with a stable `code` to branch on.
 */

/** Every code fusionrank throws. Stable across minor versions. */
export type ErrorCode =
  | 'ERR_FUSIONRANK_INVALID_ARGUMENT'
  | 'ERR_FUSIONRANK_INVALID_DIM'
  | 'ERR_FUSIONRANK_UNKNOWN_DTYPE'
  | 'ERR_FUSIONRANK_DIM_MISMATCH'
  | 'ERR_FUSIONRANK_NON_FINITE'
  | 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE'
  | 'ERR_FUSIONRANK_INVALID_K'
  | 'ERR_FUSIONRANK_DETACHED_BUFFER'
  | 'ERR_FUSIONRANK_TOO_MANY_ROWS'
  | 'ERR_FUSIONRANK_OUT_OF_MEMORY'
  | 'ERR_FUSIONRANK_UNKNOWN_ISA'
  | 'ERR_FUSIONRANK_ISA_UNAVAILABLE'
  | 'ERR_FUSIONRANK_NATIVE_NOT_FOUND'
  | 'ERR_FUSIONRANK_NATIVE_VERSION'
  | 'ERR_FUSIONRANK_UNSUPPORTED_PLATFORM'
  | 'ERR_FUSIONRANK_MISSING_DEPENDENCY'
  | 'ERR_FUSIONRANK_INTERNAL'
  // ingest, encoders and worker pools
  | 'ERR_FUSIONRANK_FILE_NOT_FOUND'
  | 'ERR_FUSIONRANK_UNSUPPORTED_IMAGE'
  | 'ERR_FUSIONRANK_CORRUPT_IMAGE'
  | 'ERR_FUSIONRANK_IMAGE_TOO_LARGE'
  | 'ERR_FUSIONRANK_INVALID_MODEL'
  | 'ERR_FUSIONRANK_NOT_AN_ENCODER'
  | 'ERR_FUSIONRANK_INVALID_TOKENIZER'
  | 'ERR_FUSIONRANK_EMPTY_TEXT'
  | 'ERR_FUSIONRANK_CUDA_UNAVAILABLE'
  | 'ERR_FUSIONRANK_CUDA_FAILED'
  | 'ERR_FUSIONRANK_INFERENCE_FAILED'
  | 'ERR_FUSIONRANK_OCR_FAILED'
  | 'ERR_FUSIONRANK_QUEUE_FULL'
  | 'ERR_FUSIONRANK_ABORTED'
  | 'ERR_FUSIONRANK_TIMEOUT'
  | 'ERR_FUSIONRANK_WORKER_CRASHED'
  | 'ERR_FUSIONRANK_WORKER_NOT_BUILT'
  | 'ERR_FUSIONRANK_POOL_CLOSED'
  | 'ERR_FUSIONRANK_DUPLICATE_ID'
  | 'ERR_FUSIONRANK_EMPTY_ITEM'
  | 'ERR_FUSIONRANK_UPSERT_FAILED'
  | 'ERR_FUSIONRANK_BUSY'
  | 'ERR_FUSIONRANK_CORRUPT'
  | 'ERR_FUSIONRANK_DUPLICATE_NAME'
  | 'ERR_FUSIONRANK_FILE_READ'
  | 'ERR_FUSIONRANK_INDEX'
  | 'ERR_FUSIONRANK_INVALID_BATCH'
  | 'ERR_FUSIONRANK_INVALID_DURATION'
  | 'ERR_FUSIONRANK_INVALID_FIELD'
  | 'ERR_FUSIONRANK_INVALID_FILTER'
  | 'ERR_FUSIONRANK_INVALID_ID'
  | 'ERR_FUSIONRANK_INVALID_SPEC'
  | 'ERR_FUSIONRANK_INVALID_WEIGHT'
  | 'ERR_FUSIONRANK_IO'
  | 'ERR_FUSIONRANK_MISSING_INPUT'
  | 'ERR_FUSIONRANK_MISSING_POLICY'
  | 'ERR_FUSIONRANK_MLP_SHAPE'
  | 'ERR_FUSIONRANK_NOT_FOUND'
  | 'ERR_FUSIONRANK_ONNX_BAD_TENSOR'
  | 'ERR_FUSIONRANK_ONNX_DYNAMIC_DIM'
  | 'ERR_FUSIONRANK_ONNX_EXTERNAL_DATA'
  | 'ERR_FUSIONRANK_ONNX_OUTPUTS'
  | 'ERR_FUSIONRANK_ONNX_PARSE'
  | 'ERR_FUSIONRANK_ONNX_SHAPE_MISMATCH'
  | 'ERR_FUSIONRANK_ONNX_UNSUPPORTED'
  | 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_OP'
  | 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_SHAPE'
  | 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_TYPE'
  | 'ERR_FUSIONRANK_RERANK_OUTPUT'
  | 'ERR_FUSIONRANK_SAFETENSORS_PARSE'
  | 'ERR_FUSIONRANK_SAFETENSORS_UNSUPPORTED_TYPE'
  | 'ERR_FUSIONRANK_SPEC_SHAPE_MISMATCH'
  | 'ERR_FUSIONRANK_SPEC_TENSOR_NOT_FOUND'
  | 'ERR_FUSIONRANK_UNKNOWN_FIELD'
  | 'ERR_FUSIONRANK_UNKNOWN_FIELD_TYPE'
  | 'ERR_FUSIONRANK_UNKNOWN_INPUT'
  | 'ERR_FUSIONRANK_UNKNOWN_SIGNAL'
  | 'ERR_FUSIONRANK_UNKNOWN_VECTOR'
  | 'ERR_FUSIONRANK_UNSUPPORTED_VERSION'
  | 'ERR_FUSIONRANK_SCHEMA_MISMATCH'
  // evaluation
  | 'ERR_FUSIONRANK_INVALID_METRIC'
  | 'ERR_FUSIONRANK_NO_COMMON_QUERIES'
  | 'ERR_FUSIONRANK_LENGTH_MISMATCH'
  | 'ERR_FUSIONRANK_EMPTY_INPUT'
  | 'ERR_FUSIONRANK_PARSE'
  | 'ERR_FUSIONRANK_DUPLICATE_DOC'
  // fitted weights
  | 'ERR_FUSIONRANK_MISSING_LABELS'
  | 'ERR_FUSIONRANK_INVALID_SPLIT'
  | 'ERR_FUSIONRANK_UNSUPPORTED_RANKER'
  | (string & {});

/** A fusionrank error that is neither a TypeError nor a RangeError. */
export class FusionrankError extends Error {
  readonly code: ErrorCode;
  constructor(message: string, code: ErrorCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FusionrankError';
    this.code = code;
  }
}

/** A `TypeError` or `RangeError` as fusionrank throws them: with a `code`. */
export type CodedError = (TypeError | RangeError | FusionrankError) & { code: ErrorCode };

function withCode<E extends Error>(error: E, code: ErrorCode): E & { code: ErrorCode } {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, writable: true, configurable: true });
  return error as E & { code: ErrorCode };
}

export function typeError(message: string, code: ErrorCode = 'ERR_FUSIONRANK_INVALID_ARGUMENT'): TypeError & { code: ErrorCode } {
  return withCode(new TypeError(message), code);
}

export function rangeError(message: string, code: ErrorCode = 'ERR_FUSIONRANK_INVALID_ARGUMENT'): RangeError & { code: ErrorCode } {
  return withCode(new RangeError(message), code);
}

/** Describes a value for an error message: `Float64Array(3)`, `'abc'`, `NaN`. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return value.length > 40 ? `'${value.slice(0, 37)}...'` : `'${value}'`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (ArrayBuffer.isView(value)) {
    const length = 'length' in value ? (value as unknown as { length: number }).length : value.byteLength;
    return `${value.constructor.name}(${length})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  return value.constructor?.name ?? 'Object';
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (ArrayBuffer.isView(value) || Array.isArray(value)) return value.constructor.name;
  return typeof value;
}

/**
 * The one message shape for invalid arguments:
 * `Expected <what> for <name> but received <value> of type <type>`.
 */
export function invalidParameter(name: string, expected: string, value: unknown): string {
  return `Expected ${expected} for ${name} but received ${describe(value)} of type ${typeName(value)}`;
}

/**
 * Re-attaches the caller's stack to an error that was created on a native
 * worker thread, which otherwise has no JS frames.
 */
export function withCallerStack(error: unknown, caller: Error): unknown {
  if (error instanceof Error && caller.stack) {
    const frames = caller.stack.split('\n').slice(1).join('\n');
    error.stack = `${error.name}: ${error.message}\n${frames}`;
  }
  return error;
}
