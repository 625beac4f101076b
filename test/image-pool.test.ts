import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fixtureSharp, hugePngHeader, noiseImage } from '../bench/ingest-fixtures.js';
import { ImagePool } from '../src/ingest/image-pool.js';
import { CLIP_MEAN, CLIP_STD, preprocessImage, resolvePreprocess } from '../src/ingest/preprocess.js';

const SIZE = 16;
const dir = mkdtempSync(join(tmpdir(), 'fusionrank-images-'));
let pool: ImagePool;
const red = { r: 255, g: 0, b: 0 };
const blue = { r: 0, g: 0, b: 255 };

/** Red channel of pixel (x, y) back in [0, 1]. */
function redAt(pixels: Float32Array, x: number, y: number): number {
  return pixels[y * SIZE + x] * CLIP_STD[0] + CLIP_MEAN[0];
}

/** 64 x 32: left half red, right half blue. */
async function halves(): Promise<import('sharp').Sharp> {
  const sharp = await fixtureSharp();
  const left = await sharp({ create: { width: 32, height: 32, channels: 3, background: red } }).png().toBuffer();
  return sharp({ create: { width: 64, height: 32, channels: 3, background: blue } }).composite([{ input: left, left: 0, top: 0 }]);
}

beforeAll(() => {
  pool = new ImagePool({ threads: 2, size: SIZE, maxQueue: 64 });
});
afterAll(async () => {
  await pool.close();
});

