/**
 * `npx fusionrank ingest <folder|jsonl> --catalog <dir>`: decode, OCR and
 * encode items with the given ONNX models into a Catalog saved at <dir>,
 * with a progress bar and a summary. A new catalog gets the matching schema
 * (Ingestor.schema, the items' fields inferred or declared with --field); an
 * existing one is loaded, extended with what it lacks, and saved again.
 * Without --catalog it is a dry run into an in-memory catalog.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, relative } from 'node:path';

import { type Command, InvalidArgumentError, Option } from 'commander';

import { Catalog, type CatalogSchema, FIELD_TYPES, type FieldType, type FieldValue } from '../catalog/catalog.js';
import { FusionrankError, rangeError } from '../errors.js';
import { ImagePool } from '../ingest/image-pool.js';
import type { IngestFailure, IngestItem, IngestProgress } from '../ingest/ingestor.js';
import { Ingestor } from '../ingest/ingestor.js';
import { OcrPool } from '../ingest/ocr-pool.js';
import { ClipEncoder } from '../models/clip-encoder.js';
import { DTYPES, type Dtype } from '../retrieval/vector-store.js';
import { positiveInt } from './options.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);

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
  catalog?: string;
  field?: Record<string, FieldType>;
  dtype: Dtype;
  size?: number;
}

function fieldDeclaration(value: string, previous: Record<string, FieldType> | undefined): Record<string, FieldType> {
  const at = value.lastIndexOf(':');
  const name = value.slice(0, at);
  const type = value.slice(at + 1) as FieldType;
  if (at <= 0 || !FIELD_TYPES.includes(type)) throw new InvalidArgumentError(`Expected <name>:<type> with a type of ${FIELD_TYPES.join(', ')}.`);
  return { ...previous, [name]: type };
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

const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

function isIsoTime(value: unknown): value is string {
  return typeof value === 'string' && ISO_TIME.test(value) && Number.isFinite(Date.parse(value));
}

/**
 * Field types of the items' fields not declared already: the first value
 * seen decides (numbers, booleans, ISO-8601 dates as time, strings as
 * category, string arrays as tags); an item whose value does not fit is
 * refused by the catalog and reported.
 */
export function inferFieldTypes(items: readonly IngestItem[], declared: Readonly<Record<string, FieldType>>): Record<string, FieldType> {
  const inferred: Record<string, FieldType> = {};
  for (const item of items) {
    const fields = item?.fields;
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) continue;
    for (const [name, value] of Object.entries(fields)) {
      if (name in declared || name in inferred || value === null || value === undefined) continue;
      const type: FieldType | undefined =
        typeof value === 'number' ? 'number'
        : typeof value === 'boolean' ? 'bool'
        : isIsoTime(value) ? 'time'
        : typeof value === 'string' ? 'category'
        : Array.isArray(value) && value.every((t) => typeof t === 'string') ? 'tags'
        : undefined;
      if (type) inferred[name] = type;
    }
  }
  return inferred;
}

/** JSON has no dates: ISO-8601 strings in time fields become Dates (anything else is left for the catalog to refuse). */
function convertTimes(items: IngestItem[], fields: Readonly<Record<string, FieldType>>): void {
  const times = Object.keys(fields).filter((name) => fields[name] === 'time');
  for (const item of items) {
    const values = item?.fields as Record<string, FieldValue> | undefined;
    if (values === null || typeof values !== 'object' || Array.isArray(values)) continue;
    for (const name of times) if (isIsoTime(values[name])) values[name] = new Date(values[name] as string);
  }
}

/**
 * `existing` grown with what `required` adds. A vector with another dim or
 * a field with another type cannot be reconciled.
 */
export function extendSchema(existing: CatalogSchema, required: CatalogSchema): { schema: CatalogSchema; added: string[] } {
  const vectors = { ...existing.vectors };
  const fields = { ...existing.fields };
  const added: string[] = [];
  for (const [name, spec] of Object.entries(required.vectors)) {
    const have = vectors[name];
    if (!have) {
      vectors[name] = spec;
      added.push(`vector '${name}' (dim ${spec.dim})`);
    } else if (have.dim !== spec.dim)
      throw rangeError(`The catalog's vector '${name}' has dim ${have.dim} but the encoder makes ${spec.dim}-dimensional embeddings; use the models the catalog was built with, or a new --catalog`, 'ERR_FUSIONRANK_DIM_MISMATCH');
  }
  for (const [name, type] of Object.entries(required.fields ?? {})) {
    const have = fields[name];
    if (!have) {
      fields[name] = type;
      added.push(`field '${name}' (${type})`);
    } else if (have !== type) throw rangeError(`The catalog's field '${name}' is '${have}' but the items need '${type}'`, 'ERR_FUSIONRANK_SCHEMA_MISMATCH');
  }
  return { schema: { vectors, fields }, added };
}

