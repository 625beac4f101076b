/**
 * Decodes and preprocesses images (sharp) into CLIP-ready `3 x size x size`
 * Float32Arrays, either on worker threads (results transferred, not copied)
 * or on this thread with sharp's own libuv concurrency.
 *
 * Why both: sharp always decodes on the process-wide libuv pool, worker
 * threads included, so workers add parallelism only for the JS float
 * conversion and cost a message hop per image. On a 2-core machine libuv
 * alone measured faster but with a busier event loop (bench ingest). 'auto'
 * measures both on the first images and keeps the faster of those that kept
 * the event-loop delay p99 within budget.
 */
import { availableParallelism } from 'node:os';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { TransferListItem } from 'node:worker_threads';

import { invalidParameter, typeError } from '../errors.js';
import { requireOneOf } from '../util/validate.js';
import { workerScript } from '../util/worker-script.js';
import { type ImageInput, requireImageInput } from './input.js';
import { type PreprocessOptions, preprocessImage, type ResolvedPreprocess, resolvePreprocess } from './preprocess.js';
import { type PoolOptions, type TaskOptions, TaskPool } from './task-pool.js';

export type ImagePoolMode = 'auto' | 'workers' | 'libuv';
const MODES: readonly ImagePoolMode[] = ['auto', 'workers', 'libuv'];

export interface ImagePoolOptions extends PoolOptions, PreprocessOptions {
  /** 'workers', 'libuv' (this thread, sharp's libuv concurrency) or 'auto' (default: measure both on the first images, keep the faster). */
  mode?: ImagePoolMode;
  /** Images per mode that 'auto' measures before choosing (default 16). */
  calibrationImages?: number;
  /** 'auto' prefers modes whose event-loop delay p99 stays within this many ms while it measures (default 10). */
  eventLoopBudgetMs?: number;
}

/** What 'auto' measured, in images per second, and what it chose. */
export interface ImagePoolCalibration {
  /** Images per second on worker threads. */
  workers?: number;
  /** Images per second on this thread's libuv pool. */
  libuv?: number;
  /** Event-loop delay p99 in ms while each mode ran. */
  workersLoopP99Ms?: number;
  libuvLoopP99Ms?: number;
  chosen?: 'workers' | 'libuv';
}

interface Phase {
  mode: 'workers' | 'libuv';
  settled: number;
  /** Resolves when every image of the phase has settled. */
  done: Promise<void>;
  finish: () => void;
  firstEnd: number;
  lastEnd: number;
  loop?: IntervalHistogram;
}

function newPhase(mode: 'workers' | 'libuv'): Phase {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return { mode, settled: 0, done, finish, firstEnd: 0, lastEnd: 0 };
}

/**
 * @example
 * const images = new ImagePool({ threads: 2, size: 224 });
 * const pixels = await images.preprocess('cat.jpg');   // Float32Array(3 * 224 * 224)
 * await images.close();
 */
export class ImagePool {
  /** Side of the square output. */
  readonly size: number;
  /** The preprocessing every task applies. */
  readonly preprocessOptions: Readonly<ResolvedPreprocess>;
  readonly #pool: TaskPool<string | Uint8Array, Float32Array>;
  readonly #inline: (input: string | Uint8Array) => Promise<Float32Array>;
  readonly #calibrationImages: number;
  readonly #loopBudgetMs: number;
  #mode: 'workers' | 'libuv' | undefined;
  #submitted = 0;
  readonly #phases: [Phase, Phase] = [newPhase('workers'), newPhase('libuv')];
  readonly #calibration: ImagePoolCalibration = {};

