import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { imageEncoderModel, noiseImage, notAnEncoderModel, textEncoderModel, tokenizerJson, TOKENIZER_WORDS } from '../bench/ingest-fixtures.js';
import { ImagePool } from '../src/ingest/image-pool.js';
import { preprocessImage, resolvePreprocess } from '../src/ingest/preprocess.js';
import { ClipEncoder } from '../src/models/clip-encoder.js';
import { OnnxModel } from '../src/models/onnx-model.js';

const SIZE = 16;
const DIM = 8;
const VOCAB = 4 + TOKENIZER_WORDS.length;
const dir = mkdtempSync(join(tmpdir(), 'fusionrank-clip-'));
const tokenizerPath = join(dir, 'tokenizer.json');
writeFileSync(tokenizerPath, tokenizerJson());
let clip: ClipEncoder;

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i], 0);

beforeAll(async () => {
  clip = await ClipEncoder.load({
    image: imageEncoderModel({ size: SIZE, dim: DIM }),
    text: textEncoderModel({ vocabSize: VOCAB, dim: DIM, contextLength: 8 }),
    tokenizer: tokenizerPath,
    device: 'cpu',
  });
});
afterAll(async () => {
  await clip.close();
});

describe('ClipEncoder', () => {
  it('reads the image size and context length from the models', () => {
    expect(clip.imageSize).toBe(SIZE);
    expect(clip.contextLength).toBe(8);
    expect(clip.devices).toEqual({ image: 'cpu', text: 'cpu' });
  });

  it('encodes images to L2-normalised embeddings that match a manual run', async () => {
    const bytes = [await noiseImage(40, 30, 1), await noiseImage(30, 40, 2, 'png')];
    const embeddings = await clip.encodeImages(bytes);
    expect(embeddings).toHaveLength(2);
    for (const e of embeddings) {
      expect(e.length).toBe(DIM);
      expect(norm(e)).toBeCloseTo(1, 5);
    }
    expect(dot(embeddings[0], embeddings[1])).toBeLessThan(0.9999);
    // Reference: preprocess + raw model + normalise by hand.
    const model = await OnnxModel.load(imageEncoderModel({ size: SIZE, dim: DIM }), { device: 'cpu' });
    const pixels = await preprocessImage(bytes[0], resolvePreprocess({ size: SIZE }));
    const raw = (await model.run({ pixel_values: { data: pixels, dims: [1, 3, SIZE, SIZE] } })).image_embeds.data as Float32Array;
    const n = norm(raw);
    raw.forEach((v, i) => expect(embeddings[0][i]).toBeCloseTo(v / n, 5));
    await model.close();
    // Preprocessed pixels are accepted as they are.
    expect(Array.from((await clip.encodeImages([pixels]))[0])).toEqual(Array.from(embeddings[0]));
  });

  it('gives the same embeddings batched, concurrently micro-batched and one by one', async () => {
    const images = await Promise.all([1, 2, 3, 4, 5].map((s) => noiseImage(24, 24, s)));
    const batched = await clip.encodeImages(images);
    const concurrent = (await Promise.all(images.map((i) => clip.encodeImages([i])))).flat();
    const single: Float32Array[] = [];
    for (const i of images) single.push((await clip.encodeImages([i]))[0]);
    for (let k = 0; k < images.length; k++) {
      batched[k].forEach((v, j) => {
        expect(concurrent[k][j]).toBeCloseTo(v, 5);
        expect(single[k][j]).toBeCloseTo(v, 5);
      });
    }
    const texts = ['summer sale', 'a photo of a cat', 'red dog on the beach'];
    const textBatch = await clip.encodeTexts(texts);
    const textSingle = (await Promise.all(texts.map((t) => clip.encodeTexts([t])))).flat();
    textBatch.forEach((v, k) => v.forEach((x, j) => expect(textSingle[k][j]).toBeCloseTo(x, 5)));
  });

  it('tokenizes with padding, truncation and an attention mask', async () => {
    const [a, b] = await clip.encodeTexts(['summer sale', 'SUMMER   Sale']);
    expect(norm(a)).toBeCloseTo(1, 5);
    expect(Array.from(a)).toEqual(Array.from(b)); // lowercase + whitespace normalisation
    const [c] = await clip.encodeTexts(['cat dog']);
    expect(dot(a, c)).toBeLessThan(0.9999);
    // Longer than the context (8) is truncated, not an error; padding never leaks into the embedding.
    const long = await clip.encodeTexts(['the cat the dog the beach the sunset the photo of a meme']);
    expect(long[0].length).toBe(DIM);
    const [pooledA] = await clip.encodeTexts(['cat']);
    const [pooledB] = await clip.encodeTexts(['cat cat']);
    // Mean pooling over [CLS] cat [SEP] vs [CLS] cat cat [SEP]: different, and both finite.
    expect(dot(pooledA, pooledB)).toBeLessThan(1);
  });

  it('mean-pools [batch, seq, dim] hidden states with the attention mask', async () => {
    const pooledModel = await ClipEncoder.load({ text: textEncoderModel({ vocabSize: VOCAB, dim: DIM, contextLength: 'sequence', hiddenStates: true }), tokenizer: tokenizerJson(), contextLength: 12, device: 'cpu' });
    expect(pooledModel.contextLength).toBe(12);
    const reference = await clip.encodeTexts(['summer sale']);
    const pooled = await pooledModel.encodeTexts(['summer sale']);
    // Same embedding table (same seed): masked mean pooling gives the same direction as the pooled model.
    pooled[0].forEach((v, i) => expect(v).toBeCloseTo(reference[0][i], 5));
    await pooledModel.close();
  });

  it('decodes through an ImagePool when one is given', async () => {
    const pool = new ImagePool({ threads: 1, size: SIZE });
    const pooled = await ClipEncoder.load({ image: imageEncoderModel({ size: SIZE, dim: DIM }), images: pool, device: 'cpu' });
    const bytes = await noiseImage(50, 40, 9);
    const [a] = await pooled.encodeImages([bytes]);
    const [b] = await clip.encodeImages([bytes]);
    a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 5));
    await pooled.close();
    await pool.close();
  });

  it('refuses models that are not encoders, with a code', async () => {
    await expect(ClipEncoder.load({ image: notAnEncoderModel(), device: 'cpu' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_NOT_AN_ENCODER' });
    await expect(ClipEncoder.load({ text: notAnEncoderModel(), tokenizer: tokenizerJson(), device: 'cpu' })).rejects.toMatchObject({
      code: 'ERR_FUSIONRANK_NOT_AN_ENCODER',
      message: expect.stringContaining("'input_ids'"),
    });
    await expect(ClipEncoder.load({ image: textEncoderModel({ vocabSize: 4 }), device: 'cpu' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_NOT_AN_ENCODER' });
    await expect(ClipEncoder.load({ image: imageEncoderModel({ size: SIZE }), preprocess: { size: 32 }, device: 'cpu' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' });
  });

  it('refuses a tokenizer that does not parse, with a code', async () => {
    const text = textEncoderModel({ vocabSize: VOCAB });
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "model": { "type": "WordPiece", ');
    await expect(ClipEncoder.load({ text, tokenizer: broken, device: 'cpu' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_TOKENIZER' });
    await expect(ClipEncoder.load({ text, tokenizer: { version: '1.0' }, device: 'cpu' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_TOKENIZER' });
    await expect(ClipEncoder.load({ text, tokenizer: join(dir, 'missing.json'), device: 'cpu' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_FILE_NOT_FOUND' });
    await expect(ClipEncoder.load({ text, device: 'cpu' })).rejects.toThrow(TypeError);
  });

  it('refuses bad inputs with codes', async () => {
    await expect(clip.encodeTexts([''])).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_FUSIONRANK_EMPTY_TEXT' });
    await expect(clip.encodeTexts(['ok', '   '])).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_EMPTY_TEXT', message: expect.stringContaining('texts[1]') });
    await expect(clip.encodeTexts('summer' as never)).rejects.toThrow(TypeError);
    await expect(clip.encodeImages([Buffer.from('not an image')])).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNSUPPORTED_IMAGE' });
    await expect(clip.encodeImages([join(dir, 'nope.jpg')])).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_FILE_NOT_FOUND' });
    await expect(clip.encodeImages([new Float32Array(5)])).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' });
    expect(await clip.encodeImages([])).toEqual([]);
    const imageOnly = await ClipEncoder.load({ image: imageEncoderModel({ size: SIZE }), device: 'cpu' });
    await expect(imageOnly.encodeTexts(['x'])).rejects.toThrow('no text model');
    await imageOnly.close();
  });
});
