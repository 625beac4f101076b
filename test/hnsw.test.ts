import { describe, expect, test } from 'vitest';

import { Ranker } from '../src/index.js';
import { cosine, DIM, makeCatalog, randomVector, rng } from './helpers/rank-fixtures.js';

function exactTop(fx: ReturnType<typeof makeCatalog>, q: Float32Array, k: number, keep: (id: string) => boolean): string[] {
  return [...fx.visual.entries()]
    .filter(([id]) => fx.catalog.has(id) && keep(id))
    .map(([id, v]) => ({ id, s: cosine(q, v) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, k)
    .map((x) => x.id);
}

describe('HNSW retrieval in the core', () => {
  const fx = makeCatalog(4000, 17);
  const signals = { visual: { kind: 'similarity' as const, vector: 'visual', weight: 1 } };

  test('filtered graph search has high recall against exact filtered search', () => {
    const ranker = new Ranker(fx.catalog, { retrieve: { vector: 'visual', k: 50, ef: 200 }, exactBelow: 0, filter: { safe: true }, signals, k: 50, normalize: 'none' });
    const random = rng(77);
    let hits = 0, total = 0;
    for (let t = 0; t < 10; t++) {
      const q = randomVector(DIM, random);
      const res = ranker.rank({ query: { visual: q } });
      expect(res.usedIndex).toBe(true);
      const truth = new Set(exactTop(fx, q, 50, (id) => fx.fields.get(id)!.safe));
      for (const item of res.items) {
        expect(fx.fields.get(item.id)!.safe).toBe(true); // the filter is never violated
        if (truth.has(item.id)) hits++;
      }
      total += truth.size;
    }
    expect(hits / total).toBeGreaterThanOrEqual(0.9);
  });

  test('selective filters forced onto the graph keep their recall (sparse and filter-first traversals)', () => {
    // creator c3 passes ~14 % (admitted rows only are scored); with
    // contentType meme ~3.6 % (every neighbour is scored and navigated).
    const cases = [
      { filter: { creator: 'c3' }, keep: (id: string) => fx.fields.get(id)!.creator === 'c3' },
      { filter: { creator: 'c3', contentType: 'meme' }, keep: (id: string) => fx.fields.get(id)!.creator === 'c3' && fx.fields.get(id)!.contentType === 'meme' },
    ];
    for (const { filter, keep } of cases) {
      const ranker = new Ranker(fx.catalog, { retrieve: { vector: 'visual', k: 30, ef: 200 }, exactBelow: 0, filter, signals, k: 30, normalize: 'none' });
      const random = rng(5);
      let hits = 0, total = 0;
      for (let t = 0; t < 10; t++) {
        const q = randomVector(DIM, random);
        const res = ranker.rank({ query: { visual: q } });
        expect(res.usedIndex).toBe(true);
        const truth = new Set(exactTop(fx, q, 30, keep));
        expect(res.items.length).toBe(truth.size);
        for (const item of res.items) {
          expect(keep(item.id)).toBe(true);
          if (truth.has(item.id)) hits++;
        }
        total += truth.size;
      }
      expect(hits / total).toBeGreaterThanOrEqual(0.9);
    }
  });

  test('a very selective filter falls back to an exact scan and still returns k', () => {
    const ranker = new Ranker(fx.catalog, { retrieve: { vector: 'visual', k: 20 }, exactBelow: 100, filter: { creator: 'c3', price: { lt: 10 } }, signals, k: 20, normalize: 'none' });
    const q = randomVector(DIM, rng(4));
    const res = ranker.rank({ query: { visual: q } });
    const truth = exactTop(fx, q, 20, (id) => fx.fields.get(id)!.creator === 'c3' && fx.fields.get(id)!.price < 10);
    expect(truth.length).toBeGreaterThan(5);
    expect(res.usedIndex).toBe(false);
    expect(res.items.map((i) => i.id)).toEqual(truth);
  });

  test('a selective request filter also falls back to exact (no starvation)', () => {
    const ranker = new Ranker(fx.catalog, { retrieve: { vector: 'visual', k: 20 }, exactBelow: 200, signals, k: 20, normalize: 'none' });
    const q = randomVector(DIM, rng(21));
    const filter = { creator: 'c5', price: { lt: 15 } };
    const res = ranker.rank({ query: { visual: q }, filter });
    const truth = exactTop(fx, q, 20, (id) => fx.fields.get(id)!.creator === 'c5' && fx.fields.get(id)!.price < 15);
    expect(truth.length).toBeGreaterThan(5);
    expect(res.usedIndex).toBe(false);
    expect(res.items.map((i) => i.id)).toEqual(truth);
    // A broad request filter stays on the graph.
    expect(ranker.rank({ query: { visual: q }, filter: { safe: true } }).usedIndex).toBe(true);
  });

  test('the index follows upserts and removals', () => {
    const local = makeCatalog(3000, 23);
    const ranker = new Ranker(local.catalog, { retrieve: { vector: 'visual', k: 10, ef: 100 }, exactBelow: 0, signals, k: 10 });
    ranker.prepare({ threads: 2 });
    const q = randomVector(DIM, rng(8));
    const before = ranker.rank({ query: { visual: q } });
    expect(before.usedIndex).toBe(true);
    // Remove the best hit: it must never come back.
    local.catalog.remove([before.items[0].id]);
    const afterRemove = ranker.rank({ query: { visual: q } });
    expect(afterRemove.items.map((i) => i.id)).not.toContain(before.items[0].id);
    // A new item equal to the query is found first (inserted into the graph on the next request).
    local.catalog.upsert([{ id: 'exact-match', vectors: { visual: q } }]);
    const afterInsert = ranker.rank({ query: { visual: q } });
    expect(afterInsert.usedIndex).toBe(true);
    expect(afterInsert.items[0].id).toBe('exact-match');
    // Moving an existing item next to the query re-links it.
    const moved = afterRemove.items[9].id;
    local.catalog.upsert([{ id: moved, vectors: { visual: q.map((x) => x * 2) } }]);
    const afterMove = ranker.rank({ query: { visual: q } }).items.slice(0, 2).map((i) => i.id).sort();
    expect(afterMove).toEqual(['exact-match', moved].sort());
  });

  test('recall holds after many small catch-ups (neighbour lists refreshed node by node)', () => {
    const local = makeCatalog(2000, 29);
    const ranker = new Ranker(local.catalog, { retrieve: { vector: 'visual', k: 20, ef: 100 }, exactBelow: 0, signals, k: 20, normalize: 'none' });
    ranker.prepare({ threads: 1 });
    const random = rng(41);
    // 40 batches of 5: each catch-up is small enough to refresh lists one by one.
    for (let b = 0; b < 40; b++) {
      const batch = Array.from({ length: 5 }, (_, i) => {
        const v = randomVector(DIM, random);
        local.visual.set(`new-${b}-${i}`, v);
        return { id: `new-${b}-${i}`, vectors: { visual: v } };
      });
      local.catalog.upsert(batch);
      ranker.rank({ query: { visual: batch[0].vectors.visual } });
    }
    let hits = 0, total = 0;
    for (let t = 0; t < 10; t++) {
      const q = randomVector(DIM, random);
      const res = ranker.rank({ query: { visual: q } });
      expect(res.usedIndex).toBe(true);
      const truth = new Set(exactTop(local, q, 20, () => true));
      for (const item of res.items) if (truth.has(item.id)) hits++;
      total += truth.size;
    }
    expect(hits / total).toBeGreaterThanOrEqual(0.9);
    // Every inserted item is reachable: querying with its own vector finds it first.
    for (const id of ['new-0-0', 'new-17-3', 'new-39-4'])
      expect(ranker.rank({ query: { visual: local.visual.get(id)! } }).items[0].id).toBe(id);
  });

  test('explicit exact retrieval is always available', () => {
    const ranker = new Ranker(fx.catalog, { retrieve: { vector: 'visual', k: 30, exact: true }, exactBelow: 0, signals, k: 30 });
    const q = randomVector(DIM, rng(12));
    const res = ranker.rank({ query: { visual: q } });
    expect(res.usedIndex).toBe(false);
    expect(res.items.map((i) => i.id)).toEqual(exactTop(fx, q, 30, () => true));
  });

  test('concurrent rankAsync requests on a graph', async () => {
    const ranker = new Ranker(fx.catalog, { retrieve: { vector: 'visual', k: 20 }, exactBelow: 0, signals, k: 5 });
    const random = rng(9);
    const queries = Array.from({ length: 64 }, () => randomVector(DIM, random));
    const results = await Promise.all(queries.map((q) => ranker.rankAsync({ query: { visual: q } })));
    results.forEach((res, i) => {
      expect(res.usedIndex).toBe(true);
      expect(res.items.map((x) => x.id)).toEqual(ranker.rank({ query: { visual: queries[i] } }).items.map((x) => x.id));
    });
  });
});
