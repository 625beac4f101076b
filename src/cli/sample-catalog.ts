/**
 * A generated social-feed catalog for the demo and the bench: clustered
 * embeddings (items of one topic share a visual and a text centre) and
 * realistic field distributions (heavy-tailed engagement, two weeks of
 * timestamps, a long tail of creators, 5 % unsafe, 5 % without text).
 */
import { Catalog, type CatalogItem } from '../catalog/catalog.js';
import { rng } from '../util/random.js';

export const CONTENT_TYPES = ['meme', 'mixed', 'photo', 'video'] as const;
// meme + mixed ≈ 31.6 %; with 95 % safe that filter passes ≈ 30 %.
const CONTENT_WEIGHTS = [0.2, 0.116, 0.4, 0.284];
export const TAGS = ['cat', 'dog', 'food', 'travel', 'music', 'sport', 'art', 'funny', 'news', 'tech', 'fashion', 'nature'];
/** The tag carried by about 1 % of items (the selective-filter case). */
export const RARE_TAG = 'rare';
export const TOPIC_NAMES = ['cats', 'dogs', 'street food', 'mountains', 'concerts', 'football', 'painting', 'memes', 'politics', 'gadgets', 'sneakers', 'forests'];

export interface SampleOptions {
  items: number;
  seed?: number;
  visualDim?: number;
  textDim?: number;
  topics?: number;
  /** Reference "now" for timestamps (default 2026-01-01). */
  now?: number;
}


function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export const SAMPLE_NOW = Date.UTC(2026, 0, 1);

export function sampleSchema(visualDim = 512, textDim = 768) {
  return {
    vectors: { visual: { dim: visualDim, dtype: 'f16' as const }, text: { dim: textDim, dtype: 'f16' as const } },
    fields: {
      likes: 'number' as const,
      comments: 'number' as const,
      quality: 'number' as const,
      createdAt: 'time' as const,
      creator: 'category' as const,
      contentType: 'category' as const,
      safe: 'bool' as const,
      tags: 'tags' as const,
    },
  };
}

export interface SampleItem extends CatalogItem {
  topic: number;
  vectors: { visual: Float32Array; text?: Float32Array };
  fields: { likes: number; comments: number; quality: number; createdAt: number; creator: string; contentType: string; safe: boolean; tags: string[] };
}

/** Topic centres, then items in batches (so a million items never sit in memory at once). */
export function* sampleItems(options: SampleOptions, batchSize = 5000): Generator<SampleItem[]> {
  const { items, seed = 42, visualDim = 512, textDim = 768, topics = 64, now = SAMPLE_NOW } = options;
  const random = rng(seed);
  const centres = (dim: number) => Array.from({ length: topics }, () => Float32Array.from({ length: dim }, () => gaussian(random)));
  const visualCentres = centres(visualDim);
  const textCentres = centres(textDim);
  let batch: SampleItem[] = [];
  for (let i = 0; i < items; i++) {
    const topic = Math.floor(random() ** 1.5 * topics); // some topics are more popular
    const visual = new Float32Array(visualDim);
    const vc = visualCentres[topic];
    for (let j = 0; j < visualDim; j++) visual[j] = vc[j] + 1.1 * gaussian(random);
    let text: Float32Array | undefined;
    if (random() >= 0.05) {
      text = new Float32Array(textDim);
      const tc = textCentres[topic];
      for (let j = 0; j < textDim; j++) text[j] = tc[j] + 1.2 * gaussian(random);
    }
    const r = random();
    let type = 0;
    for (let acc = CONTENT_WEIGHTS[0]; r >= acc && type < 3; acc += CONTENT_WEIGHTS[++type]);
    const tags = [TAGS[topic % TAGS.length]];
    if (random() < 0.4) tags.push(TAGS[Math.floor(random() * TAGS.length)]);
    if (random() < 0.0105) tags.push(RARE_TAG);
    const likes = Math.floor(Math.exp(gaussian(random) * 1.6 + 3));
    batch.push({
      id: `item-${i}`,
      topic,
      vectors: { visual, ...(text ? { text } : {}) },
      fields: {
        likes,
        comments: Math.floor(likes * random() * 0.2),
        quality: Math.round(random() * 100) / 100,
        createdAt: now - Math.floor(random() * 14 * 86_400_000),
        creator: `creator-${Math.floor(random() ** 3 * 5000)}`,
        contentType: CONTENT_TYPES[type],
        safe: random() >= 0.05,
        tags,
      },
    });
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/** Builds the sample catalog in memory. */
export function sampleCatalog(options: SampleOptions, onBatch?: (batch: SampleItem[]) => void): Catalog {
  const catalog = new Catalog(sampleSchema(options.visualDim, options.textDim));
  for (const batch of sampleItems(options)) {
    catalog.upsert(batch);
    onBatch?.(batch);
  }
  return catalog;
}