/** A copy of `catalog` with a wider schema (a Catalog's schema is fixed at construction). */
function regrow(catalog: Catalog, schema: CatalogSchema): Catalog {
  const grown = new Catalog(schema);
  let batch = [];
  for (const item of catalog) {
    batch.push(item);
    if (batch.length === 4096) {
      grown.upsert(batch);
      batch = [];
    }
  }
  grown.upsert(batch);
  return grown;
}

/** 'absent' (or an empty folder): create; 'catalog': load; otherwise refuse (saving replaces the whole folder). */
async function catalogState(dir: string): Promise<'absent' | 'catalog'> {
  const info = await stat(dir).catch(() => undefined);
  if (!info) return 'absent';
  if (!info.isDirectory()) throw new FusionrankError(`--catalog ${dir} is a file, not a folder`, 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  const entries = await readdir(dir);
  if (entries.includes('manifest.json')) return 'catalog';
  if (entries.length === 0) return 'absent';
  throw new FusionrankError(`--catalog ${dir} is a folder with other files in it, not a fusionrank catalog (no manifest.json); saving would replace it. Give a new or empty folder`, 'ERR_FUSIONRANK_INVALID_ARGUMENT');
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

  const existing = opts.catalog && (await catalogState(opts.catalog)) === 'catalog' ? await Catalog.load(opts.catalog) : undefined;

  const encoder = await ClipEncoder.load({
    image: opts.imageModel,
    text: opts.textModel,
    tokenizer: opts.tokenizer,
    device: opts.device,
    ...(opts.size ? { preprocess: { size: opts.size } } : {}),
  });
  let images: ImagePool | undefined;
  let ocr: OcrPool | undefined;
  const started = performance.now();
  try {
    // Field types: --field, then the catalog's own, then inferred from the items.
    const declared = { ...existing?.schema.fields, ...opts.field };
    const fields = { ...inferFieldTypes(items, declared), ...opts.field };
    const required = Ingestor.schema(encoder, { fields, dtype: opts.dtype });
    let catalog: Catalog;
    if (existing) {
      const { schema, added } = extendSchema(existing.schema, required);
      catalog = added.length ? regrow(existing, schema) : existing;
      console.error(`catalog ${opts.catalog}: ${existing.size} items${added.length ? `; adding ${added.join(', ')}` : ''}`);
    } else catalog = new Catalog(required);
    convertTimes(items, catalog.schema.fields ?? {});

    images = encoder.hasImage ? new ImagePool({ threads: opts.threads, size: encoder.imageSize }) : undefined;
    ocr = encoder.hasImage && opts.ocr ? new OcrPool({ threads: opts.ocrThreads, lang: opts.lang }) : undefined;
    const ingestor = new Ingestor({ catalog, encoder, images, ocr });
    console.error(`ingesting ${items.length} items from ${source} (encoders on ${Object.values(encoder.devices).join('/')}${ocr ? `, OCR ${opts.lang}` : ', no OCR'})`);
    const result = await ingestor.ingest(items, { concurrency: opts.concurrency, onProgress: progressBar(process.stderr) });
    failed = [...failed, ...result.failed];
    if (opts.catalog) await catalog.save(opts.catalog);
    const seconds = (performance.now() - started) / 1000;
    const where = opts.catalog ? `catalog ${relative(process.cwd(), opts.catalog) || opts.catalog} (${catalog.size} items)` : 'dry run (no --catalog)';
    console.log(`ok ${result.ok.length} · failed ${failed.length} · ${seconds.toFixed(1)} s · ${(items.length / seconds).toFixed(1)} items/s · ${where}`);
    for (const f of failed.slice(0, 20)) console.log(`  ${f.id}: ${f.code} ${f.message.split('\n')[0]}`);
    if (failed.length > 20) console.log(`  ... and ${failed.length - 20} more`);
    return failed.length ? 1 : 0;
  } finally {
    await Promise.all([images?.close(), ocr?.close(), encoder.close()]);
  }
}

export function registerIngest(program: Command): void {
  program
    .command('ingest')
    .description('decode, OCR and encode images and captions from a folder or a JSON-lines file into a catalog')
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
    .option('--catalog <dir>', 'save the items in the catalog at this folder (created, or loaded and extended); otherwise a dry run')
    .option('--field <name:type>', `declare an item field's type (${FIELD_TYPES.join(', ')}); repeatable; others are inferred from the items`, fieldDeclaration)
    .addOption(new Option('--dtype <dtype>', 'storage type of the vectors the catalog does not have yet').choices([...DTYPES]).default('f32'))
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
