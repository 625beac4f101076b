/**
 * Planted data for `npx fusionrank demo eval`: items and users share a small
 * latent space; each modality sees the item's latent factors through its own
 * projection and noise, some items have no text, and engagement follows a
 * hidden quality. A user's true attraction to an item is known in closed
 * form, so every estimate the demo makes can be checked against the truth.
 */
import { Catalog } from '../catalog/catalog.js';
import { rng } from '../util/random.js';

export interface PlantedOptions {
  items: number;
  users: number;
  seed: number;
}

export interface Planted {
  catalog: Catalog;
  ids: string[];
  /** The users' query vectors per modality (noisy projections of their preference). */
  queries: Array<{ user: string; visual: Float32Array; text: Float32Array }>;
  /** P(attracted) of user u to item i, users × items. */
  attraction: Float64Array;
  /** Graded labels derived from attraction: 2 when ≥ 0.6, 1 when ≥ 0.35. */
  qrels: Record<string, Record<string, number>>;
  /** Items without text. */
  noText: Set<string>;
}

const LATENT = 8;
const DIM = 32;
const NOW = Date.UTC(2026, 0, 1);

function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function unit(v: Float64Array): Float64Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  return v.map((x) => x / n);
}

/** y = P z + sigma * noise, P a DIM × LATENT matrix. */
function project(p: Float64Array, z: Float64Array, sigma: number, random: () => number): Float32Array {
  const out = new Float32Array(DIM);
  for (let r = 0; r < DIM; r++) {
    let s = 0;
    for (let c = 0; c < LATENT; c++) s += p[r * LATENT + c] * z[c];
    out[r] = s + sigma * gaussian(random);
  }
  return out;
}

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Builds the catalog, the users, their true attraction and the qrels. */
export function plantedData(options: PlantedOptions): Planted {
  const random = rng(options.seed);
  const projection = () => Float64Array.from({ length: DIM * LATENT }, () => gaussian(random) / Math.sqrt(LATENT));
  const visualP = projection();
  const textP = projection();
  const catalog = new Catalog({
    vectors: { visual: { dim: DIM }, text: { dim: DIM } },
    fields: { likes: 'number', comments: 'number', createdAt: 'time', creator: 'category' },
  });
  const ids: string[] = [];
  const latent: Float64Array[] = [];
  const quality: number[] = [];
  const noText = new Set<string>();
  const items = [];
  for (let i = 0; i < options.items; i++) {
    const id = `item-${i}`;
    const z = unit(Float64Array.from({ length: LATENT }, () => gaussian(random)));
    const q = random();
    const hasText = random() >= 0.25;
    if (!hasText) noText.add(id);
    ids.push(id);
    latent.push(z);
    quality.push(q);
    const likes = Math.round(Math.exp(2 + 2.5 * q + 0.5 * gaussian(random)));
    items.push({
      id,
      // Images say less about an item than its text does (more noise), but every item has one.
      vectors: { visual: project(visualP, z, 0.45, random), ...(hasText ? { text: project(textP, z, 0.25, random) } : {}) },
      fields: { likes, comments: Math.round(likes * 0.1 * random()), createdAt: NOW - Math.floor(random() * 7 * 86_400_000), creator: `creator-${Math.floor(random() * 200)}` },
    });
  }
  catalog.upsert(items);

  const attraction = new Float64Array(options.users * options.items);
  const queries: Planted['queries'] = [];
  const qrels: Planted['qrels'] = {};
  for (let u = 0; u < options.users; u++) {
    const user = `user-${u}`;
    const pref = unit(Float64Array.from({ length: LATENT }, () => gaussian(random)));
    queries.push({ user, visual: project(visualP, pref, 0.3, random), text: project(textP, pref, 0.3, random) });
    const labels: Record<string, number> = {};
    for (let i = 0; i < options.items; i++) {
      let dot = 0;
      for (let c = 0; c < LATENT; c++) dot += pref[c] * latent[i][c];
      const p = sigmoid(5 * dot + 2 * (quality[i] - 0.5) - 3);
      attraction[u * options.items + i] = p;
      if (p >= 0.6) labels[ids[i]] = 2;
      else if (p >= 0.35) labels[ids[i]] = 1;
    }
    qrels[user] = labels;
  }
  return { catalog, ids, queries, attraction, qrels, noText };
}

export const DEMO_NOW = NOW;
