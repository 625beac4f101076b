/**
 * The multimodal item pipeline: image → (decode on the ImagePool, OCR on the
 * OcrPool) → image embedding; caption + OCR text → text embedding; their
 * cosine (alignment) and a content-type class; one upsert per item.
 * Embeddings and OCR results are cached by content hash, so re-ingesting an
 * unchanged image costs one hash.
 */
import { createHash } from 'node:crypto';

import { FusionrankError, invalidParameter, rangeError, typeError } from '../errors.js';
import { LruCache } from '../util/lru.js';
import type { CatalogItem, CatalogSchema, FieldValue } from '../catalog/catalog.js';
import { classifyContent, type ContentThresholds, type ContentType, resolveThresholds } from './content-type.js';
import type { ImagePool } from './image-pool.js';
import { readImageInput } from './input.js';
import { withBackpressure } from './task-pool.js';
import type { OcrPool, OcrResult } from './ocr-pool.js';
import { checkSchema, type IngestFieldNames, ingestSchema, type IngestSchemaOptions, type IngestVectorNames, resolveNames, type ResolvedNames, writtenSchema } from './schema.js';

/**
 * A row as the Ingestor writes it: the Catalog's `CatalogItem`, with every
 * vector it has as a Float32Array. A missing modality is an absent vector,
 * never zeros.
 */
export interface IngestedItem extends CatalogItem {
  vectors: Record<string, Float32Array>;
  fields: Record<string, FieldValue>;
}

/**
 * What the Ingestor needs from a catalog; a `Catalog` fits as it is.
 * `upsert` is expected to be all-or-nothing per call. When the object has a
 * `schema` (a Catalog does), it is checked once, when the Ingestor is built,
 * against the vectors and fields the Ingestor writes.
 */
export interface CatalogLike {
  upsert(items: IngestedItem[]): unknown;
  readonly schema?: CatalogSchema;
}

/** What the Ingestor needs from an encoder (ClipEncoder fits). */
export interface IngestEncoder {
  readonly hasImage: boolean;
  readonly hasText: boolean;
  /** Length of the image embeddings; when given, checked against the catalog up front (ClipEncoder always gives it). */
  readonly imageDim?: number;
  /** Length of the text embeddings; as `imageDim`. */
  readonly textDim?: number;
  encodeImages(inputs: ReadonlyArray<string | Uint8Array | Float32Array>, options?: { transfer?: boolean }): Promise<Float32Array[]>;
  encodeTexts(texts: readonly string[]): Promise<Float32Array[]>;
}

/** One item to ingest. */
export interface IngestItem {
  id: string;
  /** A file path or encoded image bytes. */
  image?: string | Buffer | Uint8Array;
  /** Text written with the item; blank counts as absent. */
  caption?: string;
  /** Metadata passed to the catalog as they are (likes, createdAt, creator, ...); each must be declared in the catalog's schema. */
  fields?: Record<string, FieldValue>;
}

export interface IngestorOptions {
  catalog: CatalogLike;
  encoder: IngestEncoder;
  /** Decode images here (recommended); without it the encoder decodes with sharp on the libuv pool. */
  images?: ImagePool;
  /** Read the text in images; without it OCR text is absent and contentType rests on alignment. */
  ocr?: OcrPool;
  thresholds?: ContentThresholds;
  /** LRU caches of image embeddings, OCR results and text embeddings by content hash (default 10,000 entries each; false = off). */
  cache?: { entries?: number } | false;
  /** Catalog vector names for the image and text embeddings; null encodes that side (for alignment) without storing it (defaults 'visual', 'text'). */
  vectorNames?: IngestVectorNames;
  /** Catalog field names for the derived values; null leaves one out (defaults 'alignment', 'contentType', null). */
  fieldNames?: IngestFieldNames;
}

export interface IngestProgress {
  /** Items finished (ok or failed). */
  done: number;
  total: number;
  ok: number;
  failed: number;
  /** The item that just finished. */
  id: string;
}

export interface IngestOptions {
  /** Called after each item. */
  onProgress?: (progress: IngestProgress) => void;
  /** Items in flight at once (default 16): enough to keep the pools busy and fill micro-batches. */
  concurrency?: number;
  /** Stops starting new items; those not started fail with ERR_FUSIONRANK_ABORTED. */
  signal?: AbortSignal;
}

export interface IngestFailure {
  id: string;
  code: string;
  message: string;
}

export interface IngestResult {
  /** Ids upserted, in input order. */
  ok: string[];
  /** Items not written, in input order, with the reason. */
  failed: IngestFailure[];
}

