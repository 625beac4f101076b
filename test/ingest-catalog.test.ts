// The ingest pipeline into a real Catalog, and a Ranker over what it wrote.
// The encoders embed on known axes (one per word; images on 'red'/'blue'),
// so the expected rankings are known in advance.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { imageEncoderModel, noiseImage, solidImage, textEncoderModel, tokenizerJson, TOKENIZER_WORDS, wordAxisEncoders } from '../bench/ingest-fixtures.js';
import { Catalog, ClipEncoder, ImagePool, Ingestor, Ranker, type IngestEncoder } from '../src/index.js';
import { CountingEncoder } from './helpers/counting-encoder.js';

const dir = mkdtempSync(join(tmpdir(), 'fusionrank-ingest-catalog-'));
const SIZE = 8;
let clip: ClipEncoder;
let images: ImagePool;
let red: Buffer;
let blue: Buffer;


const axis = (word: string) => TOKENIZER_WORDS.indexOf(word);

beforeAll(async () => {
  const models = wordAxisEncoders(SIZE);
  clip = await ClipEncoder.load({ ...models, device: 'cpu' });
  images = new ImagePool({ threads: 1, size: SIZE });
  red = await solidImage(255, 0, 0);
  blue = await solidImage(0, 0, 255);
});
afterAll(async () => {
  await images.close();
  await clip.close();
});

