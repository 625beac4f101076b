/**
 * OcrPool worker: one tesseract.js worker per thread, created on the first
 * task with local language data (no network, no cache written to disk).
 * Images are decoded and checked by sharp first, so tesseract only ever
 * sees a valid greyscale PNG.
 */
import { workerData } from 'node:worker_threads';

import { encodeError } from '../../util/wire-error.js';
import { readImageInput } from '../input.js';
import { checkImageHeader, imageError, loadSharp } from '../preprocess.js';

export interface OcrWorkerData {
  lang: string;
  langPath: string;
  gzip: boolean;
  maxPixels: number;
  /** Upscale images whose shorter side is below this (tesseract reads small text badly). */
  minSide: number;
}

export interface OcrResult {
  text: string;
  /** Mean word confidence in [0, 1]. */
  confidence: number;
  /** Words recognised. */
  words: number;
}

type TesseractWorker = {
  recognize(image: Buffer): Promise<{ data: { text: string; confidence: number } }>;
};

const config = workerData as OcrWorkerData;
let tesseract: Promise<TesseractWorker> | undefined;

async function start(): Promise<TesseractWorker> {
  const mod = (await import('tesseract.js')) as unknown as { default?: { createWorker: Function }; createWorker?: Function };
  const createWorker = (mod.createWorker ?? mod.default!.createWorker) as (lang: string, oem: number, options: object) => Promise<TesseractWorker>;
  return createWorker(config.lang, 1, {
    langPath: config.langPath,
    gzip: config.gzip,
    cacheMethod: 'none',
    // Without a handler tesseract.js rethrows worker errors as uncaught exceptions.
    errorHandler: () => {},
  });
}

export default async function recognize(input: string | Uint8Array): Promise<unknown> {
  try {
    const sharp = await loadSharp();
    const bytes = await readImageInput(input);
    const { width, height } = await checkImageHeader(sharp, bytes, config.maxPixels);
    const scale = Math.min(4, Math.max(1, config.minSide / Math.min(width, height)));
    let png: Buffer;
    try {
      let image = sharp(bytes, { limitInputPixels: config.maxPixels, pages: 1, failOn: 'error' }).autoOrient();
      if (scale > 1) image = image.resize(Math.round(width * scale), Math.round(height * scale), { kernel: 'cubic' });
      png = await image.flatten({ background: '#ffffff' }).greyscale().png({ compressionLevel: 1 }).toBuffer();
    } catch (error) {
      throw imageError(error);
    }
    tesseract ??= start();
    let worker: TesseractWorker;
    try {
      worker = await tesseract;
    } catch (error) {
      tesseract = undefined;
      throw Object.assign(new Error(`Cannot start tesseract for '${config.lang}' from ${config.langPath}: ${(error as Error)?.message ?? error}`), { code: 'ERR_FUSIONRANK_OCR_FAILED' });
    }
    const { data } = await worker.recognize(png);
    const text = data.text.replace(/[ \t]+/g, ' ').replace(/\n{2,}/g, '\n').trim();
    const result: OcrResult = { text, confidence: text ? data.confidence / 100 : 0, words: text ? text.split(/\s+/).length : 0 };
    return result;
  } catch (error) {
    return { error: encodeError(error, 'ERR_FUSIONRANK_OCR_FAILED') };
  }
}
