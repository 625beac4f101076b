import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { hugePngHeader, imageEncoderModel, memeImage, noiseImage, screenshotImage, textEncoderModel, tokenizerJson, TOKENIZER_WORDS } from '../bench/ingest-fixtures.js';
import { classifyContent, resolveThresholds } from '../src/ingest/content-type.js';
import { ImagePool } from '../src/ingest/image-pool.js';
import { Ingestor, type IngestEncoder, type IngestProgress } from '../src/ingest/ingestor.js';
import { OcrPool } from '../src/ingest/ocr-pool.js';
import { ClipEncoder } from '../src/models/clip-encoder.js';
import { RecordingCatalog } from './helpers/recording-catalog.js';
import { CountingEncoder } from './helpers/counting-encoder.js';

const SIZE = 16;
const DIM = 8;
const dir = mkdtempSync(join(tmpdir(), 'fusionrank-ingest-'));
let clip: ClipEncoder;
let images: ImagePool;


beforeAll(async () => {
  clip = await ClipEncoder.load({
    image: imageEncoderModel({ size: SIZE, dim: DIM }),
    text: textEncoderModel({ vocabSize: 4 + TOKENIZER_WORDS.length, dim: DIM, contextLength: 16 }),
    tokenizer: tokenizerJson(),
    device: 'cpu',
  });
  images = new ImagePool({ threads: 2, size: SIZE });
});
afterAll(async () => {
  await images.close();
  await clip.close();
});

