/** Seeded fixtures for the catalog / ranker tests. */
import { Catalog } from '../../src/index.js';

import { rng } from '../../src/util/random.js';

export { rng };

export function randomVector(dim: number, random: () => number): Float32Array {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = random() * 2 - 1;
  return v;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}

export const DIM = 16;
export const CATEGORIES = ['meme', 'photo', 'video', 'mixed'];

export interface Fixture {
  catalog: Catalog;
  visual: Map<string, Float32Array>;
  text: Map<string, Float32Array>;
  fields: Map<string, { likes: number; createdAt: number; contentType: string; safe: boolean; creator: string; tags: string[]; price: number }>;
}

/** n items; every 5th has no text vector; fields spread deterministically. */
export function makeCatalog(n: number, seed = 1, dtype: 'f32' | 'f16' = 'f32'): Fixture {
  const random = rng(seed);
  const catalog = new Catalog({
    vectors: { visual: { dim: DIM, dtype }, text: { dim: DIM + 8, dtype } },
    fields: { likes: 'number', price: 'number', createdAt: 'time', contentType: 'category', creator: 'category', safe: 'bool', tags: 'tags' },
  });
  const visual = new Map<string, Float32Array>();
  const text = new Map<string, Float32Array>();
  const fields: Fixture['fields'] = new Map();
  const items = [];
  for (let i = 0; i < n; i++) {
    const id = `p${i}`;
    const v = randomVector(DIM, random);
    visual.set(id, v);
    const t = i % 5 === 0 ? undefined : randomVector(DIM + 8, random);
    if (t) text.set(id, t);
    const f = {
      likes: Math.floor(random() * 1000),
      price: Math.floor(random() * 200),
      createdAt: 1_700_000_000_000 - Math.floor(random() * 7 * 86_400_000),
      contentType: CATEGORIES[i % 4],
      creator: `c${i % 7}`,
      safe: i % 3 !== 0,
      tags: i % 2 ? ['cat'] : ['dog', 'funny'],
    };
    fields.set(id, f);
    items.push({ id, vectors: { visual: v, ...(t ? { text: t } : {}) }, fields: f });
  }
  catalog.upsert(items);
  return { catalog, visual, text, fields };
}
