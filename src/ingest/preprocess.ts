/**
 * CLIP-style image preprocessing with sharp: decode (first frame), apply the
 * EXIF orientation, resize the shortest side, centre crop, RGB, scale to
 * [0, 1], subtract the mean, divide by the std, and lay out as NCHW float32.
 * Runs in the image pool's workers and, without a pool, on the main thread
 * (where sharp still decodes on the libuv pool, off the event loop).
 */
import { FusionrankError, invalidParameter, rangeError, typeError } from '../errors.js';
import { loadOptional } from '../util/optional.js';
import { type ImageInput, readImageInput } from './input.js';

/** The resampling kernels sharp offers for the resize. */
export type ResizeKernel = 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
const KERNELS: readonly ResizeKernel[] = ['nearest', 'linear', 'cubic', 'mitchell', 'lanczos2', 'lanczos3'];

/** The mean and std of OpenAI CLIP (and most of its exports). */
export const CLIP_MEAN: readonly [number, number, number] = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD: readonly [number, number, number] = [0.26862954, 0.26130258, 0.27577711];
/** A decoded image above this many pixels is refused from its header (default 40 MP). */
export const DEFAULT_MAX_PIXELS = 40_000_000;

export interface PreprocessOptions {
  /** Side of the square crop fed to the model (default 224). */
  size?: number;
  /** Shortest side after resizing, before the centre crop (default: `size`). */
  resize?: number;
  /** Per-channel mean, RGB (default CLIP's). */
  mean?: readonly number[];
  /** Per-channel std, RGB (default CLIP's). */
  std?: readonly number[];
  /** Resampling kernel (default 'cubic', as CLIP's bicubic). */
  kernel?: ResizeKernel;
  /** Refuse images whose header declares more pixels than this (default 40,000,000). */
  maxPixels?: number;
}

/** Options with every default filled in; what crosses into a worker. */
export interface ResolvedPreprocess {
  size: number;
  resize: number;
  mean: [number, number, number];
  std: [number, number, number];
  kernel: ResizeKernel;
  maxPixels: number;
}

function requireTriple(value: unknown, name: string, positive: boolean): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3 || value.some((v) => typeof v !== 'number' || !Number.isFinite(v) || (positive && v <= 0)))
    throw typeError(invalidParameter(name, `an array of 3 ${positive ? 'positive ' : ''}finite numbers (R, G, B)`, value));
  return [value[0], value[1], value[2]];
}

function requireSide(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 4096)
    throw rangeError(invalidParameter(name, 'an integer in [1, 4096]', value));
  return value;
}

/**
 * Fills in and checks preprocessing options.
 * @throws {TypeError|RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT on a bad option
 */
export function resolvePreprocess(options: PreprocessOptions = {}, defaultSize = 224): ResolvedPreprocess {
  if (options === null || typeof options !== 'object') throw typeError(invalidParameter('preprocess', 'an options object', options));
  const size = requireSide(options.size ?? defaultSize, 'size');
  const resize = requireSide(options.resize ?? size, 'resize');
  if (resize < size) throw rangeError(invalidParameter('resize', `an integer >= size (${size})`, resize));
  const kernel = options.kernel ?? 'cubic';
  if (!KERNELS.includes(kernel)) throw rangeError(invalidParameter('kernel', `one of ${KERNELS.join(', ')}`, kernel));
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (typeof maxPixels !== 'number' || !Number.isInteger(maxPixels) || maxPixels < 1)
    throw rangeError(invalidParameter('maxPixels', 'a positive integer', maxPixels));
  return {
    size,
    resize,
    mean: requireTriple(options.mean ?? [...CLIP_MEAN], 'mean', false),
    std: requireTriple(options.std ?? [...CLIP_STD], 'std', true),
    kernel,
    maxPixels,
  };
}

type SharpFactory = typeof import('sharp').default;

/** Loads sharp (an optional peer) once. */
export async function loadSharp(): Promise<SharpFactory> {
  const mod = await loadOptional<{ default: SharpFactory }>('sharp');
  return mod.default;
}

