/**
 * Many-query exact top-k of a VectorStore on a GPU (the CUDA package's
 * `CudaRowSet`). Each store gets one resident copy of its rows on the device
 * (binary16, as the store exports them), made on first use and kept current
 * incrementally: only the ranges the store reports as changed since the last
 * upload are written again. Searches on the same copy run concurrently; an
 * upload waits for the searches in flight (a write in the middle of one would
 * change its rows under it), and searches that arrive meanwhile wait for the
 * upload.
 */
import { CUDA_MAX_K, type NativeCudaBinding, type NativeCudaRowSet } from '../cuda.js';
import { invalidParameter, rangeError, typeError, withCallerStack } from '../errors.js';

/**
 * What the GPU path reads of a store: VectorStore's internal change hooks.
 * @internal
 */
export interface GpuRowSource {
  readonly dim: number;
  readonly size: number;
  /** Bumps on every add / set. */
  readonly version: number;
  /** Row ranges `[first, count]` changed since `version`; null when unknown (everything is uploaded again). */
  changesSince(version: number): Array<[first: number, count: number]> | null;
  /** Rows `[first, first + count)` as L2-normalised binary16, dense count x dim. */
  exportF16(first: number, count: number): Uint16Array;
}

interface Resident {
  binding: NativeCudaBinding;
  set: NativeCudaRowSet;
  /** The store version the device copy reflects; undefined before the first upload. */
  version: number | undefined;
  /** Searches on the copy that have not settled. */
  inflight: Set<Promise<unknown>>;
  /** The upload in progress, which searches wait for. */
  syncing: Promise<void> | undefined;
}

const residents = new WeakMap<GpuRowSource, Resident>();

/** Rows per write: ~32 MiB of binary16, so an upload never holds the whole store twice in JS memory. */
const uploadRows = (dim: number) => Math.max(1, Math.floor((32 << 20) / (dim * 2)));

/** The event loop gets a turn between upload chunks. */
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function upload(store: GpuRowSource, set: NativeCudaRowSet, first: number, end: number): Promise<void> {
  const step = uploadRows(store.dim);
  for (let row = first; row < end; row += step) {
    const count = Math.min(step, end - row);
    set.write(row, store.exportF16(row, count));
    if (row + count < end) await yieldToLoop();
  }
}

/** Brings the device copy up to the store version read at its start; later changes are caught by the next call. */
async function sync(store: GpuRowSource, r: Resident): Promise<void> {
  while (r.inflight.size > 0) await Promise.allSettled([...r.inflight]);
  // Read before exporting anything: a change made while this upload yields
  // has a later version, so the next search uploads it (again, at worst).
  const version = store.version;
  const size = store.size;
  const changes = r.version === undefined || size < r.set.size() ? null : store.changesSince(r.version);
  if (changes === null) {
    r.set.release();
    await upload(store, r.set, 0, size);
  } else {
    for (const [first, count] of [...changes].sort((a, b) => a[0] - b[0])) {
      // A write may not leave a gap: start at the copy's end at the latest.
      const start = Math.min(first, r.set.size());
      const end = Math.min(first + count, size);
      if (end > start) await upload(store, r.set, start, end);
    }
    if (r.set.size() < size) await upload(store, r.set, r.set.size(), size);
  }
  r.version = version;
}

async function resident(store: GpuRowSource, binding: NativeCudaBinding): Promise<Resident> {
  let r = residents.get(store);
  if (!r || r.binding !== binding) {
    r?.set.release();
    r = { binding, set: new binding.CudaRowSet(store.dim, 0), version: undefined, inflight: new Set(), syncing: undefined };
    residents.set(store, r);
  }
  for (;;) {
    if (r.version === store.version && r.set.size() === store.size) return r;
    if (!r.syncing) {
      const current = r;
      current.syncing = sync(store, current).finally(() => {
        current.syncing = undefined;
      });
    }
    await r.syncing;
  }
}

/**
 * Exact top-k of every query over the store's rows (or over `rows`) on the
 * GPU of `binding`: q x k rows and scores, best first, ties to the lower row
 * (the CPU's order); k larger than the candidate count is clamped to it (the
 * result's `k`). Queries
 * are raw: each is L2-normalised natively, and a zero query scores 0 against
 * every row. Scores are f16 dot products with f32 accumulation, so they
 * differ from the CPU's by about 1e-3 and near-ties may swap.
 *
 * @example
 * const where = resolveDevice('cuda');
 * if (where.device === 'cuda') await gpuTopKMany(store, where.binding, queries, 100);
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT for arguments of the wrong type
 * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH, ERR_FUSIONRANK_INVALID_K (k outside [1, CUDA_MAX_K]), ERR_FUSIONRANK_ROW_OUT_OF_RANGE, ERR_FUSIONRANK_NON_FINITE, ERR_FUSIONRANK_OUT_OF_MEMORY
 * @throws {FusionrankError} ERR_FUSIONRANK_CUDA_UNAVAILABLE, ERR_FUSIONRANK_CUDA_FAILED
 */
export async function gpuTopKMany(
  store: GpuRowSource,
  binding: NativeCudaBinding,
  queries: Float32Array,
  k: number,
  rows?: Uint32Array,
): Promise<{ k: number; rows: Uint32Array; scores: Float32Array }> {
  // Checked here without the CPU addon (this module needs only the CUDA one);
  // the native side re-checks everything, detached buffers included.
  if (!(queries instanceof Float32Array)) throw typeError(invalidParameter('queries', 'a Float32Array', queries));
  if (queries.length === 0 || queries.length % store.dim !== 0)
    throw rangeError(`Expected queries of a length that is a positive multiple of dim ${store.dim} but received ${queries.length}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
  if (typeof k !== 'number') throw typeError(invalidParameter('k', `an integer in [1, ${CUDA_MAX_K}]`, k), 'ERR_FUSIONRANK_INVALID_K');
  if (!Number.isInteger(k) || k < 1 || k > CUDA_MAX_K) throw rangeError(invalidParameter('k', `an integer in [1, ${CUDA_MAX_K}]`, k), 'ERR_FUSIONRANK_INVALID_K');
  if (rows !== undefined && !(rows instanceof Uint32Array)) throw typeError(invalidParameter('rows', 'a Uint32Array of row ids', rows));
  const subset = rows;
  const caller = new Error();
  try {
    const r = await resident(store, binding);
    // Started in the same turn as the check above, so no upload can begin in between.
    const job = r.set.topKMany(queries, k, subset);
    r.inflight.add(job);
    try {
      const result = await job;
      return { k: result.k, rows: result.rows, scores: result.scores };
    } finally {
      r.inflight.delete(job);
    }
  } catch (error) {
    throw withCallerStack(error, caller);
  }
}

/**
 * Frees the store's rows on the GPU now, instead of when the store is
 * garbage-collected (V8 does not see GPU memory, so that can be late). The
 * next `gpuTopKMany` uploads them again.
 */
export function releaseGpuRows(store: GpuRowSource): void {
  const r = residents.get(store);
  if (!r) return;
  residents.delete(store);
  // Searches in flight keep their native copy alive; release waits for them natively.
  if (r.inflight.size === 0) r.set.release();
  else void Promise.allSettled([...r.inflight]).then(() => r.set.release());
}
