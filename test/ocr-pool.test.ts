import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fixtureSharp, hugePngHeader, memeImage, noiseImage, textImage } from '../bench/ingest-fixtures.js';
import { OcrPool } from '../src/ingest/ocr-pool.js';

let ocr: OcrPool;
beforeAll(() => {
  ocr = new OcrPool({ threads: 1 });
});
afterAll(async () => {
  await ocr.close();
});

describe('OcrPool (offline tesseract.js)', () => {
  it('reads rendered text back', async () => {
    const result = await ocr.recognize(await textImage('SUMMER SALE 50% OFF'));
    expect(result.text).toBe('SUMMER SALE 50% OFF');
    expect(result.words).toBe(4);
    expect(result.confidence).toBeGreaterThan(0.6);
    expect(result.confidence).toBeLessThanOrEqual(1);
    // The words' boxes cover a good part of a text banner, a small part of a meme.
    expect(result.coverage).toBeGreaterThan(0.08);
    const meme = await ocr.recognize(await memeImage('SUMMER SALE 50% OFF'));
    expect(meme.text).toBe('SUMMER SALE 50% OFF');
    expect(meme.coverage).toBeGreaterThan(0.02);
    expect(meme.coverage).toBeLessThan(result.coverage);
  });

  it('drops noise that tesseract reads in photos', async () => {
    const noise = await ocr.recognize(await noiseImage(640, 480, 5, 'png'));
    expect(noise.words).toBeLessThanOrEqual(1);
    expect(noise.coverage).toBeLessThan(0.01);
  });

  it('finds no text in a plain photo-like image', async () => {
    const sharp = await fixtureSharp();
    const plain = await sharp({ create: { width: 200, height: 150, channels: 3, background: { r: 40, g: 120, b: 200 } } }).jpeg().toBuffer();
    expect(await ocr.recognize(plain)).toEqual({ text: '', confidence: 0, words: 0, coverage: 0 });
  });

  it('refuses bad input with codes without hurting the pool', async () => {
    await expect(ocr.recognize(Buffer.from('not an image at all'))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNSUPPORTED_IMAGE' });
    await expect(ocr.recognize(await hugePngHeader())).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_IMAGE_TOO_LARGE' });
    await expect(ocr.recognize('/definitely/not/here.png')).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_FILE_NOT_FOUND' });
    const result = await ocr.recognize(await textImage('RED BLUE', 400, 120));
    expect(result.text).toBe('RED BLUE');
  });

  it('fails fast, with a code, for a language whose data is not installed', () => {
    expect(() => new OcrPool({ lang: 'deu' })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_MISSING_DEPENDENCY', message: expect.stringContaining('npm install @tesseract.js-data/deu') }));
    const empty = mkdtempSync(join(tmpdir(), 'fusionrank-lang-'));
    expect(() => new OcrPool({ lang: 'eng', langPath: empty })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_MISSING_DEPENDENCY' }));
    expect(() => new OcrPool({ lang: 'en g' })).toThrow(TypeError);
  });
});
