// VectorStore behaviour a user relies on: storage, normalisation, zero
// vectors, exact top-k, async top-k, and snapshots across growth.
import { describe, expect, it } from 'vitest';

import { VectorStore } from '../src/index.js';
import { cosineRef, randomVectors, rng } from './helpers/data.js';

function bruteTopK(query: Float32Array, data: Float32Array, dim: number, k: number, rows?: Uint32Array) {
  const ids = rows ? Array.from(rows) : Array.from({ length: data.length / dim }, (_, i) => i);
  const scored = ids.map((r) => ({ r, s: Math.fround(cosineRef(query, 0, data, r * dim, dim)) }));
  scored.sort((a, b) => b.s - a.s || a.r - b.r);
  return scored.slice(0, k);
}

describe('VectorStore', () => {
  it('stores rows L2-normalised, with dim, dtype and size', () => {
    const store = new VectorStore({ dim: 3 });
    expect(store.dtype).toBe('f32');
    expect(store.dim).toBe(3);
    expect(store.size).toBe(0);
    expect(store.add(new Float32Array([3, 0, 4, 0, 2, 0]))).toBe(0);
    expect(store.add(new Float32Array([1, 1, 1]))).toBe(2);
    expect(store.size).toBe(3);
    expect(Array.from(store.get(0))).toEqual([0.6000000238418579, 0, 0.800000011920929]);
    expect(Array.from(store.get(1))).toEqual([0, 1, 0]);
    expect(store.memoryBytes).toBeGreaterThanOrEqual(3 * 64);
  });

  it('set overwrites rows in place', () => {
    const store = new VectorStore({ dim: 2, dtype: 'f16' });
    store.add(new Float32Array([1, 0, 0, 1, 1, 1]));
    store.set(1, new Float32Array([-1, 0, 0, -2]));
    expect(Array.from(store.get(1))).toEqual([-1, 0]);
    expect(Array.from(store.get(2))).toEqual([0, -1]);
    expect(store.size).toBe(3);
  });

  it('gives zero vectors and zero queries a score of 0, never NaN', () => {
    for (const dtype of ['f32', 'f16', 'i8'] as const) {
      const store = new VectorStore({ dim: 4, dtype });
      store.add(new Float32Array([0, 0, 0, 0, 1, 2, 3, 4]));
      expect(store.isZero(0)).toBe(true);
      expect(store.isZero(1)).toBe(false);
      const s = store.cosine(new Float32Array([1, 2, 3, 4]));
      expect(s[0]).toBe(0);
      expect(s[1]).toBeCloseTo(1, 1);
      expect(Array.from(store.cosine(new Float32Array(4)))).toEqual([0, 0]);
      expect(Array.from(store.get(0))).toEqual([0, 0, 0, 0]);
    }
  });

  it('is scale invariant (cosine, not dot)', () => {
    const store = new VectorStore({ dim: 2 });
    store.add(new Float32Array([1, 1, 1000, 1000, -5, -5]));
    const s = store.cosine(new Float32Array([0.001, 0.001]));
    expect(s[0]).toBeCloseTo(1, 6);
    expect(s[1]).toBeCloseTo(1, 6);
    expect(s[2]).toBeCloseTo(-1, 6);
  });

  it('topK is exact: matches a brute-force sort, with ties to the lower row', () => {
    const random = rng(11);
    const dim = 24;
    const data = randomVectors(2000, dim, random);
    // Duplicates make ties: rows 5 and 1500 are identical.
    data.copyWithin(1500 * dim, 5 * dim, 6 * dim);
    const store = new VectorStore({ dim });
    store.add(data);
    const query = data.slice(5 * dim, 6 * dim);
    const { rows, scores } = store.topK(query, 25);
    const expected = bruteTopK(query, data, dim, 25);
    expect(Array.from(rows)).toEqual(expected.map((e) => e.r));
    expect(rows[0]).toBe(5);
    expect(rows[1]).toBe(1500);
    for (let i = 0; i < 25; i++) expect(scores[i]).toBeCloseTo(expected[i].s, 5);
    for (let i = 1; i < 25; i++) expect(scores[i]).toBeLessThanOrEqual(scores[i - 1]);
  });

  it('topK over a row subset only returns those rows; k > candidates clamps', () => {
    const random = rng(12);
    const store = new VectorStore({ dim: 8 });
    const data = randomVectors(100, 8, random);
    store.add(data);
    const subset = new Uint32Array([90, 3, 41, 7]);
    const query = randomVectors(1, 8, random);
    const r = store.topK(query, 10, { rows: subset });
    expect(r.rows.length).toBe(4);
    expect(new Set(r.rows)).toEqual(new Set(subset));
    expect(Array.from(r.rows)).toEqual(bruteTopK(query, data, 8, 10, subset).map((e) => e.r));
    expect(store.topK(query, 1000).rows.length).toBe(100);
    expect(new VectorStore({ dim: 8 }).topK(query, 3).rows.length).toBe(0);
  });

  it('topKAsync equals topK, on one thread and split over two', async () => {
    const random = rng(13);
    const dim = 8;
    const n = 140_000; // enough rows for the scan to be split
    const data = randomVectors(n, dim, random);
    const store = new VectorStore({ dim, dtype: 'f16' });
    store.add(data);
    const query = randomVectors(1, dim, random);
    const sync = store.topK(query, 50);
    const one = await store.topKAsync(query, 50, { threads: 1 });
    const two = await store.topKAsync(query, 50, { threads: 2 });
    expect(Array.from(one.rows)).toEqual(Array.from(sync.rows));
    expect(Array.from(two.rows)).toEqual(Array.from(sync.rows));
    expect(Array.from(two.scores)).toEqual(Array.from(sync.scores));
    const rows = Uint32Array.from({ length: 1000 }, (_, i) => i * 97);
    expect(Array.from((await store.topKAsync(query, 5, { rows })).rows)).toEqual(Array.from(store.topK(query, 5, { rows }).rows));
  });

  it('an async scan sees a consistent snapshot while rows are added', async () => {
    const random = rng(14);
    const dim = 16;
    const store = new VectorStore({ dim });
    store.add(randomVectors(1000, dim, random));
    const query = randomVectors(1, dim, random);
    const before = store.topK(query, 5);
    const pending = store.topKAsync(query, 5);
    // Growing reallocates; the scan keeps the old block alive.
    for (let i = 0; i < 20; i++) store.add(randomVectors(1000, dim, random));
    const result = await pending;
    expect(Array.from(result.rows)).toEqual(Array.from(before.rows));
    expect(store.size).toBe(21_000);
  });

  it('copies inputs: mutating the caller array later changes nothing', () => {
    const store = new VectorStore({ dim: 2 });
    const v = new Float32Array([1, 0]);
    store.add(v);
    v[0] = 0;
    v[1] = 1;
    expect(Array.from(store.get(0))).toEqual([1, 0]);
  });
});
