/**
 * A named column of N x D vectors held in native, 64-byte aligned memory and
 * stored L2-normalised, so cosine similarity is a single dot product.
 */
import { availableParallelism } from 'node:os';

import { invalidParameter, rangeError, typeError, withCallerStack } from '../errors.js';
import { native, type NativeVectorStore } from '../native.js';
import type { DeviceRequest } from '../cuda.js';
import { optionalOptions, optionalUint32Array, requireFloat32Array, requireInteger, requireOneOf } from '../util/validate.js';

/** Storage type of the rows. Queries are always f32. */
export type Dtype = 'f32' | 'f16' | 'i8';
export const DTYPES: readonly Dtype[] = ['f32', 'f16', 'i8'];
/** Largest supported dimension. */
export const MAX_DIM = 65536;

export interface VectorStoreOptions {
  /** Dimension of every vector, 1..65536. */
  dim: number;
  /** `'f32'` (default), `'f16'` (half the memory) or `'i8'` (a quarter, one f32 scale per row). */
  dtype?: Dtype;
}

/** Rows and scores of a top-k query, best first (ties: lower row first). */
export interface TopKResult {
  rows: Uint32Array;
  scores: Float32Array;
}

export interface TopKOptions {
  /** Only consider these row ids (e.g. filtered candidates). */
  rows?: Uint32Array;
}

export interface TopKAsyncOptions extends TopKOptions {
  /** Threads for one scan (default: all cores, at most 64; small scans use one). */
  threads?: number;
}

/**
 * `topKMany`'s result: for query i, its rows and scores are the slice
 * [i * k, (i + 1) * k), best first (ties: lower row first).
 */
export interface TopKManyResult {
  /** Results per query: the requested k, clamped to the number of candidate rows. */
  k: number;
  rows: Uint32Array;
  scores: Float32Array;
}

export interface TopKManyOptions extends TopKOptions {
  /**
   * `'cpu'` (default), `'cuda'` (the GPU of the CUDA package, or
   * ERR_FUSIONRANK_CUDA_UNAVAILABLE) or `'auto'` (the GPU when one is usable,
   * else the CPU with one warning per process).
   */
  device?: DeviceRequest;
  /** CPU threads (default: all cores, at most 64). */
  threads?: number;
}

/** Writes remembered for the GPU's copy of the rows (`changesSince`); older ones mean "re-upload all". */
const WRITE_LOG_LIMIT = 256;

/**
 * Vectors are normalised on the way in; a zero vector is kept as zeros and
 * its cosine with any query is 0 (never NaN). A zero query scores 0 against
 * every row.
 *
 * @example
 * const store = new VectorStore({ dim: 768, dtype: 'f16' });
 * store.add(embeddings);               // Float32Array of n * 768
 * const { rows, scores } = store.topK(query, 10);
 */
export class VectorStore {
  readonly dim: number;
  readonly dtype: Dtype;
  readonly #native: NativeVectorStore;
  #version = 0;
  /** [version after the write, first row, count] of the latest writes. */
  #writes: Array<[number, number, number]> = [];

  /**
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when options are not an object or dim is not a number
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_DIM when dim is not an integer in [1, 65536]
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_DTYPE when dtype is not 'f32', 'f16' or 'i8'
   */
  constructor(options: VectorStoreOptions) {
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an object such as { dim: 768 }', options));
    this.dim = requireInteger(options.dim, 'dim', 1, MAX_DIM, 'ERR_FUSIONRANK_INVALID_DIM');
    this.dtype = options.dtype === undefined ? 'f32' : requireOneOf(options.dtype, 'dtype', DTYPES, 'ERR_FUSIONRANK_UNKNOWN_DTYPE');
    this.#native = new native.NativeVectorStore(this.dim, this.dtype);
  }

  /** Number of rows. */
  get size(): number {
    return this.#native.size();
  }

  /** Bytes of native memory reserved for rows. */
  get memoryBytes(): number {
    return this.#native.memoryBytes();
  }

  /**
   * Appends `vectors.length / dim` rows. Returns the first new row id.
   * @example const first = store.add(new Float32Array(2 * store.dim));
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when the length is not a positive multiple of dim
   * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a value is NaN or Infinity (nothing is added)
   */
  add(vectors: Float32Array): number {
    const first = this.#native.add(this.#vectors(vectors, 'vectors'));
    this.#wrote(first, vectors.length / this.dim);
    return first;
  }