describe('Ingestor.schema', () => {
  it('builds a schema holding what the Ingestor writes, plus the given fields', () => {
    expect(Ingestor.schema(clip, { fields: { likes: 'number', creator: 'category' } })).toEqual({
      vectors: { visual: { dim: TOKENIZER_WORDS.length, dtype: 'f32' }, text: { dim: TOKENIZER_WORDS.length, dtype: 'f32' } },
      fields: { alignment: 'number', contentType: 'category', likes: 'number', creator: 'category' },
    });
    expect(Ingestor.schema(clip, { dtype: { visual: 'f16' }, vectorNames: { visual: 'image', text: null }, fieldNames: { alignment: null, ocrText: 'ocr' } })).toEqual({
      vectors: { image: { dim: TOKENIZER_WORDS.length, dtype: 'f16' } },
      fields: { contentType: 'category', ocr: 'category' },
    });
    // What a newcomer types: it makes a catalog.
    expect(new Catalog(Ingestor.schema(clip)).schema.vectors.visual.dim).toBe(TOKENIZER_WORDS.length);
  });

  it('refuses what cannot make a schema, with codes', () => {
    const cases: Array<[() => unknown, unknown]> = [
      [() => Ingestor.schema({ hasImage: true, hasText: false } as IngestEncoder), { name: 'TypeError', code: 'ERR_FUSIONRANK_INVALID_ARGUMENT', message: expect.stringContaining('encoder.imageDim') }],
      [() => Ingestor.schema(null as never), { name: 'TypeError', code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' }],
      [() => Ingestor.schema(clip, { fields: { alignment: 'category' } }), { name: 'RangeError', code: 'ERR_FUSIONRANK_SCHEMA_MISMATCH', message: expect.stringContaining("'alignment'") }],
      [() => Ingestor.schema(clip, { fields: { visual: 'number' } }), { name: 'RangeError', code: 'ERR_FUSIONRANK_DUPLICATE_NAME' }],
      [() => Ingestor.schema(clip, { fields: { likes: 'int' as never } }), { name: 'RangeError', code: 'ERR_FUSIONRANK_UNKNOWN_FIELD_TYPE' }],
      [() => Ingestor.schema(clip, { dtype: 'f64' as never }), { name: 'RangeError', code: 'ERR_FUSIONRANK_UNKNOWN_DTYPE' }],
      [() => Ingestor.schema(clip, { vectorNames: { visual: 'same', text: 'same' } }), { name: 'RangeError', code: 'ERR_FUSIONRANK_DUPLICATE_NAME' }],
      [() => Ingestor.schema(clip, { fieldNames: { contentType: 7 as never } }), { name: 'TypeError', code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' }],
    ];
    for (const [fn, expected] of cases) {
      let thrown: unknown;
      try {
        fn();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject(expected as object);
    }
  });
});

describe('Ingestor checks the catalog once, before any item', () => {
  const dim = TOKENIZER_WORDS.length;
  const derived = { alignment: 'number', contentType: 'category' } as const;
  const attempt = (catalog: Catalog, extra: object = {}) => {
    const encoder = new CountingEncoder(clip);
    let thrown: unknown;
    try {
      new Ingestor({ catalog, encoder, ...extra });
    } catch (error) {
      thrown = error;
    }
    expect(encoder.imageCalls + encoder.textCalls).toBe(0);
    return thrown;
  };

  it('a missing vector or field, or a field of another type: ERR_FUSIONRANK_SCHEMA_MISMATCH listing each', () => {
    const thrown = attempt(new Catalog({ vectors: { visual: { dim } }, fields: { contentType: 'tags' } }));
    expect(thrown).toBeInstanceOf(RangeError);
    expect(thrown).toMatchObject({ code: 'ERR_FUSIONRANK_SCHEMA_MISMATCH' });
    const message = (thrown as Error).message;
    expect(message).toContain(`no vector 'text' for the text embeddings (dim ${dim})`);
    expect(message).toContain("no field 'alignment' (number)");
    expect(message).toContain("field 'contentType' is 'tags'");
    expect(message).toContain('Ingestor.schema(encoder');
  });

  it('a vector of another dim than the encoder: ERR_FUSIONRANK_DIM_MISMATCH', () => {
    const thrown = attempt(new Catalog({ vectors: { visual: { dim: 16 }, text: { dim } }, fields: derived }));
    expect(thrown).toBeInstanceOf(RangeError);
    expect(thrown).toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH', message: expect.stringContaining(`image embeddings have ${dim} dimensions but the catalog's vector 'visual' has 16`) });
  });

  it('the OCR text field is needed only when OCR runs and a name is given', () => {
    const catalog = new Catalog({ vectors: { visual: { dim }, text: { dim } }, fields: derived });
    const fakeOcr = { recognize: async () => ({ text: '', confidence: 0, words: 0, coverage: 0 }) } as never;
    expect(attempt(catalog, { fieldNames: { ocrText: 'ocr' } })).toBeUndefined();
    expect(attempt(catalog, { ocr: fakeOcr, fieldNames: { ocrText: 'ocr' } })).toMatchObject({ code: 'ERR_FUSIONRANK_SCHEMA_MISMATCH', message: expect.stringContaining("no field 'ocr' (category)") });
  });

  it('names are mapped; null encodes a side without storing it', async () => {
    const catalog = new Catalog({ vectors: { image: { dim } }, fields: { contentType: 'category', score: 'number' } });
    expect(attempt(catalog)).toMatchObject({ code: 'ERR_FUSIONRANK_SCHEMA_MISMATCH' });
    const ingestor = new Ingestor({ catalog, encoder: clip, images, vectorNames: { visual: 'image', text: null }, fieldNames: { alignment: 'score' } });
    expect(await ingestor.ingest([{ id: 'r', image: red, caption: 'red' }])).toEqual({ ok: ['r'], failed: [] });
    const row = catalog.get('r')!;
    expect(Object.keys(row.vectors)).toEqual(['image']);
    expect(row.fields.score).toBeGreaterThan(0.7); // the text was encoded for the alignment
  });
});

describe('Ingestor into a real Catalog', () => {
  let catalog: Catalog;
  let encoder: CountingEncoder;
  let ingestor: Ingestor;

  beforeAll(async () => {
    catalog = new Catalog(Ingestor.schema(clip, { fields: { likes: 'number', creator: 'category' } }));
    encoder = new CountingEncoder(clip);
    ingestor = new Ingestor({ catalog, encoder, images });
    writeFileSync(join(dir, 'blue.png'), blue);
  });

  it('writes vectors and fields; a bad item is reported and leaves nothing behind', async () => {
    const result = await ingestor.ingest([
      { id: 'red-cat', image: red, caption: 'red cat', fields: { likes: 10, creator: 'ann' } },
      { id: 'blue-dog', image: join(dir, 'blue.png'), caption: 'blue dog', fields: { likes: 5, creator: 'bob' } },
      { id: 'sunset-text', caption: 'sunset beach', fields: { likes: 1 } },
      { id: 'missing-file', image: join(dir, 'no-such.png'), caption: 'red' },
      { id: 'bad-likes', image: red, caption: 'red', fields: { likes: 'many' as never } },
      { id: 'unknown-field', caption: 'cat', fields: { colour: 'red' } },
      { id: 'corrupt', image: red.subarray(0, 40), caption: 'red' },
    ]);
    expect(result.ok).toEqual(['red-cat', 'blue-dog', 'sunset-text']);
    expect(result.failed.map((f) => [f.id, f.code])).toEqual([
      ['missing-file', 'ERR_FUSIONRANK_FILE_NOT_FOUND'],
      ['bad-likes', 'ERR_FUSIONRANK_INVALID_FIELD'],
      ['unknown-field', 'ERR_FUSIONRANK_UNKNOWN_FIELD'],
      ['corrupt', 'ERR_FUSIONRANK_CORRUPT_IMAGE'],
    ]);
    expect(result.failed[2].message).toContain("valid fields: 'alignment', 'contentType', 'likes', 'creator'");
    expect(catalog.size).toBe(3);
    expect([...catalog.ids()].sort()).toEqual(['blue-dog', 'red-cat', 'sunset-text']);

    const redCat = catalog.get('red-cat')!;
    const [visual] = await clip.encodeImages([red]);
    const [text] = await clip.encodeTexts(['red cat']);
    expect(Array.from(redCat.vectors.visual)).toEqual(Array.from(visual));
    expect(Array.from(redCat.vectors.text)).toEqual(Array.from(text));
    expect(redCat.vectors.text[axis('red')]).toBeCloseTo(Math.SQRT1_2, 5);
    expect(redCat.vectors.visual[axis('red')]).toBeGreaterThan(0.7);
    expect(redCat.fields).toEqual({ alignment: expect.closeTo(visual.reduce((s, v, i) => s + v * text[i], 0), 5), contentType: 'aesthetic', likes: 10, creator: 'ann' });
    expect(catalog.get('blue-dog')!.vectors.visual[axis('blue')]).toBeGreaterThan(0.7);

    // No image: the visual vector is absent, not zeros; no alignment either.
    const sunset = catalog.get('sunset-text')!;
    expect(Object.keys(sunset.vectors)).toEqual(['text']);
    expect(sunset.fields).toEqual({ contentType: 'text_only', likes: 1 });
  });

  it('a failed re-ingest leaves the stored item as it was', async () => {
    const before = catalog.get('red-cat')!;
    const result = await ingestor.ingest([{ id: 'red-cat', image: blue, caption: 'blue', fields: { likes: Number.NaN } }]);
    expect(result.failed.map((f) => f.code)).toEqual(['ERR_FUSIONRANK_INVALID_FIELD']);
    expect(catalog.get('red-cat')).toEqual(before);
    expect(catalog.size).toBe(3);
  });

  it('re-ingesting an unchanged image hits the cache and stores the same row', async () => {
    const imageCalls = encoder.imageCalls;
    const textCalls = encoder.textCalls;
    const hits = ingestor.cacheStats.visual.hits;
    const before = catalog.get('blue-dog')!;
    const result = await ingestor.ingest([{ id: 'blue-dog', image: Buffer.from(blue), caption: 'blue dog', fields: { likes: 5, creator: 'bob' } }]);
    expect(result).toEqual({ ok: ['blue-dog'], failed: [] });
    expect(encoder.imageCalls).toBe(imageCalls);
    expect(encoder.textCalls).toBe(textCalls);
    expect(ingestor.cacheStats.visual.hits).toBe(hits + 1);
    expect(catalog.get('blue-dog')).toEqual(before);
  });

  it('a Ranker over the catalog ranks text queries; a missing visual vector follows the missing policy', async () => {
    const signals = {
      visual: { kind: 'similarity', vector: 'visual', weight: 0.5 },
      text: { kind: 'similarity', vector: 'text', weight: 0.5 },
    } as const;
    const [redQuery, sunsetQuery] = await clip.encodeTexts(['red', 'sunset']);
    const ranker = new Ranker(catalog, { signals, normalize: 'none', missing: 'renormalize', k: 10 });

    // "red": the red image with the red caption first; the blue one last.
    const byRed = ranker.rank({ query: { visual: redQuery, text: redQuery }, explain: true }).items;
    expect(byRed.map((i) => i.id)).toEqual(['red-cat', 'sunset-text', 'blue-dog']);
    expect(byRed[0].signals!.text.raw).toBeCloseTo(Math.SQRT1_2, 5);
    // No image: no visual signal, and its weight goes to the text signal.
    expect(byRed[1].signals!.visual).toMatchObject({ raw: null, contribution: 0 });

    // "sunset": only the text-only item matches, on its text alone.
    const bySunset = ranker.rank({ query: { visual: sunsetQuery, text: sunsetQuery }, explain: true }).items;
    expect(bySunset[0].id).toBe('sunset-text');
    expect(bySunset[0].score).toBeCloseTo(Math.SQRT1_2, 5);
    expect(bySunset[0].signals!.text.contribution).toBeCloseTo(Math.SQRT1_2, 5);

    // 'drop' leaves out items without every signal.
    const drop = new Ranker(catalog, { signals, normalize: 'none', missing: 'drop', k: 10 });
    expect(drop.rank({ query: { visual: sunsetQuery, text: sunsetQuery } }).items.map((i) => i.id).sort()).toEqual(['blue-dog', 'red-cat']);
  });

  it('saves and loads with everything in place', async () => {
    const path = join(dir, 'saved');
    await catalog.save(path);
    const loaded = await Catalog.load(path);
    expect(loaded.schema).toEqual(catalog.schema);
    for (const id of catalog.ids()) expect(loaded.get(id)).toEqual(catalog.get(id));
    expect(Object.keys(loaded.get('sunset-text')!.vectors)).toEqual(['text']);
  });
});

describe('ClipEncoder dims', () => {
  it('reads them from the models, or measures them once when the models leave them dynamic', async () => {
    expect([clip.imageDim, clip.textDim]).toEqual([TOKENIZER_WORDS.length, TOKENIZER_WORDS.length]);
    const dynamic = await ClipEncoder.load({
      image: imageEncoderModel({ size: 16, dim: 6, dynamicDim: true }),
      text: textEncoderModel({ vocabSize: 4 + TOKENIZER_WORDS.length, dim: 5, dynamicDim: true }),
      tokenizer: tokenizerJson(),
      device: 'cpu',
    });
    expect([dynamic.imageDim, dynamic.textDim]).toEqual([6, 5]);
    expect(Ingestor.schema(dynamic).vectors).toEqual({ visual: { dim: 6, dtype: 'f32' }, text: { dim: 5, dtype: 'f32' } });
    const [v] = await dynamic.encodeImages([await noiseImage(20, 20, 1)]);
    expect(v).toHaveLength(6);
    await dynamic.close();
    const imageOnly = await ClipEncoder.load({ image: imageEncoderModel({ size: 16, dim: 6 }), device: 'cpu' });
    expect([imageOnly.imageDim, imageOnly.textDim]).toEqual([6, undefined]);
    expect(Ingestor.schema(imageOnly)).toEqual({ vectors: { visual: { dim: 6, dtype: 'f32' } }, fields: { contentType: 'category' } });
    await imageOnly.close();
  });
});
