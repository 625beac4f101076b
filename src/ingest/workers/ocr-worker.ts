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
  /** Words below this tesseract confidence (0-100) are dropped as noise. */
  minWordConfidence: number;
}

export interface OcrResult {
  /** The words kept, a line per text line. */
  text: string;
  /** Mean confidence of the kept words in [0, 1] (0 without text). */
  confidence: number;
  /** Words kept. */
  words: number;
  /** Fraction of the image area covered by the kept words' boxes, in [0, 1]: the text density. */
  coverage: number;
}

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

type TesseractWorker = {
  recognize(
    image: Buffer,
    options: object,
    output: object,
  ): Promise<{ data: { blocks: Array<{ paragraphs: Array<{ lines: Array<{ words: Array<{ text: string; confidence: number; bbox: Box }> }> }> }> | null } }>;
  setParameters(parameters: Record<string, string>): Promise<unknown>;
};

const config = workerData as OcrWorkerData;
let tesseract: Promise<TesseractWorker> | undefined;

async function start(): Promise<TesseractWorker> {
  const mod = (await import('tesseract.js')) as unknown as { default?: { createWorker: Function }; createWorker?: Function };
  const createWorker = (mod.createWorker ?? mod.default!.createWorker) as (lang: string, oem: number, options: object) => Promise<TesseractWorker>;
  const worker = await createWorker(config.lang, 1, {
    langPath: config.langPath,
    gzip: config.gzip,
    cacheMethod: 'none',
    // Without a handler tesseract.js rethrows worker errors as uncaught exceptions.
    errorHandler: () => {},
  });
  // The PNGs carry no resolution; tell tesseract instead of letting it warn and guess.
  await worker.setParameters({ user_defined_dpi: '300' });
  return worker;
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
    const { data } = await worker.recognize(png, {}, { blocks: true, text: false });
    const lines: string[] = [];
    let words = 0, confidence = 0, area = 0;
    for (const block of data.blocks ?? [])
      for (const paragraph of block.paragraphs)
        for (const line of paragraph.lines) {
          // Sure enough, and a word at all: photos yield stray '|' and '-' with high confidence.
          const kept = line.words.filter((w) => w.confidence >= config.minWordConfidence && /[\p{L}\p{N}]/u.test(w.text));
          if (kept.length === 0) continue;
          lines.push(kept.map((w) => w.text.trim()).join(' '));
          for (const w of kept) {
            words++;
            confidence += w.confidence;
            area += Math.max(0, w.bbox.x1 - w.bbox.x0) * Math.max(0, w.bbox.y1 - w.bbox.y0);
          }
        }
    const scaledArea = Math.round(width * scale) * Math.round(height * scale);
    const result: OcrResult = { text: lines.join('\n'), confidence: words ? confidence / words / 100 : 0, words, coverage: Math.min(1, area / scaledArea) };
    return result;
  } catch (error) {
    return { error: encodeError(error, 'ERR_FUSIONRANK_OCR_FAILED') };
  }
}
