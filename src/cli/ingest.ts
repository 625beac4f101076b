/**
 * `npx fusionrank ingest <folder|jsonl>`: decode, OCR and encode items with
 * the given ONNX models, with a progress bar and a summary. Rows are written
 * as JSON lines to --out (one line per item, written only when the item
 * succeeded); without --out it is a dry run.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative } from 'node:path';

import { type Command, InvalidArgumentError, Option } from 'commander';

import { ImagePool } from '../ingest/image-pool.js';
import type { CatalogItem, CatalogLike, IngestFailure, IngestItem, IngestProgress } from '../ingest/ingestor.js';
import { Ingestor } from '../ingest/ingestor.js';
import { OcrPool } from '../ingest/ocr-pool.js';
import { ClipEncoder } from '../models/clip-encoder.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('Expected a positive integer.');
  return n;
}

interface IngestCliOptions {
  imageModel?: string;
  textModel?: string;
  tokenizer?: string;
  device: 'auto' | 'cpu' | 'cuda';
  threads?: number;
  ocr: boolean;
  lang: string;
  ocrThreads: number;
  concurrency: number;
  out?: string;
  size?: number;
}

/** Items of a folder: every image (recursively), captioned by a sibling `<name>.txt` when there is one. */
export async function itemsFromFolder(folder: string): Promise<IngestItem[]> {
  const entries = (await readdir(folder, { recursive: true })).map(String).sort();
  const files = new Set(entries);
  const items: IngestItem[] = [];
  for (const entry of entries) {
    const ext = extname(entry).toLowerCase();
    if (!IMAGE_EXTENSIONS.has(ext)) continue;
    const stem = entry.slice(0, -ext.length);
    const item: IngestItem = { id: stem, image: join(folder, entry) };
    if (files.has(`${stem}.txt`)) item.caption = await readFile(join(folder, `${stem}.txt`), 'utf8');
    items.push(item);
  }
  return items;
}

/** Items of a JSON-lines file ({ id, image?, caption?, fields? } per line; image paths relative to the file). Bad lines become failures. */
export async function itemsFromJsonl(file: string): Promise<{ items: IngestItem[]; failed: IngestFailure[] }> {
  const lines = (await readFile(file, 'utf8')).split('\n');
  const items: IngestItem[] = [];
  const failed: IngestFailure[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const item = JSON.parse(line) as IngestItem;
      if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new Error('a line must be a JSON object');
      if (typeof item.image === 'string' && !isAbsolute(item.image)) item.image = join(dirname(file), item.image);
      items.push(item);
    } catch (error) {
      failed.push({ id: `${basename(file)}:${i + 1}`, code: 'ERR_FUSIONRANK_INVALID_ARGUMENT', message: `Line ${i + 1} is not a valid item: ${(error as Error).message}` });
    }
  });
  return { items, failed };
}