/** Turns a sharp/libvips failure into a coded error. */
export function imageError(error: unknown): Error {
  if (error instanceof FusionrankError || (error as { code?: string })?.code?.startsWith?.('ERR_FUSIONRANK_')) return error as Error;
  // libvips repeats its warnings line by line; keep each once.
  const message = [...new Set(String((error as Error)?.message ?? error).split('\n').map((l) => l.trim()).filter(Boolean))].join('; ');
  if (/unsupported image format|Input file is missing|bad seek|not a known file format/i.test(message))
    return new FusionrankError(`Not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG): ${message}`, 'ERR_FUSIONRANK_UNSUPPORTED_IMAGE', { cause: error });
  if (/pixel limit/i.test(message))
    return rangeError(`Image exceeds the pixel limit: ${message}`, 'ERR_FUSIONRANK_IMAGE_TOO_LARGE');
  return new FusionrankError(`Corrupt or truncated image: ${message}`, 'ERR_FUSIONRANK_CORRUPT_IMAGE', { cause: error });
}

/**
 * Reads only the header and refuses an image above the pixel limit, so a
 * 50,000 x 50,000 header costs nothing to reject.
 * @throws {RangeError} ERR_FUSIONRANK_IMAGE_TOO_LARGE
 * @throws {FusionrankError} ERR_FUSIONRANK_UNSUPPORTED_IMAGE / ERR_FUSIONRANK_CORRUPT_IMAGE
 */
export async function checkImageHeader(sharp: SharpFactory, bytes: Buffer, maxPixels: number): Promise<{ width: number; height: number }> {
  let meta;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw imageError(error);
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width <= 0 || height <= 0) throw new FusionrankError('Image header declares no size', 'ERR_FUSIONRANK_CORRUPT_IMAGE');
  if (width * height > maxPixels)
    throw rangeError(`Image of ${width} x ${height} = ${width * height} pixels exceeds the limit of ${maxPixels} pixels (maxPixels); refused before decoding`, 'ERR_FUSIONRANK_IMAGE_TOO_LARGE');
  return { width, height };
}

/**
 * Decodes and preprocesses one image into a `3 x size x size` Float32Array.
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND, ERR_FUSIONRANK_UNSUPPORTED_IMAGE, ERR_FUSIONRANK_CORRUPT_IMAGE
 * @throws {RangeError} ERR_FUSIONRANK_IMAGE_TOO_LARGE
 */
export async function preprocessImage(input: ImageInput, options: ResolvedPreprocess): Promise<Float32Array> {
  const sharp = await loadSharp();
  const bytes = await readImageInput(input);
  await checkImageHeader(sharp, bytes, options.maxPixels);
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    decoded = await sharp(bytes, { limitInputPixels: options.maxPixels, pages: 1, page: 0, failOn: 'error' })
      .autoOrient()
      .resize(options.resize, options.resize, { fit: 'outside', kernel: options.kernel })
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw imageError(error);
  }
  return toNchw(decoded.data, decoded.info.width, decoded.info.height, decoded.info.channels, options);
}

/** Centre-crops an interleaved RGB(A) buffer and normalises it into planar float32. */
export function toNchw(data: Uint8Array, width: number, height: number, channels: number, options: ResolvedPreprocess): Float32Array {
  const { size, mean, std } = options;
  if (width < size || height < size || channels < 3)
    throw new FusionrankError(`Decoded image is ${width} x ${height} x ${channels}, smaller than the ${size} x ${size} x 3 crop`, 'ERR_FUSIONRANK_CORRUPT_IMAGE');
  const left = Math.floor((width - size) / 2);
  const top = Math.floor((height - size) / 2);
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  const scale = [1 / (255 * std[0]), 1 / (255 * std[1]), 1 / (255 * std[2])];
  const shift = [mean[0] / std[0], mean[1] / std[1], mean[2] / std[2]];
  for (let y = 0; y < size; y++) {
    let src = ((top + y) * width + left) * channels;
    const row = y * size;
    for (let x = 0; x < size; x++, src += channels) {
      out[row + x] = data[src] * scale[0] - shift[0];
      out[plane + row + x] = data[src + 1] * scale[1] - shift[1];
      out[2 * plane + row + x] = data[src + 2] * scale[2] - shift[2];
    }
  }
  return out;
}
