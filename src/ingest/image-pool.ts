/**
 * A pool of worker threads that decode and preprocess images (sharp) into
 * CLIP-ready `3 x size x size` Float32Arrays, handed back by transfer.
 */
import type { TransferListItem } from 'node:worker_threads';

import { invalidParameter, typeError } from '../errors.js';
import { workerScript } from '../util/worker-script.js';
import { type ImageInput, requireImageInput } from './input.js';
import { type PreprocessOptions, type ResolvedPreprocess, resolvePreprocess } from './preprocess.js';
import { type PoolOptions, type TaskOptions, TaskPool } from './task-pool.js';

export interface ImagePoolOptions extends PoolOptions, PreprocessOptions {}

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

  /**
   * Workers start on the first task; sharp and piscina load then.
   * @throws {TypeError|RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT on a bad option
   */
  constructor(options: ImagePoolOptions = {}) {
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object', options));
    this.preprocessOptions = Object.freeze(resolvePreprocess(options));
    this.size = this.preprocessOptions.size;
    this.#pool = new TaskPool(workerScript(import.meta.url, 'workers/image-worker.js'), options, { preprocess: this.preprocessOptions }, 'image');
  }

  /** Worker threads, queue limit and timeout in effect. */
  get poolOptions(): Readonly<Required<PoolOptions>> {
    return this.#pool.options;
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
   * Bytes are copied to the worker (the caller keeps its Buffer); the result
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
    return this.#pool.run(checked, transfer, options);
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