/** Writes each upserted row as one JSON line (vectors as number arrays). */
class JsonlRows implements CatalogLike {
  readonly #fd: number;
  constructor(path: string) {
    this.#fd = openSync(path, 'w');
  }
  upsert(items: CatalogItem[]): void {
    const lines = items.map((item) =>
      JSON.stringify({
        id: item.id,
        vectors: Object.fromEntries(Object.entries(item.vectors).map(([name, v]) => [name, Array.from(v as Float32Array)])),
        fields: item.fields,
      }),
    );
    writeSync(this.#fd, `${lines.join('\n')}\n`);
  }
  close(): void {
    closeSync(this.#fd);
  }
}

class DryRun implements CatalogLike {
  upsert(): void {}
}

function progressBar(stream: NodeJS.WriteStream): (p: IngestProgress) => void {
  const started = performance.now();
  let lastPercent = -1;
  return (p) => {
    const fraction = p.total ? p.done / p.total : 1;
    const rate = p.done / ((performance.now() - started) / 1000);
    if (stream.isTTY) {
      const width = 30;
      const filled = Math.round(fraction * width);
      stream.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.done}/${p.total} ok ${p.ok} failed ${p.failed} · ${rate.toFixed(1)} items/s`);
      if (p.done === p.total) stream.write('\n');
    } else {
      const percent = Math.floor(fraction * 10) * 10;
      if (percent !== lastPercent) {
        lastPercent = percent;
        stream.write(`${percent}% ${p.done}/${p.total} ok ${p.ok} failed ${p.failed}\n`);
      }
    }
  };
}

export async function runIngest(source: string, opts: IngestCliOptions): Promise<number> {
  if (!opts.imageModel && !opts.textModel) {
    console.error('fusionrank ingest: give --image-model and/or --text-model (with --tokenizer)');
    return 2;
  }
  const info = await stat(source).catch(() => undefined);
  if (!info) {
    console.error(`fusionrank ingest: no such file or folder: ${source}`);
    return 2;
  }
  let items: IngestItem[];
  let failed: IngestFailure[] = [];
  if (info.isDirectory()) items = await itemsFromFolder(source);
  else ({ items, failed } = await itemsFromJsonl(source));

  const encoder = await ClipEncoder.load({
    image: opts.imageModel,
    text: opts.textModel,
    tokenizer: opts.tokenizer,
    device: opts.device,
    ...(opts.size ? { preprocess: { size: opts.size } } : {}),
  });
  const images = encoder.hasImage ? new ImagePool({ threads: opts.threads, size: encoder.imageSize }) : undefined;
  const ocr = encoder.hasImage && opts.ocr ? new OcrPool({ threads: opts.ocrThreads, lang: opts.lang }) : undefined;
  const catalog = opts.out ? new JsonlRows(opts.out) : new DryRun();
  const started = performance.now();
  try {
    const ingestor = new Ingestor({ catalog, encoder, images, ocr });
    console.error(`ingesting ${items.length} items from ${source} (encoders on ${Object.values(encoder.devices).join('/')}${ocr ? `, OCR ${opts.lang}` : ', no OCR'})`);
    const result = await ingestor.ingest(items, { concurrency: opts.concurrency, onProgress: progressBar(process.stderr) });
    failed = [...failed, ...result.failed];
    const seconds = (performance.now() - started) / 1000;
    console.log(`ok ${result.ok.length} · failed ${failed.length} · ${seconds.toFixed(1)} s · ${(items.length / seconds).toFixed(1)} items/s${opts.out ? ` · rows in ${relative(process.cwd(), opts.out) || opts.out}` : ' · dry run (no --out)'}`);
    for (const f of failed.slice(0, 20)) console.log(`  ${f.id}: ${f.code} ${f.message.split('\n')[0]}`);
    if (failed.length > 20) console.log(`  ... and ${failed.length - 20} more`);
    return failed.length ? 1 : 0;
  } finally {
    if (catalog instanceof JsonlRows) catalog.close();
    await Promise.all([images?.close(), ocr?.close(), encoder.close()]);
  }
}

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('decode, OCR and encode images and captions from a folder or a JSON-lines file into catalog rows')
    .argument('<source>', 'a folder of images (captions in <name>.txt) or a .jsonl file of { id, image?, caption?, fields? }')
    .option('--image-model <path>', 'ONNX image encoder ([batch, 3, H, W] → [batch, dim])')
    .option('--text-model <path>', 'ONNX text encoder (input_ids, attention_mask → [batch, dim])')
    .option('--tokenizer <path>', 'tokenizer.json for the text model')
    .addOption(new Option('--device <device>', 'execution provider').choices(['auto', 'cpu', 'cuda']).default('auto'))
    .option('--threads <n>', 'image decode threads (default: cores)', positiveInt)
    .option('--no-ocr', 'skip reading text in images')
    .option('--lang <code>', 'OCR language (needs @tesseract.js-data/<code>)', 'eng')
    .option('--ocr-threads <n>', 'OCR threads', positiveInt, 1)
    .option('--concurrency <n>', 'items in flight', positiveInt, 16)
    .option('--size <n>', 'image side when the model leaves it dynamic', positiveInt)
    .option('--out <file>', 'write rows as JSON lines here (otherwise a dry run)')
    .action(async (source: string, opts: IngestCliOptions) => {
      try {
        process.exitCode = await runIngest(source, opts);
      } catch (error) {
        const e = error as { code?: string; message?: string };
        console.error(`fusionrank ingest: ${e.code ? `${e.code}: ` : ''}${e.message ?? error}`);
        process.exitCode = 2;
      }
    });
}