  /**
   * Overwrites rows starting at `row` with `vectors.length / dim` vectors.
   * @throws {RangeError} ERR_FUSIONRANK_ROW_OUT_OF_RANGE when a row does not exist (nothing is written)
   */
  set(row: number, vectors: Float32Array): void {
    requireInteger(row, 'row', 0, 0xffffffff, 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE');
    this.#native.set(row, this.#vectors(vectors, 'vectors'));
    this.#wrote(row, vectors.length / this.dim);
  }

  /** @internal Bumps on every add / set: what a copy of the rows (the GPU's) compares against. */
  get version(): number {
    return this.#version;
  }

  /**
   * @internal The row ranges written since `version`, as [first, count]
   * pairs in write order, or null when they are no longer remembered (the
   * caller then copies every row again).
   */
  changesSince(version: number): Array<[number, number]> | null {
    if (version === this.#version) return [];
    const oldest = this.#writes[0];
    if (!oldest || version < oldest[0] - 1 || version > this.#version) return null;
    return this.#writes.filter(([v]) => v > version).map(([, first, count]) => [first, count]);
  }

  /** @internal Rows [first, first + count) as stored (normalised, dequantised), as IEEE binary16: count x dim. */
  exportF16(first: number, count: number): Uint16Array {
    requireInteger(first, 'first', 0, 0xffffffff, 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE');
    requireInteger(count, 'count', 0, 0xffffffff, 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE');
    return this.#native.exportF16(first, count);
  }

  #wrote(first: number, count: number): void {
    this.#version++;
    this.#writes.push([this.#version, first, count]);
    if (this.#writes.length > WRITE_LOG_LIMIT) this.#writes.shift();
  }

  /**
   * The stored row: normalised, and dequantised for f16 / i8.
   * @throws {RangeError} ERR_FUSIONRANK_ROW_OUT_OF_RANGE
   */
  get(row: number): Float32Array {
    requireInteger(row, 'row', 0, 0xffffffff, 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE');
    return this.#native.get(row);
  }

  /** True when the row was added as a zero vector (so it scores 0 against everything). */
  isZero(row: number): boolean {
    requireInteger(row, 'row', 0, 0xffffffff, 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE');
    if (row >= this.size) throw rangeError(`Row ${row} is out of range for a store of ${this.size} rows`, 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE');
    return this.#native.isZero(row);
  }

  /**
   * Cosine similarity of `query` with every row, or with `rows` in that order.
   * @example const scores = store.cosine(query, new Uint32Array([4, 8, 15]));
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when query.length !== dim
   * @throws {RangeError} ERR_FUSIONRANK_ROW_OUT_OF_RANGE when a row id does not exist
   */
  cosine(query: Float32Array, rows?: Uint32Array): Float32Array {
    return this.#native.cosine(this.#query(query), optionalUint32Array(rows, 'rows'));
  }

  /**
   * Cosine similarity of each of q queries (q * dim floats) with the rows:
   * a row-major q x rows matrix.
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when the length is not a positive multiple of dim
   */
  cosineMany(queries: Float32Array, rows?: Uint32Array): Float32Array {
    return this.#native.cosineMany(this.#vectors(queries, 'queries'), optionalUint32Array(rows, 'rows'));
  }

  /**
   * Exact top-k rows by cosine, on the calling thread. `k` larger than the
   * number of rows returns them all.
   * @example const { rows, scores } = store.topK(query, 10, { rows: candidates });
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_K when k is not a positive integer
   */
  topK(query: Float32Array, k: number, options?: TopKOptions): TopKResult {
    const opts = optionalOptions<TopKOptions>(options, 'options');
    return this.#native.topK(this.#query(query), this.#k(k), optionalUint32Array(opts.rows, 'options.rows'));
  }

  /**
   * `topK` on the libuv thread pool, split over `threads` for large scans.
   * The event loop stays free; rows added meanwhile are not seen.
   */
  async topKAsync(query: Float32Array, k: number, options?: TopKAsyncOptions): Promise<TopKResult> {
    const opts = optionalOptions<TopKAsyncOptions>(options, 'options');
    const threads = opts.threads === undefined ? Math.min(64, availableParallelism()) : requireInteger(opts.threads, 'options.threads', 1, 256);
    const caller = new Error();
    try {
      return await this.#native.topKAsync(this.#query(query), this.#k(k), optionalUint32Array(opts.rows, 'options.rows'), threads);
    } catch (error) {
      throw withCallerStack(error, caller);
    }
  }

  /**
   * Exact top-k for many queries at once: `queries` holds q vectors of `dim`
   * floats, back to back. The scores are a blocked matrix product of the
   * queries and the rows (the same SIMD tiers as `topK`), on the libuv pool
   * and `threads` cores; the event loop stays free. Results equal `topK` per
   * query except where two scores differ only in float rounding (a
   * different summation order). `k` above the number of candidate rows is
   * clamped to it (the result's `k`). Rows added while it runs are not seen.
   *
   * @example
   * const { k, rows, scores } = await store.topKMany(userVectors, 100);
   * const firstUsersRows = rows.subarray(0, k);
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when queries.length is not a positive multiple of dim
   * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a query holds NaN or Infinity (the message names the query)
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_K when k is not a positive integer
   * @throws {RangeError} ERR_FUSIONRANK_ROW_OUT_OF_RANGE when options.rows names a row that does not exist
   * @throws {FusionrankError} ERR_FUSIONRANK_CUDA_UNAVAILABLE when device is 'cuda' and no GPU is usable
   */
  async topKMany(queries: Float32Array, k: number, options?: TopKManyOptions): Promise<TopKManyResult> {
    const opts = optionalOptions<TopKManyOptions>(options, 'options');
    const caller = new Error();
    try {
      const q = this.#vectors(queries, 'queries');
      const kk = this.#k(k);
      const rows = optionalUint32Array(opts.rows, 'options.rows');
      const threads = opts.threads === undefined ? Math.min(64, availableParallelism()) : requireInteger(opts.threads, 'options.threads', 1, 256);
      if (opts.device !== undefined && opts.device !== 'cpu') {
        const { resolveDevice } = await import('../cuda.js');
        const where = resolveDevice(opts.device);
        if (where.device === 'cuda') {
          const { gpuTopKMany } = await import('./gpu.js');
          try {
            return await gpuTopKMany(this, where.binding, q, kk, rows);
          } catch (error) {
            // 'auto' falls back to the CPU for this call when the GPU runs out of memory.
            if (opts.device !== 'auto' || (error as { code?: string })?.code !== 'ERR_FUSIONRANK_OUT_OF_MEMORY') throw error;
            process.emitWarning(`topKMany: the GPU ran out of memory (${(error as Error).message}); this call runs on the CPU`, { type: 'FusionrankWarning', code: 'FUSIONRANK_CUDA_FALLBACK' });
          }
        }
      }
      return await this.#native.topKManyAsync(q, kk, rows, threads);
    } catch (error) {
      throw withCallerStack(error, caller);
    }
  }

  /** @internal Bench probe: reads the bytes `cosine(query, rows)` would read, on `threads` threads. */
  probeRead(rows?: Uint32Array, threads = 1): number {
    return this.#native.probeRead(optionalUint32Array(rows, 'rows'), requireInteger(threads, 'threads', 1, 256));
  }

  #query(query: unknown): Float32Array {
    const q = requireFloat32Array(query, 'query');
    if (q.length !== this.dim)
      throw rangeError(invalidParameter('query', `a Float32Array of length ${this.dim}`, q), 'ERR_FUSIONRANK_DIM_MISMATCH');
    return q;
  }

  #vectors(vectors: unknown, name: string): Float32Array {
    const v = requireFloat32Array(vectors, name);
    if (v.length === 0 || v.length % this.dim !== 0)
      throw rangeError(invalidParameter(name, `a Float32Array whose length is a positive multiple of ${this.dim}`, v), 'ERR_FUSIONRANK_DIM_MISMATCH');
    return v;
  }

  #k(k: unknown): number {
    return requireInteger(k, 'k', 1, 0xffffffff, 'ERR_FUSIONRANK_INVALID_K');
  }
}
