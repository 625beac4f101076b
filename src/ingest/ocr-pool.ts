/**
 * A pool of worker threads reading text in images with tesseract.js, fully
 * offline: language data comes from a local folder (by default the
 * `@tesseract.js-data/<lang>` package), and nothing is cached to disk.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { FusionrankError, invalidParameter, rangeError, typeError } from '../errors.js';
import { resolveOptional } from '../util/optional.js';
import { workerScript } from '../util/worker-script.js';
import { type ImageInput, requireImageInput } from './input.js';
import { DEFAULT_MAX_PIXELS } from './preprocess.js';
import { type PoolOptions, type TaskOptions, TaskPool } from './task-pool.js';
import type { OcrResult, OcrWorkerData } from './workers/ocr-worker.js';

export type { OcrResult };

/** Pool options; here `threads` defaults to 1 (tesseract already keeps a core busy) and `timeoutMs` to 120,000. */
export interface OcrPoolOptions extends PoolOptions {
  /** Tesseract language code(s), e.g. 'eng' (default) or 'eng+deu' (then give langPath). */
  lang?: string;
  /** Folder holding `<lang>.traineddata(.gz)`. Default: the `@tesseract.js-data/<lang>` package. */
  langPath?: string;
  /** Refuse images whose header declares more pixels than this (default 40,000,000). */
  maxPixels?: number;
  /** Upscale images whose shorter side is below this many pixels before OCR (default 300). */
  minSide?: number;
  /** Drop words tesseract is less sure of than this, 0-100 (default 60): photos otherwise yield noise "words". */
  minWordConfidence?: number;
}

/** Finds the language data folder of `@tesseract.js-data/<lang>` and whether it is gzipped. */
function packagedLangPath(lang: string): { langPath: string; gzip: boolean } {
  const entry = resolveOptional(`@tesseract.js-data/${lang}/package.json`, `@tesseract.js-data/${lang}`);
  const root = dirname(entry);
  for (const version of ['4.0.0', '4.0.0_best_int']) {
    const folder = join(root, version);
    if (existsSync(join(folder, `${lang}.traineddata.gz`))) return { langPath: folder, gzip: true };
    if (existsSync(join(folder, `${lang}.traineddata`))) return { langPath: folder, gzip: false };
  }
  throw new FusionrankError(`@tesseract.js-data/${lang} has no ${lang}.traineddata(.gz) under ${root}`, 'ERR_FUSIONRANK_MISSING_DEPENDENCY');
}

/**
 * @example
 * const ocr = new OcrPool({ threads: 1, lang: 'eng' });
 * const { text, confidence, coverage } = await ocr.recognize('meme.png'); // 'SUMMER SALE 50% OFF', 0.95, 0.06
 * await ocr.close();
 */
export class OcrPool {
  readonly lang: string;
  readonly langPath: string;
  readonly #pool: TaskPool<string | Uint8Array, OcrResult>;

  /**
   * Checks the language data now (so a missing language fails here, not in a worker); workers start on the first task.
   * @throws {TypeError|RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT on a bad option
   * @throws {FusionrankError} ERR_FUSIONRANK_MISSING_DEPENDENCY when the language data cannot be found
   */
  constructor(options: OcrPoolOptions = {}) {
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object', options));
    const lang = options.lang ?? 'eng';
    if (typeof lang !== 'string' || !/^[a-z_]+(\+[a-z_]+)*$/i.test(lang)) throw typeError(invalidParameter('lang', "a tesseract language code such as 'eng' or 'eng+deu'", lang));
    const langs = lang.split('+');
    let langPath: string;
    let gzip: boolean;
    if (options.langPath !== undefined) {
      if (typeof options.langPath !== 'string' || options.langPath.length === 0) throw typeError(invalidParameter('langPath', 'a folder path', options.langPath));
      langPath = options.langPath;
      gzip = langs.every((l) => existsSync(join(langPath, `${l}.traineddata.gz`)));
      const missing = langs.filter((l) => !existsSync(join(langPath, `${l}.traineddata${gzip ? '.gz' : ''}`)));
      if (missing.length)
        throw new FusionrankError(`No ${missing.map((l) => `${l}.traineddata(.gz)`).join(', ')} in langPath ${langPath}`, 'ERR_FUSIONRANK_MISSING_DEPENDENCY');
    } else {
      if (langs.length > 1) throw typeError(`Several languages ('${lang}') need a langPath folder holding all their traineddata files`);
      ({ langPath, gzip } = packagedLangPath(lang));
    }
    const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
    if (typeof maxPixels !== 'number' || !Number.isInteger(maxPixels) || maxPixels < 1) throw rangeError(invalidParameter('maxPixels', 'a positive integer', maxPixels));
    const minSide = options.minSide ?? 300;
    if (typeof minSide !== 'number' || !Number.isInteger(minSide) || minSide < 1 || minSide > 4096) throw rangeError(invalidParameter('minSide', 'an integer in [1, 4096]', minSide));
    const minWordConfidence = options.minWordConfidence ?? 60;
    if (typeof minWordConfidence !== 'number' || !(minWordConfidence >= 0 && minWordConfidence <= 100))
      throw rangeError(invalidParameter('minWordConfidence', 'a number in [0, 100]', minWordConfidence));
    this.lang = lang;
    this.langPath = langPath;
    const data: OcrWorkerData = { lang, langPath, gzip, maxPixels, minSide, minWordConfidence };
    // OCR takes seconds on large images: a longer default timeout than decoding.
    this.#pool = new TaskPool(workerScript(import.meta.url, 'workers/ocr-worker.js', 'src/ingest'), { timeoutMs: 120_000, ...options, threads: options.threads ?? 1 }, data, 'OCR');
  }

  /** Tasks submitted and not yet settled. */
  get pending(): number {
    return this.#pool.pending;
  }

  /**
   * Resolves when `recognize` can be called without ERR_FUSIONRANK_QUEUE_FULL.
   * @example await ocr.whenReady();
   * @throws never
   */
  whenReady(): Promise<void> {
    return this.#pool.whenReady();
  }

  /**
   * Reads the text in one image: the words tesseract is sure enough of, their mean confidence in [0, 1],
   * their count, and `coverage`, the fraction of the image their boxes cover (text density).
   * @example const { text } = await ocr.recognize(buffer, { timeoutMs: 10_000 });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when the input is not a path or bytes
   * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND, ERR_FUSIONRANK_UNSUPPORTED_IMAGE, ERR_FUSIONRANK_CORRUPT_IMAGE, ERR_FUSIONRANK_OCR_FAILED
   * @throws {RangeError} ERR_FUSIONRANK_IMAGE_TOO_LARGE
   * @throws {FusionrankError} ERR_FUSIONRANK_QUEUE_FULL, ERR_FUSIONRANK_ABORTED, ERR_FUSIONRANK_TIMEOUT, ERR_FUSIONRANK_WORKER_CRASHED, ERR_FUSIONRANK_POOL_CLOSED
   */
  async recognize(input: ImageInput, options: TaskOptions = {}): Promise<OcrResult> {
    return this.#pool.run(requireImageInput(input, 'input'), [], options);
  }

  /**
   * Finishes queued and running tasks, then stops the workers (and their tesseract threads).
   * @example await ocr.close();
   * @throws never
   */
  close(): Promise<void> {
    return this.#pool.close();
  }
}