  /**
   * Workers start on the first task; sharp and piscina load then.
   * @throws {TypeError|RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT on a bad option
   */
  constructor(options: ImagePoolOptions = {}) {
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object', options));
    this.preprocessOptions = Object.freeze(resolvePreprocess(options));
    this.size = this.preprocessOptions.size;
    const mode = requireOneOf(options.mode ?? 'auto', 'mode', MODES);
    this.#mode = mode === 'auto' ? undefined : mode;
    this.#calibrationImages = options.calibrationImages ?? 16;
    this.#loopBudgetMs = options.eventLoopBudgetMs ?? 10;
    if (typeof this.#loopBudgetMs !== 'number' || !(this.#loopBudgetMs > 0)) throw typeError(invalidParameter('eventLoopBudgetMs', 'a positive number of ms', this.#loopBudgetMs));
    if (!Number.isInteger(this.#calibrationImages) || this.#calibrationImages < 2 || this.#calibrationImages > 10_000)
      throw typeError(invalidParameter('calibrationImages', 'an integer in [2, 10000]', this.#calibrationImages));
    // Two tasks per thread: one decodes on libuv while the other converts to floats.
    this.#pool = new TaskPool(
      workerScript(import.meta.url, 'workers/image-worker.js', 'src/ingest'),
      { threads: Math.min(8, availableParallelism()), tasksPerThread: 2, ...options },
      { preprocess: this.preprocessOptions },
      'image',
    );
    const resolved = this.preprocessOptions;
    this.#inline = (input) => preprocessImage(input, resolved);
  }

  /** Worker threads, queue limit and timeout in effect. */
  get poolOptions(): Readonly<Required<PoolOptions>> {
    return this.#pool.options;
  }

  /** The mode in use: 'workers', 'libuv', or 'calibrating' while 'auto' measures. */
  get mode(): 'workers' | 'libuv' | 'calibrating' {
    return this.#mode ?? 'calibrating';
  }

  /** What 'auto' measured (images/s per mode) and chose. */
  get calibration(): Readonly<ImagePoolCalibration> {
    return { ...this.#calibration };
  }

  /** Tasks submitted and not yet settled. */
  get pending(): number {
    return this.#pool.pending;
  }

  /**
   * Resolves when `preprocess` can be called without ERR_FUSIONRANK_QUEUE_FULL: the way to apply backpressure.
   * @example for (const file of files) { await images.whenReady(); jobs.push(images.preprocess(file)); }
   * @throws never
   */
  whenReady(): Promise<void> {
    return this.#pool.whenReady();
  }

  /**
   * Decodes one image (JPEG, PNG, WebP, GIF first frame, TIFF, AVIF; EXIF
   * orientation applied) and returns `3 x size x size` normalised floats.
   * Bytes are copied to a worker (the caller keeps its Buffer); the result
   * is transferred back.
   * @example const pixels = await images.preprocess(buffer, { signal: AbortSignal.timeout(1000) });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when the input is not a path or bytes
   * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND, ERR_FUSIONRANK_UNSUPPORTED_IMAGE, ERR_FUSIONRANK_CORRUPT_IMAGE
   * @throws {RangeError} ERR_FUSIONRANK_IMAGE_TOO_LARGE when the header declares more than maxPixels
   * @throws {FusionrankError} ERR_FUSIONRANK_QUEUE_FULL, ERR_FUSIONRANK_ABORTED, ERR_FUSIONRANK_TIMEOUT, ERR_FUSIONRANK_WORKER_CRASHED, ERR_FUSIONRANK_POOL_CLOSED
   */
  async preprocess(input: ImageInput, options: TaskOptions = {}): Promise<Float32Array> {
    const checked = requireImageInput(input, 'input');
    const transfer: TransferListItem[] = [];
    let phase: Phase | undefined;
    let mode = this.#mode;
    if (mode === undefined) {
      // Phases run one after the other so they do not share the cores while measured.
      const index = this.#submitted++;
      const [first, second] = this.#phases;
      if (index >= this.#calibrationImages) await first.done;
      if (index >= 2 * this.#calibrationImages) await second.done;
      phase = index < this.#calibrationImages ? first : index < 2 * this.#calibrationImages ? second : undefined;
      mode = phase?.mode ?? this.#mode ?? 'workers';
      if (phase && !phase.loop) {
        phase.loop = monitorEventLoopDelay({ resolution: 1 });
        phase.loop.enable();
      }
    }
    try {
      return await this.#pool.run(checked, transfer, options, mode === 'libuv' ? this.#inline : undefined);
    } finally {
      if (phase) this.#record(phase);
    }
  }

  /**
   * Throughput of a phase from its first to its last completion (so worker
   * start-up is not counted) and its event-loop delay. The faster mode wins
   * among those within the event-loop budget (both, or neither, compete).
   */
  #record(phase: Phase): void {
    const now = performance.now();
    if (phase.settled++ === 0) phase.firstEnd = now;
    phase.lastEnd = now;
    if (phase.settled === this.#calibrationImages) {
      phase.loop?.disable();
      queueMicrotask(phase.finish);
    }
    const [workers, libuv] = this.#phases;
    const done = (p: Phase) => p.settled >= this.#calibrationImages;
    if (this.#mode !== undefined || !done(workers) || !done(libuv)) return;
    const rate = (p: Phase) => (p.settled - 1) / Math.max(1e-3, (p.lastEnd - p.firstEnd) / 1000);
    const p99 = (p: Phase) => (p.loop && p.loop.count > 0 ? p.loop.percentile(99) / 1e6 : 0);
    const c = this.#calibration;
    c.workers = rate(workers);
    c.libuv = rate(libuv);
    c.workersLoopP99Ms = p99(workers);
    c.libuvLoopP99Ms = p99(libuv);
    const workersOk = c.workersLoopP99Ms <= this.#loopBudgetMs;
    const libuvOk = c.libuvLoopP99Ms <= this.#loopBudgetMs;
    const libuvWins = workersOk === libuvOk ? c.libuv > c.workers : libuvOk;
    this.#mode = c.chosen = libuvWins ? 'libuv' : 'workers';
  }

  /**
   * Finishes queued and running tasks, then stops the workers. Later calls to `preprocess` fail with ERR_FUSIONRANK_POOL_CLOSED.
   * @example await images.close();
   * @throws never
   */
  close(): Promise<void> {
    return this.#pool.close();
  }

  /** @internal the live worker threads, for crash tests. */
  workers(): Promise<Array<{ terminate(): Promise<number> }>> {
    return this.#pool.workers();
  }
}
