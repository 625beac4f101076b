/**
 * The worker-pool machinery shared by ImagePool and OcrPool, on piscina (an
 * optional peer, loaded on the first task): a bounded queue with
 * backpressure, AbortSignal cancellation, a per-task timeout, a crashed
 * worker replaced (its task fails with a clear error, never hangs), and a
 * `close()` that drains.
 */
import { availableParallelism } from 'node:os';
import type { TransferListItem } from 'node:worker_threads';

import { FusionrankError, invalidParameter, rangeError, typeError } from '../errors.js';
import { loadOptional } from '../util/optional.js';
import { decodeError, type WireError } from '../util/wire-error.js';

export interface PoolOptions {
  /** Worker threads (default: the number of cores, at most 8). */
  threads?: number;
  /** Tasks that may wait beyond one per thread before `run` refuses with ERR_FUSIONRANK_QUEUE_FULL (default threads × 16). */
  maxQueue?: number;
  /** Per-task time limit in ms; the worker running a late task is replaced (default 30,000; 0 = none). */
  timeoutMs?: number;
  /** Stop idle workers after this many ms (default 30,000). */
  idleTimeoutMs?: number;
  /** Tasks one worker runs at once, overlapping one task's I/O or libuv work with another's JS (default 1). */
  tasksPerThread?: number;
}

export interface TaskOptions {
  /** Cancels the task: a queued task is dropped, a running one's worker is replaced. */
  signal?: AbortSignal;
  /** Overrides the pool's per-task timeout, in ms (0 = none). */
  timeoutMs?: number;
}

/** What a worker returns on failure instead of throwing (structured clone would drop the code). */
export interface WorkerFailure {
  error: WireError;
}

interface PiscinaLike {
  run(task: unknown, options?: { signal?: AbortSignal; transferList?: TransferListItem[] }): Promise<unknown>;
  destroy(): Promise<void>;
  on(event: string, listener: (...args: unknown[]) => void): void;
  readonly threads: Array<{ terminate(): Promise<number> }>;
  readonly completed: number;
}

type PiscinaCtor = new (options: Record<string, unknown>) => PiscinaLike;

export function resolvePoolOptions(options: PoolOptions): Required<PoolOptions> {
  const threads = options.threads ?? Math.min(8, availableParallelism());
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 256)
    throw (typeof threads === 'number' ? rangeError : typeError)(invalidParameter('threads', 'an integer in [1, 256]', threads));
  const maxQueue = options.maxQueue ?? threads * 16;
  if (typeof maxQueue !== 'number' || !Number.isInteger(maxQueue) || maxQueue < 0)
    throw (typeof maxQueue === 'number' ? rangeError : typeError)(invalidParameter('maxQueue', 'a non-negative integer', maxQueue));
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 0)
    throw (typeof timeoutMs === 'number' ? rangeError : typeError)(invalidParameter('timeoutMs', 'a non-negative integer (0 = no timeout)', timeoutMs));
  const idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
  if (typeof idleTimeoutMs !== 'number' || !Number.isInteger(idleTimeoutMs) || idleTimeoutMs < 0)
    throw (typeof idleTimeoutMs === 'number' ? rangeError : typeError)(invalidParameter('idleTimeoutMs', 'a non-negative integer', idleTimeoutMs));
  const tasksPerThread = options.tasksPerThread ?? 1;
  if (typeof tasksPerThread !== 'number' || !Number.isInteger(tasksPerThread) || tasksPerThread < 1 || tasksPerThread > 64)
    throw (typeof tasksPerThread === 'number' ? rangeError : typeError)(invalidParameter('tasksPerThread', 'an integer in [1, 64]', tasksPerThread));
  return { threads, maxQueue, timeoutMs, idleTimeoutMs, tasksPerThread };
}

/**
 * A pool of worker threads running the default export of `filename`.
 * Internal: the public pools wrap it with a typed task.
 */
export class TaskPool<Task, Result> {
  readonly options: Readonly<Required<PoolOptions>>;
  readonly #filename: string;
  readonly #workerData: unknown;
  readonly #label: string;
  #pool: Promise<PiscinaLike> | undefined;
  #pending = 0;
  #closing: Promise<void> | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();
  #waiters: Array<() => void> = [];
  #inlineRunning = 0;
  #inlineWaiters: Array<() => void> = [];

  constructor(filename: string, options: PoolOptions, workerData: unknown, label: string) {
    this.options = Object.freeze(resolvePoolOptions(options));
    this.#filename = filename;
    this.#workerData = workerData;
    this.#label = label;
  }

  /** Tasks submitted and not yet settled (running + queued). */
  get pending(): number {
    return this.#pending;
  }

  /** Most tasks that may be pending at once: those running plus `maxQueue` waiting. */
  get capacity(): number {
    return this.options.threads * this.options.tasksPerThread + this.options.maxQueue;
  }