describe('Ingestor', () => {
  it('turns items into rows: vectors present only for what the item has, alignment, contentType, fields', async () => {
    const catalog = new RecordingCatalog();
    const ingestor = new Ingestor({ catalog, encoder: clip, images });
    const photo = await noiseImage(48, 32, 1);
    const path = join(dir, 'photo2.png');
    writeFileSync(path, await noiseImage(40, 40, 2, 'png'));
    const result = await ingestor.ingest([
      { id: 'both', image: photo, caption: 'a photo of the beach', fields: { likes: 3 } },
      { id: 'image-only', image: path },
      { id: 'caption-only', caption: 'summer sale', fields: { likes: 1 } },
      { id: 'blank-caption', image: photo, caption: '   ' },
    ]);
    expect(result).toEqual({ ok: ['both', 'image-only', 'caption-only', 'blank-caption'], failed: [] });

    const both = catalog.rows.get('both')!;
    const [visual] = await clip.encodeImages([photo]);
    const [text] = await clip.encodeTexts(['a photo of the beach']);
    expect(Array.from(both.vectors.visual!)).toEqual(Array.from(visual));
    expect(Array.from(both.vectors.text!)).toEqual(Array.from(text));
    const cosine = visual.reduce((s, v, i) => s + v * text[i], 0);
    expect(both.fields.alignment).toBeCloseTo(cosine, 6);
    expect(both.fields.likes).toBe(3);
    expect(both.fields.contentType).toBe(cosine >= 0.2 ? 'aesthetic' : 'mixed');

    const imageOnly = catalog.rows.get('image-only')!;
    expect(Object.keys(imageOnly.vectors)).toEqual(['visual']);
    expect(imageOnly.fields).toEqual({ contentType: 'aesthetic' }); // no alignment without text

    const captionOnly = catalog.rows.get('caption-only')!;
    expect(Object.keys(captionOnly.vectors)).toEqual(['text']);
    expect(captionOnly.fields).toEqual({ likes: 1, contentType: 'text_only' });

    expect(Object.keys(catalog.rows.get('blank-caption')!.vectors)).toEqual(['visual']);
  });

  it('reports bad items with their codes and writes nothing of them, while the rest goes on', async () => {
    const catalog = new RecordingCatalog((item) => item.fields.likes === 'many');
    const ingestor = new Ingestor({ catalog, encoder: clip, images });
    const good = await noiseImage(30, 30, 3);
    const corrupt = good.subarray(0, good.length >> 1);
    const result = await ingestor.ingest([
      { id: 'good', image: good, caption: 'cat' },
      { id: 'corrupt', image: corrupt, caption: 'dog' },
      { id: 'text-file', image: Buffer.from('plain text, not an image') },
      { id: 'missing', image: join(dir, 'no-such-file.jpg'), caption: 'x' },
      { id: 'huge', image: await hugePngHeader() },
      { id: 'empty', caption: '' },
      { id: 'good', caption: 'again' },
      { id: '', caption: 'no id' },
      { id: 'bad-field', caption: 'red', fields: { likes: 'many' } },
      { id: 'good-2', caption: 'blue' },
    ] as never);
    expect(result.ok).toEqual(['good', 'good-2']);
    expect(result.failed.map((f) => [f.id, f.code])).toEqual([
      ['corrupt', 'ERR_FUSIONRANK_CORRUPT_IMAGE'],
      ['text-file', 'ERR_FUSIONRANK_UNSUPPORTED_IMAGE'],
      ['missing', 'ERR_FUSIONRANK_FILE_NOT_FOUND'],
      ['huge', 'ERR_FUSIONRANK_IMAGE_TOO_LARGE'],
      ['empty', 'ERR_FUSIONRANK_EMPTY_ITEM'],
      ['good', 'ERR_FUSIONRANK_DUPLICATE_ID'],
      ['', 'ERR_FUSIONRANK_INVALID_ARGUMENT'],
      ['bad-field', 'ERR_FUSIONRANK_INVALID_ARGUMENT'],
    ]);
    for (const f of result.failed) expect(f.message.length).toBeGreaterThan(10);
    expect([...catalog.rows.keys()].sort()).toEqual(['good', 'good-2']);
    expect(catalog.rows.get('good')!.fields.contentType).toBeDefined();
  });

  it('re-ingesting unchanged images costs a hash: embeddings come from the cache', async () => {
    const encoder = new CountingEncoder(clip);
    const catalog = new RecordingCatalog();
    const ingestor = new Ingestor({ catalog, encoder, images });
    const items = await Promise.all([1, 2, 3].map(async (n) => ({ id: `p${n}`, image: await noiseImage(32, 32, 10 + n), caption: `cat ${n}` })));
    await ingestor.ingest(items);
    expect(encoder.imageCalls).toBe(3);
    expect(encoder.textCalls).toBe(3);
    const first = new Map([...catalog.rows].map(([id, row]) => [id, Array.from(row.vectors.visual!)]));
    await ingestor.ingest(items.map((item) => ({ ...item, image: Buffer.from(item.image) })));
    expect(encoder.imageCalls).toBe(3);
    expect(encoder.textCalls).toBe(3);
    expect(ingestor.cacheStats.visual).toEqual({ hits: 3, misses: 3, entries: 3 });
    for (const [id, row] of catalog.rows) expect(Array.from(row.vectors.visual!)).toEqual(first.get(id));
    // A duplicate image within one batch is encoded once.
    const twin = await noiseImage(32, 32, 99);
    await ingestor.ingest([{ id: 'a', image: twin }, { id: 'b', image: Buffer.from(twin) }]);
    expect(encoder.imageCalls).toBe(4);
    // Without a cache every image is encoded again.
    const uncached = new Ingestor({ catalog, encoder, images, cache: false });
    await uncached.ingest(items);
    expect(encoder.imageCalls).toBe(7);
  });

  it('reports progress and honours concurrency and abort', async () => {
    const catalog = new RecordingCatalog();
    const ingestor = new Ingestor({ catalog, encoder: clip, images });
    const items = Array.from({ length: 12 }, (_, i) => ({ id: `t${i}`, caption: `red dog ${i}` }));
    const progress: IngestProgress[] = [];
    const result = await ingestor.ingest(items, { concurrency: 3, onProgress: (p) => progress.push(p) });
    expect(result.ok).toHaveLength(12);
    expect(progress.map((p) => p.done)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(progress.at(-1)).toMatchObject({ done: 12, total: 12, ok: 12, failed: 0 });

    const controller = new AbortController();
    const aborted = await ingestor.ingest(
      items.map((i) => ({ ...i, id: `x${i.id}` })),
      { concurrency: 1, signal: controller.signal, onProgress: (p) => p.done === 2 && controller.abort() },
    );
    expect(aborted.ok).toHaveLength(2);
    expect(aborted.failed).toHaveLength(10);
    expect(new Set(aborted.failed.map((f) => f.code))).toEqual(new Set(['ERR_FUSIONRANK_ABORTED']));
    await expect(ingestor.ingest(items, { concurrency: 0 })).rejects.toThrow(RangeError);
    await expect(ingestor.ingest('items' as never)).rejects.toThrow(TypeError);
  });

  it('validates its options', () => {
    expect(() => new Ingestor({ catalog: {} as never, encoder: clip })).toThrow('Expected an object with an upsert(items) method (a Catalog) for catalog but received Object of type object');
    expect(() => new Ingestor({ catalog: new RecordingCatalog(), encoder: {} as never })).toThrow(TypeError);
    expect(() => new Ingestor({ catalog: new RecordingCatalog(), encoder: clip, thresholds: { memeMinWords: 0 } })).toThrow(RangeError);
  });
});

describe('classifyContent', () => {
  const t = resolveThresholds({});
  it('classifies by OCR words and alignment', () => {
    expect(classifyContent({ hasImage: false, ocrWords: 0 }, t)).toBe('text_only');
    expect(classifyContent({ hasImage: true, ocrWords: 60 }, t)).toBe('text_only');
    expect(classifyContent({ hasImage: true, ocrWords: 4, alignment: 0.9 }, t)).toBe('meme');
    expect(classifyContent({ hasImage: true, ocrWords: 0 }, t)).toBe('aesthetic');
    expect(classifyContent({ hasImage: true, ocrWords: 0, alignment: 0.3 }, t)).toBe('aesthetic');
    expect(classifyContent({ hasImage: true, ocrWords: 0, alignment: 0.05 }, t)).toBe('mixed');
    expect(classifyContent({ hasImage: true, ocrWords: 1, alignment: 0.9 }, t)).toBe('mixed');
    // Text density: one big word is a meme, text filling the image is text only.
    expect(classifyContent({ hasImage: true, ocrWords: 1, ocrCoverage: 0.1 }, t)).toBe('meme');
    expect(classifyContent({ hasImage: true, ocrWords: 12, ocrCoverage: 0.5 }, t)).toBe('text_only');
    expect(classifyContent({ hasImage: true, ocrWords: 0, ocrCoverage: 0.5 }, t)).toBe('aesthetic');
    const strict = resolveThresholds({ memeMinWords: 1, aestheticMinAlignment: 0.5 });
    expect(classifyContent({ hasImage: true, ocrWords: 1 }, strict)).toBe('meme');
    expect(classifyContent({ hasImage: true, ocrWords: 0, alignment: 0.3 }, strict)).toBe('mixed');
  });
});

describe('Ingestor with OCR', () => {
  it('reads the text in a meme into the text vector and classifies it', async () => {
    const ocr = new OcrPool({ threads: 1 });
    const encoder = new CountingEncoder(clip);
    const catalog = new RecordingCatalog();
    const ingestor = new Ingestor({ catalog, encoder, images, ocr, fieldNames: { ocrText: 'ocrText' } });
    const meme = await memeImage('SUMMER SALE 50% OFF');
    const screenshot = await screenshotImage([
      'the cat sat on the red mat today',
      'and the dog ran to the blue beach',
      'when you see the summer sale photo',
      'of a sunset on the beach with a cat',
      'you know it is the best meme of all',
      'the end of the post about a dog',
    ]);
    const result = await ingestor.ingest([
      { id: 'meme', image: meme, caption: 'when you see it' },
      { id: 'screenshot', image: screenshot },
    ]);
    expect(result.failed).toEqual([]);
    const row = catalog.rows.get('meme')!;
    expect(row.fields.ocrText).toBe('SUMMER SALE 50% OFF');
    expect(row.fields.contentType).toBe('meme');
    expect(catalog.rows.get('screenshot')!.fields.contentType).toBe('text_only');
    expect(Object.keys(catalog.rows.get('screenshot')!.vectors).sort()).toEqual(['text', 'visual']);
    const [expected] = await clip.encodeTexts(['when you see it\nSUMMER SALE 50% OFF']);
    expect(Array.from(row.vectors.text!)).toEqual(Array.from(expected));
    // Second time: OCR comes from the cache.
    await ingestor.ingest([{ id: 'meme', image: Buffer.from(meme), caption: 'when you see it' }]);
    expect(ingestor.cacheStats.ocr).toMatchObject({ hits: 1, misses: 2 });
    await ocr.close();
  });
});
