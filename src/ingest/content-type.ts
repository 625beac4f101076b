/**
 * Content-type classes from OCR text density and image–text alignment.
 */
import { invalidParameter, rangeError, typeError } from '../errors.js';

export type ContentType = 'meme' | 'aesthetic' | 'mixed' | 'text_only';
export const CONTENT_TYPES: readonly ContentType[] = ['meme', 'aesthetic', 'mixed', 'text_only'];

export interface ContentThresholds {
  /** At least this many OCR words on an image make it a meme (default 3). */
  memeMinWords?: number;
  /** At least this many OCR words make an image text only, e.g. a screenshot of a post (default 40). */
  textOnlyMinWords?: number;
  /** Text boxes covering at least this fraction of the image make a meme, even with fewer words (default 0.03). */
  memeMinCoverage?: number;
  /** Text boxes covering at least this fraction of the image make it text only (default 0.35). */
  textOnlyMinCoverage?: number;
  /** An image without text is 'aesthetic' when its caption aligns at least this well (or it has no caption); else 'mixed' (default 0.2). */
  aestheticMinAlignment?: number;
  /** OCR results below this confidence in [0, 1] are ignored (default 0.5). */
  minOcrConfidence?: number;
}

export interface ContentFeatures {
  hasImage: boolean;
  /** Words read by OCR (after the confidence filter). */
  ocrWords: number;
  /** Fraction of the image covered by those words' boxes (0 when unknown). */
  ocrCoverage?: number;
  /** Cosine of the image and text embeddings, when both exist. */
  alignment?: number;
}

export function resolveThresholds(value: ContentThresholds | undefined): Required<ContentThresholds> {
  if (value !== undefined && (value === null || typeof value !== 'object')) throw typeError(invalidParameter('thresholds', 'an options object', value));
  const t = { memeMinWords: 3, textOnlyMinWords: 40, memeMinCoverage: 0.03, textOnlyMinCoverage: 0.35, aestheticMinAlignment: 0.2, minOcrConfidence: 0.5, ...value };
  for (const key of ['memeMinWords', 'textOnlyMinWords'] as const)
    if (!Number.isInteger(t[key]) || t[key] < 1) throw rangeError(invalidParameter(`thresholds.${key}`, 'a positive integer', t[key]));
  if (t.textOnlyMinWords <= t.memeMinWords) throw rangeError(invalidParameter('thresholds.textOnlyMinWords', `an integer > memeMinWords (${t.memeMinWords})`, t.textOnlyMinWords));
  if (typeof t.aestheticMinAlignment !== 'number' || !(t.aestheticMinAlignment >= -1 && t.aestheticMinAlignment <= 1))
    throw rangeError(invalidParameter('thresholds.aestheticMinAlignment', 'a number in [-1, 1]', t.aestheticMinAlignment));
  for (const key of ['memeMinCoverage', 'textOnlyMinCoverage'] as const)
    if (typeof t[key] !== 'number' || !(t[key] > 0 && t[key] <= 1)) throw rangeError(invalidParameter(`thresholds.${key}`, 'a number in (0, 1]', t[key]));
  if (t.textOnlyMinCoverage <= t.memeMinCoverage)
    throw rangeError(invalidParameter('thresholds.textOnlyMinCoverage', `a number > memeMinCoverage (${t.memeMinCoverage})`, t.textOnlyMinCoverage));
  if (typeof t.minOcrConfidence !== 'number' || !(t.minOcrConfidence >= 0 && t.minOcrConfidence <= 1))
    throw rangeError(invalidParameter('thresholds.minOcrConfidence', 'a number in [0, 1]', t.minOcrConfidence));
  return t;
}

/**
 * - no image, or OCR words ≥ textOnlyMinWords, or text covering ≥ textOnlyMinCoverage → 'text_only'
 * - OCR words ≥ memeMinWords, or some words covering ≥ memeMinCoverage → 'meme'
 * - no OCR words and (no caption, or alignment ≥ aestheticMinAlignment) → 'aesthetic'
 * - otherwise (a little text, or a caption about something else) → 'mixed'
 * @example classifyContent({ hasImage: true, ocrWords: 4 }) // 'meme'
 * @throws never (thresholds are checked by resolveThresholds)
 */
export function classifyContent(features: ContentFeatures, thresholds: Required<ContentThresholds>): ContentType {
  const coverage = features.ocrWords > 0 ? (features.ocrCoverage ?? 0) : 0;
  if (!features.hasImage || features.ocrWords >= thresholds.textOnlyMinWords || coverage >= thresholds.textOnlyMinCoverage) return 'text_only';
  if (features.ocrWords >= thresholds.memeMinWords || coverage >= thresholds.memeMinCoverage) return 'meme';
  if (features.ocrWords === 0 && (features.alignment === undefined || features.alignment >= thresholds.aestheticMinAlignment)) return 'aesthetic';
  return 'mixed';
}