export interface CacheStats {
  hits: number;
  misses: number;
  entries: number;
}

/** Per-hash work shared by concurrent items and remembered afterwards. */
class Memo<V> {
  readonly lru: LruCache<string, V>;
  readonly #inflight = new Map<string, Promise<V>>();

  constructor(entries: number) {
    this.lru = new LruCache(entries);
  }

  get(key: string, compute: () => Promise<V>): Promise<V> {
    const cached = this.lru.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.#inflight.get(key);
    if (!pending) {
      pending = compute().then(
        (value) => {
          this.lru.set(key, value);
          this.#inflight.delete(key);
          return value;
        },
        (error: unknown) => {
          this.#inflight.delete(key);
          throw error;
        },
      );
      this.#inflight.set(key, pending);
    } else {
      this.lru.hits++;
      this.lru.misses--;
    }
    return pending;
  }
}

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function codeOf(error: unknown, fallback: string): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_FUSIONRANK_') ? code : fallback;
}

/**
 * Turns items (an image, a caption, fields) into Catalog rows.
 *
 * What it writes: the image embedding into vector `visual` and the text
 * embedding (caption + OCR text) into vector `text`; the fields `alignment`
 * (number) and `contentType` (category), plus each item's own fields. The
 * names are options (`vectorNames`, `fieldNames`); `Ingestor.schema` builds a
 * catalog schema that holds all of it.
 *
 * @example
 * const clip = await ClipEncoder.load({ image: 'vision.onnx', text: 'text.onnx', tokenizer: 'tokenizer.json' });
 * const catalog = new Catalog(Ingestor.schema(clip, { fields: { likes: 'number' } }));
 * const ingestor = new Ingestor({ catalog, encoder: clip, images: new ImagePool({ size: clip.imageSize }), ocr: new OcrPool() });
 * const { ok, failed } = await ingestor.ingest([{ id: 'p1', image: 'p1.jpg', caption: 'summer sale', fields: { likes: 3 } }]);
 * await catalog.save('./catalog');
 */
export class Ingestor {
  readonly thresholds: Readonly<Required<ContentThresholds>>;
  readonly #catalog: CatalogLike;
  readonly #encoder: IngestEncoder;
  readonly #images: ImagePool | undefined;
  readonly #ocr: OcrPool | undefined;
  readonly #visual: Memo<Float32Array>;
  readonly #text: Memo<Float32Array>;
  readonly #ocrMemo: Memo<OcrResult>;
  readonly #names: ResolvedNames;

  /**
   * A catalog schema that holds everything this Ingestor writes: a vector per
   * encoder side with the encoder's dims, `alignment: 'number'`,
   * `contentType: 'category'` (and the OCR text field when `fieldNames.ocrText`
   * names one), plus `fields`, the items' own fields. Give the Ingestor the
   * same `vectorNames` / `fieldNames`.
   * @example
   * const catalog = new Catalog(Ingestor.schema(clip, { fields: { likes: 'number', createdAt: 'time' }, dtype: 'f16' }));
   * // { vectors: { visual: { dim: 512, dtype: 'f16' }, text: { dim: 512, dtype: 'f16' } },
   * //   fields: { alignment: 'number', contentType: 'category', likes: 'number', createdAt: 'time' } }
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when the encoder does not tell its dims (imageDim / textDim) or an option is wrong
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_DTYPE / ERR_FUSIONRANK_UNKNOWN_FIELD_TYPE on an unknown dtype or field type
   * @throws {RangeError} ERR_FUSIONRANK_SCHEMA_MISMATCH when a user field takes a derived field's name with another type; ERR_FUSIONRANK_DUPLICATE_NAME when two names collide
   */
  static schema(encoder: IngestEncoder, options: IngestSchemaOptions = {}): CatalogSchema {
    return ingestSchema(encoder, options);
  }