describe('ImagePool', () => {
  it('decodes every common format to 3 x size x size floats, like the in-thread path', async () => {
    const sharp = await fixtureSharp();
    const base = await halves();
    const formats: Record<string, Buffer> = {
      jpeg: await base.clone().jpeg().toBuffer(),
      png: await base.clone().png().toBuffer(),
      webp: await base.clone().webp({ lossless: true }).toBuffer(),
      gif: await base.clone().gif().toBuffer(),
      tiff: await base.clone().tiff().toBuffer(),
      grey: await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 90, g: 90, b: 90 } } }).greyscale().png().toBuffer(),
      rgba: await sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 0, g: 255, b: 0, alpha: 0.5 } } }).png().toBuffer(),
    };
    const options = resolvePreprocess({ size: SIZE });
    for (const [format, bytes] of Object.entries(formats)) {
      const pixels = await pool.preprocess(bytes);
      expect(pixels, format).toBeInstanceOf(Float32Array);
      expect(pixels.length, format).toBe(3 * SIZE * SIZE);
      expect(Array.from(pixels), format).toEqual(Array.from(await preprocessImage(bytes, options)));
    }
    // Left column red, right column blue (centre crop of a 2:1 image keeps both halves).
    const png = await pool.preprocess(formats.png);
    expect(redAt(png, 0, 0)).toBeCloseTo(1, 2);
    expect(redAt(png, SIZE - 1, 0)).toBeCloseTo(0, 2);
  });

  it('reads paths as well as bytes', async () => {
    const path = join(dir, 'noise.jpg');
    const bytes = await noiseImage(50, 40, 1);
    writeFileSync(path, bytes);
    expect(Array.from(await pool.preprocess(path))).toEqual(Array.from(await pool.preprocess(bytes)));
  });

  it('uses the first frame of an animated GIF', async () => {
    const sharp = await fixtureSharp();
    const frame = (colour: typeof red) => sharp({ create: { width: 20, height: 20, channels: 3, background: colour } }).raw().toBuffer();
    const frames = Buffer.concat([await frame(red), await frame(blue)]);
    const gif = await sharp(frames, { raw: { width: 20, height: 40, channels: 3, pageHeight: 20 } as never }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);
    const pixels = await pool.preprocess(gif);
    expect(redAt(pixels, 5, 5)).toBeCloseTo(1, 2);
    expect(redAt(pixels, 5, SIZE - 1)).toBeCloseTo(1, 2);
  });

  it('applies the EXIF orientation', async () => {
    // Orientation 6 = rotate 90° clockwise to display: the red left half ends up on top.
    const rotated = await (await halves()).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const pixels = await pool.preprocess(rotated);
    expect(redAt(pixels, 0, 0)).toBeGreaterThan(0.9);
    expect(redAt(pixels, SIZE - 1, 0)).toBeGreaterThan(0.9);
    expect(redAt(pixels, 0, SIZE - 1)).toBeLessThan(0.1);
  });

  it('refuses bad input with codes and keeps serving', async () => {
    const jpeg = await noiseImage(60, 60, 2);
    await expect(pool.preprocess(Buffer.from('this is not an image, just text'))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNSUPPORTED_IMAGE' });
    await expect(pool.preprocess(jpeg.subarray(0, jpeg.length >> 1))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CORRUPT_IMAGE' });
    await expect(pool.preprocess(join(dir, 'does-not-exist.png'))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_FILE_NOT_FOUND' });
    await expect(pool.preprocess(42 as never)).rejects.toThrow('Expected a file path (string) or image bytes (Buffer/Uint8Array) for input but received 42 of type number');
    await expect(pool.preprocess(Buffer.alloc(0))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    expect((await pool.preprocess(jpeg)).length).toBe(3 * SIZE * SIZE);
  });

  it('refuses a 50,000 x 50,000 header before decoding', async () => {
    const started = performance.now();
    await expect(pool.preprocess(await hugePngHeader())).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_FUSIONRANK_IMAGE_TOO_LARGE', message: expect.stringContaining('50000 x 50000') });
    expect(performance.now() - started).toBeLessThan(2000);
    const small = new ImagePool({ threads: 1, size: SIZE, maxPixels: 100 });
    await expect(small.preprocess(await noiseImage(20, 20, 3))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_IMAGE_TOO_LARGE' });
    await small.close();
  });

  it('fails the task of a crashed worker with a clear error and replaces the worker', async () => {
    const crashing = new ImagePool({ threads: 1, size: SIZE, mode: 'workers' });
    const bytes = await noiseImage(2000, 1500, 4);
    await crashing.preprocess(bytes);
    const task = crashing.preprocess(bytes);
    await new Promise((r) => setTimeout(r, 5));
    for (const worker of await crashing.workers()) await worker.terminate();
    await expect(task).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_WORKER_CRASHED' });
    expect((await crashing.preprocess(await noiseImage(30, 30, 5))).length).toBe(3 * SIZE * SIZE);
    await crashing.close();
  });

  it("runs on this thread in 'libuv' mode with the same results, limits and errors", async () => {
    const inline = new ImagePool({ size: SIZE, mode: 'libuv', maxQueue: 0, threads: 1, tasksPerThread: 2 });
    const bytes = await noiseImage(64, 48, 6);
    expect(Array.from(await inline.preprocess(bytes))).toEqual(Array.from(await pool.preprocess(bytes)));
    await expect(inline.preprocess(Buffer.from('nope, not an image'))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNSUPPORTED_IMAGE' });
    const big = await noiseImage(1600, 1200, 7);
    const running = [inline.preprocess(big), inline.preprocess(big)];
    await expect(inline.preprocess(big)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_QUEUE_FULL' });
    await Promise.all(running);
    await expect(inline.preprocess(big, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_ABORTED' });
    await expect(inline.preprocess(big, { timeoutMs: 1 })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_TIMEOUT' });
    expect(inline.mode).toBe('libuv');
    await inline.close();
  });

  it("'auto' measures both modes on the first images and keeps the faster", async () => {
    const auto = new ImagePool({ threads: 1, size: SIZE, calibrationImages: 4 });
    expect(auto.mode).toBe('calibrating');
    const bytes = await noiseImage(200, 150, 8);
    for (let i = 0; i < 8; i++) await auto.preprocess(bytes);
    const { workers, libuv, workersLoopP99Ms, libuvLoopP99Ms, chosen } = auto.calibration;
    expect(workers).toBeGreaterThan(0);
    expect(libuv).toBeGreaterThan(0);
    expect(workersLoopP99Ms).toBeGreaterThanOrEqual(0);
    expect(libuvLoopP99Ms).toBeGreaterThanOrEqual(0);
    const within = (ms: number) => ms <= 10;
    const expected = within(workersLoopP99Ms!) === within(libuvLoopP99Ms!) ? (libuv! > workers! ? 'libuv' : 'workers') : within(libuvLoopP99Ms!) ? 'libuv' : 'workers';
    expect(chosen).toBe(expected);
    expect(auto.mode).toBe(chosen);
    expect((await auto.preprocess(bytes)).length).toBe(3 * SIZE * SIZE);
    await auto.close();
  });

  it('validates its options', () => {
    expect(() => new ImagePool({ mode: 'gpu' as never })).toThrow("Expected one of 'auto', 'workers', 'libuv' for mode but received 'gpu' of type string");
    expect(() => new ImagePool({ size: 0 })).toThrow('Expected an integer in [1, 4096] for size but received 0 of type number');
    expect(() => new ImagePool({ mean: [1, 2] })).toThrow(TypeError);
    expect(() => new ImagePool({ size: 224, resize: 100 })).toThrow(RangeError);
    expect(() => new ImagePool({ threads: -1 })).toThrow(RangeError);
  });
});