  /** Resolves when a task can be submitted without ERR_FUSIONRANK_QUEUE_FULL. */
  whenReady(): Promise<void> {
    if (this.#pending < this.capacity) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The live worker threads (for diagnostics and tests). */
  async workers(): Promise<Array<{ terminate(): Promise<number> }>> {
    return (await this.#start()).threads;
  }

  /**
   * Runs a task on a worker, or with `inline` on this thread (same queue
   * limit, abort and timeout; a timed-out inline task is abandoned, not killed).
   */
  async run(task: Task, transferList: TransferListItem[], options: TaskOptions = {}, inline?: (task: Task) => Promise<Result>): Promise<Result> {
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object', options));
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw typeError(invalidParameter('signal', 'an AbortSignal', options.signal));
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 0) throw rangeError(invalidParameter('timeoutMs', 'a non-negative integer', timeoutMs));
    if (this.#closing) throw new FusionrankError(`The ${this.#label} pool is closed`, 'ERR_FUSIONRANK_POOL_CLOSED');
    if (options.signal?.aborted) throw aborted(options.signal.reason);
    if (this.#pending >= this.capacity)
      throw new FusionrankError(
        `The ${this.#label} pool queue is full (${this.#pending} tasks pending, capacity ${this.capacity}); await pool.whenReady() before submitting more, or raise maxQueue`,
        'ERR_FUSIONRANK_QUEUE_FULL',
      );
    this.#pending++;
    const promise = inline ? this.#executeInline(inline, task, options.signal, timeoutMs) : this.#execute(task, transferList, options.signal, timeoutMs);
    this.#inFlight.add(promise);
    try {
      return await promise;
    } finally {
      this.#inFlight.delete(promise);
      this.#pending--;
      const waiter = this.#waiters.shift();
      waiter?.();
    }
  }

  async #executeInline(inline: (task: Task) => Promise<Result>, task: Task, signal: AbortSignal | undefined, timeoutMs: number): Promise<Result> {
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<never>((_, reject) => {
      if (timeoutMs > 0) {
        timer = setTimeout(() => reject(new FusionrankError(`The ${this.#label} task took longer than ${timeoutMs} ms and was abandoned`, 'ERR_FUSIONRANK_TIMEOUT')), timeoutMs);
        timer.unref();
      }
      if (signal) {
        onAbort = () => reject(aborted(signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
      }
    });
    stop.catch(() => {});
    // As many inline tasks run at once as workers would: more only oversubscribes the cores and starves the event loop.
    let slot: (() => void) | undefined;
    const acquire = async (): Promise<void> => {
      while (this.#inlineRunning >= this.options.threads * this.options.tasksPerThread) await new Promise<void>((resolve) => this.#inlineWaiters.push(resolve));
      this.#inlineRunning++;
      slot = () => {
        this.#inlineRunning--;
        this.#inlineWaiters.shift()?.();
      };
    };
    const acquired = acquire();
    try {
      await Promise.race([acquired, stop]);
      return await Promise.race([inline(task), stop]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
      // A task stopped while waiting takes its slot later: hand it straight back then.
      if (slot) slot();
      else void acquired.then(() => slot?.());
    }
  }

  async #execute(task: Task, transferList: TransferListItem[], signal: AbortSignal | undefined, timeoutMs: number): Promise<Result> {
    const pool = await this.#start();
    const timeout = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
    const signals = [signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    const combined = signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
    let result: unknown;
    try {
      result = await pool.run(task, { signal: combined, transferList });
    } catch (error) {
      if (timeout?.aborted && !signal?.aborted)
        throw new FusionrankError(`The ${this.#label} task took longer than ${timeoutMs} ms; its worker was replaced`, 'ERR_FUSIONRANK_TIMEOUT', { cause: error });
      if (signal?.aborted) throw aborted(signal.reason);
      if (this.#closing && /Terminating worker thread|pool is closed/.test(String((error as Error)?.message)))
        throw new FusionrankError(`The ${this.#label} pool was closed`, 'ERR_FUSIONRANK_POOL_CLOSED', { cause: error });
      throw new FusionrankError(
        `A ${this.#label} worker crashed while running this task (${(error as Error)?.message ?? error}); the worker has been replaced`,
        'ERR_FUSIONRANK_WORKER_CRASHED',
        { cause: error },
      );
    }
    if (result !== null && typeof result === 'object' && 'error' in result && !ArrayBuffer.isView(result)) throw decodeError((result as WorkerFailure).error);
    return result as Result;
  }

  #start(): Promise<PiscinaLike> {
    this.#pool ??= loadOptional<{ Piscina: PiscinaCtor }>('piscina').then(({ Piscina }) => {
      const pool = new Piscina({
        filename: this.#filename,
        minThreads: this.options.threads,
        maxThreads: this.options.threads,
        maxQueue: this.capacity,
        idleTimeout: this.options.idleTimeoutMs,
        concurrentTasksPerWorker: this.options.tasksPerThread,
        workerData: this.#workerData,
      });
      // piscina reports a close timeout as an 'error' event; without a listener it would throw.
      pool.on('error', () => {});
      return pool;
    });
    return this.#pool;
  }

  /** Stops accepting tasks, lets queued and running ones finish, then stops the workers. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#inFlight]);
      for (const waiter of this.#waiters.splice(0)) waiter();
      if (this.#pool) await (await this.#pool).destroy();
    })();
    return this.#closing;
  }
}

function aborted(reason: unknown): FusionrankError {
  const error = new FusionrankError(`The task was aborted${reason instanceof Error ? `: ${reason.message}` : ''}`, 'ERR_FUSIONRANK_ABORTED', { cause: reason });
  error.name = 'AbortError';
  return error;
}

/** Retries a pool call that hit its queue limit once the pool has room. */
export async function withBackpressure<T>(pool: { whenReady(): Promise<void> }, call: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if ((error as { code?: string })?.code !== 'ERR_FUSIONRANK_QUEUE_FULL') throw error;
      await pool.whenReady();
    }
  }
}