  /**
   * Checks the catalog once, up front: when it has a `schema` (a Catalog
   * does), every vector and derived field this Ingestor writes must be
   * declared there, with the encoder's dims. The items' own fields are
   * checked per item by the catalog.
   * @example const ingestor = new Ingestor({ catalog, encoder: clip, images });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when catalog, encoder or a pool is not usable
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT on a threshold or cache size out of range
   * @throws {RangeError} ERR_FUSIONRANK_SCHEMA_MISMATCH when the catalog's schema lacks a vector or field the Ingestor writes, or declares a field with another type
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when an encoder's embedding length differs from the catalog vector's dim
   * @throws {RangeError} ERR_FUSIONRANK_DUPLICATE_NAME when two vectorNames / fieldNames are the same
   */
  constructor(options: IngestorOptions) {
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object such as { catalog, encoder }', options));
    const { catalog, encoder, images, ocr } = options;
    if (catalog === null || typeof catalog !== 'object' || typeof catalog.upsert !== 'function') throw typeError(invalidParameter('catalog', 'an object with an upsert(items) method (a Catalog)', catalog));
    if (encoder === null || typeof encoder !== 'object' || typeof encoder.encodeImages !== 'function' || typeof encoder.encodeTexts !== 'function')
      throw typeError(invalidParameter('encoder', 'an encoder with encodeImages and encodeTexts (a ClipEncoder)', encoder));
    if (images !== undefined && (images === null || typeof images.preprocess !== 'function')) throw typeError(invalidParameter('images', 'an ImagePool', images));
    if (ocr !== undefined && (ocr === null || typeof ocr.recognize !== 'function')) throw typeError(invalidParameter('ocr', 'an OcrPool', ocr));
    this.#catalog = catalog;
    this.#encoder = encoder;
    this.#images = images;
    this.#ocr = ocr;
    this.thresholds = Object.freeze(resolveThresholds(options.thresholds));
    const entries = options.cache === false ? 0 : (options.cache?.entries ?? 10_000);
    if (!Number.isInteger(entries) || entries < 0) throw rangeError(invalidParameter('cache.entries', 'a non-negative integer', entries));
    this.#visual = new Memo(entries);
    this.#text = new Memo(entries);
    this.#ocrMemo = new Memo(entries);
    this.#names = resolveNames(options.vectorNames, options.fieldNames);
    const schema = (catalog as CatalogLike).schema;
    if (schema !== undefined && schema !== null) checkSchema(schema, writtenSchema(encoder, this.#names, ocr !== undefined));
  }

  /** Hits and misses of the content-hash caches. */
  get cacheStats(): { visual: CacheStats; text: CacheStats; ocr: CacheStats } {
    const stats = (m: Memo<unknown>) => ({ hits: m.lru.hits, misses: m.lru.misses, entries: m.lru.size });
    return { visual: stats(this.#visual), text: stats(this.#text), ocr: stats(this.#ocrMemo) };
  }

  /**
   * Ingests items. A bad item (corrupt image, unreadable file, nothing to
   * encode, a field the catalog refuses: ERR_FUSIONRANK_UNKNOWN_FIELD,
   * ERR_FUSIONRANK_INVALID_FIELD) is reported in `failed` with its code and
   * the rest go on; an item is upserted, in one all-or-nothing call, only
   * when everything about it succeeded, so a failed re-ingest leaves the
   * stored item as it was. Rows are upserted as items finish, not in input
   * order.
   * @example
   * const result = await ingestor.ingest(items, { concurrency: 8, onProgress: ({ done, total }) => bar.update(done / total) });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when items is not an array or an option is wrong (per-item problems are reported, not thrown)
   */
  async ingest(items: readonly IngestItem[], options: IngestOptions = {}): Promise<IngestResult> {
    if (!Array.isArray(items)) throw typeError(invalidParameter('items', 'an array of { id, image?, caption?, fields? }', items));
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object', options));
    const concurrency = options.concurrency ?? 16;
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 4096) throw rangeError(invalidParameter('concurrency', 'an integer in [1, 4096]', concurrency));
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw typeError(invalidParameter('onProgress', 'a function', options.onProgress));
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw typeError(invalidParameter('signal', 'an AbortSignal', options.signal));

    const outcome: Array<{ ok: true } | IngestFailure | undefined> = new Array(items.length);
    const seen = new Set<string>();
    let next = 0;
    let done = 0;
    let okCount = 0;
    const finish = (index: number, id: string, result: { ok: true } | IngestFailure) => {
      outcome[index] = result;
      done++;
      if ('ok' in result) okCount++;
      options.onProgress?.({ done, total: items.length, ok: okCount, failed: done - okCount, id });
    };
    const runner = async () => {
      while (next < items.length) {
        const index = next++;
        const item = items[index];
        const id = typeof item?.id === 'string' ? item.id : `#${index}`;
        if (options.signal?.aborted) {
          finish(index, id, { id, code: 'ERR_FUSIONRANK_ABORTED', message: 'Ingest was aborted before this item started' });
          continue;
        }
        try {
          const row = await this.#prepare(item, seen, options.signal);
          try {
            await this.#catalog.upsert([row]);
          } catch (error) {
            throw new FusionrankError(`The catalog refused the item: ${(error as Error)?.message ?? error}`, codeOf(error, 'ERR_FUSIONRANK_UPSERT_FAILED'), { cause: error });
          }
          finish(index, id, { ok: true });
        } catch (error) {
          finish(index, id, { id, code: codeOf(error, 'ERR_FUSIONRANK_INTERNAL'), message: String((error as Error)?.message ?? error) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, runner));
    const result: IngestResult = { ok: [], failed: [] };
    outcome.forEach((o, i) => {
      if (o && 'ok' in o) result.ok.push(items[i].id);
      else if (o) result.failed.push(o);
    });
    return result;
  }

  async #prepare(item: IngestItem, seen: Set<string>, signal: AbortSignal | undefined): Promise<IngestedItem> {
    if (item === null || typeof item !== 'object') throw typeError(invalidParameter('item', 'an object { id, image?, caption?, fields? }', item));
    if (typeof item.id !== 'string' || item.id.length === 0) throw typeError(invalidParameter('item.id', 'a non-empty string', item.id));
    if (seen.has(item.id)) throw new FusionrankError(`Item id '${item.id}' appears more than once in this batch`, 'ERR_FUSIONRANK_DUPLICATE_ID');
    seen.add(item.id);
    if (item.caption !== undefined && item.caption !== null && typeof item.caption !== 'string') throw typeError(invalidParameter('item.caption', 'a string', item.caption));
    if (item.fields !== undefined && (item.fields === null || typeof item.fields !== 'object' || Array.isArray(item.fields)))
      throw typeError(invalidParameter('item.fields', 'an object of field values', item.fields));
    if (item.image !== undefined && item.image !== null && typeof item.image !== 'string' && !(item.image instanceof Uint8Array))
      throw typeError(invalidParameter('item.image', 'a file path or image bytes', item.image));
    const hasImage = item.image !== undefined && item.image !== null;
    const caption = (item.caption ?? '').trim();
    if (!hasImage && !caption) throw rangeError(`Item '${item.id}' has neither an image nor a caption: nothing to encode`, 'ERR_FUSIONRANK_EMPTY_ITEM');

    let visual: Float32Array | undefined;
    let ocr: OcrResult | undefined;
    if (hasImage) {
      if (!this.#encoder.hasImage) throw typeError(`Item '${item.id}' has an image but the encoder has no image model`);
      const bytes = await readImageInput(item.image as string | Uint8Array);
      if (bytes.byteLength === 0) throw new FusionrankError(`The image of item '${item.id}' is empty`, 'ERR_FUSIONRANK_UNSUPPORTED_IMAGE');
      const hash = sha256(bytes);
      [visual, ocr] = await Promise.all([
        this.#visual.get(hash, async () => {
          const pixels = this.#images ? await withBackpressure(this.#images, () => this.#images!.preprocess(bytes, { signal })) : undefined;
          return (await this.#encoder.encodeImages([pixels ?? bytes], { transfer: true }))[0];
        }),
        this.#ocr ? this.#ocrMemo.get(hash, () => withBackpressure(this.#ocr!, () => this.#ocr!.recognize(bytes, { signal }))) : undefined,
      ]);
    }
    const ocrText = ocr && ocr.text && ocr.confidence >= this.thresholds.minOcrConfidence ? ocr.text : '';
    const text = [caption, ocrText].filter(Boolean).join('\n');
    let textVector: Float32Array | undefined;
    if (text) {
      if (!this.#encoder.hasText) {
        if (!hasImage) throw typeError(`Item '${item.id}' has only text but the encoder has no text model`);
      } else textVector = await this.#text.get(sha256(text), async () => (await this.#encoder.encodeTexts([text]))[0]);
    }
    const alignment = visual && textVector && visual.length === textVector.length ? dot(visual, textVector) : undefined;
    const contentType: ContentType = classifyContent(
      { hasImage, ocrWords: ocrText ? ocr!.words : 0, ocrCoverage: ocrText ? ocr!.coverage : 0, alignment },
      this.thresholds,
    );
    const names = this.#names;
    const fields: Record<string, FieldValue> = { ...item.fields };
    if (names.fields.alignment && alignment !== undefined) fields[names.fields.alignment] = alignment;
    if (names.fields.contentType) fields[names.fields.contentType] = contentType;
    if (names.fields.ocrText && ocrText) fields[names.fields.ocrText] = ocrText;
    const vectors: Record<string, Float32Array> = {};
    // Copies: cached vectors must not be shared with (and mutated through) the catalog.
    if (visual && names.vectors.visual) vectors[names.vectors.visual] = visual.slice();
    if (textVector && names.vectors.text) vectors[names.vectors.text] = textVector.slice();
    return { id: item.id, vectors, fields };
  }
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return Math.max(-1, Math.min(1, sum));
}
