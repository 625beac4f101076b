// VectorStore.topKMany: exact top-k for many queries at once. The reference
// is a brute-force scan in float64 over the rows as stored (store.get), so
// nothing expected comes from the kernels under test; the single-query
// topK is the second reference (same rows, ties aside).
import { describe, expect, it } from 'vitest';

import { VectorStore, type Dtype } from '../src/index.js';
import { randomVectors, rng } from './helpers/data.js';

/** Best-first (score desc, row asc) reference top-k in float64. */
function reference(store: VectorStore, queries: Float32Array, k: number, rows?: Uint32Array): Array<Array<{ row: number; score: number }>> {
  const dim = store.dim;
  const ids = rows ? Array.from(rows) : Array.from({ length: store.size }, (_, i) => i);
  const stored = ids.map((r) => store.get(r));
  const out: Array<Array<{ row: number; score: number }>> = [];
  for (let q = 0; q < queries.length / dim; q++) {
    const query = queries.subarray(q * dim, (q + 1) * dim);
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += query[j] * query[j];
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    const scored = ids.map((row, i) => {
      let dot = 0;
      const v = stored[i];
      for (let j = 0; j < dim; j++) dot += query[j] * inv * v[j];
      return { row, score: dot };
    });
    scored.sort((a, b) => b.score - a.score || a.row - b.row);
    out.push(scored.slice(0, k));
  }
  return out;
}

/**
 * The result for each query equals the reference up to rounding: every
 * returned score matches the reference score of its row, scores are
 * non-increasing, and the returned set is the reference set except for rows
 * whose score is within `eps` of the k-th best (a near-tie either way).
 */
function expectMatches(result: { k: number; rows: Uint32Array; scores: Float32Array }, ref: Array<Array<{ row: number; score: number }>>, eps: number, scoreOf: (q: number, row: number) => number): void {
  const k = result.k;
  expect(result.rows.length).toBe(ref.length * k);
  expect(result.scores.length).toBe(ref.length * k);
  for (let q = 0; q < ref.length; q++) {
    const rows = Array.from(result.rows.subarray(q * k, (q + 1) * k));
    const scores = Array.from(result.scores.subarray(q * k, (q + 1) * k));
    expect(new Set(rows).size).toBe(k);
    for (let i = 0; i < k; i++) {
      expect(Math.abs(scores[i] - scoreOf(q, rows[i]))).toBeLessThanOrEqual(eps);
      if (i > 0) expect(scores[i]).toBeLessThanOrEqual(scores[i - 1]);
    }
    const kth = ref[q][k - 1].score;
    const got = new Set(rows);
    for (const { row, score } of ref[q]) if (score > kth + eps) expect(got.has(row)).toBe(true);
    for (let i = 0; i < k; i++) expect(scoreOf(q, rows[i])).toBeGreaterThanOrEqual(kth - eps);
  }
}

function scorer(store: VectorStore, queries: Float32Array): (q: number, row: number) => number {
  const dim = store.dim;
  return (q, row) => {
    const v = store.get(row);
    let dot = 0, norm = 0;
    for (let j = 0; j < dim; j++) norm += queries[q * dim + j] ** 2;
    for (let j = 0; j < dim; j++) dot += queries[q * dim + j] * v[j];
    return norm > 0 ? dot / Math.sqrt(norm) : 0;
  };
}

describe('VectorStore.topKMany', () => {
  const cases: Array<{ dtype: Dtype; dim: number; rows: number; queries: number; k: number; threads: number }> = [
    { dtype: 'f32', dim: 3, rows: 50, queries: 7, k: 5, threads: 1 },
    { dtype: 'f32', dim: 100, rows: 1000, queries: 130, k: 10, threads: 2 },
    { dtype: 'f16', dim: 96, rows: 777, queries: 9, k: 20, threads: 1 },
    { dtype: 'i8', dim: 70, rows: 600, queries: 5, k: 7, threads: 2 },
  ];
  for (const c of cases) {
    it(`${c.dtype} dim ${c.dim}: ${c.queries} queries x ${c.rows} rows, top ${c.k}, ${c.threads} thread(s), equal the float64 scan and topK`, async () => {
      const random = rng(c.rows + c.dim);
      const store = new VectorStore({ dim: c.dim, dtype: c.dtype });
      store.add(randomVectors(c.rows, c.dim, random));
      const queries = randomVectors(c.queries, c.dim, random);
      const result = await store.topKMany(queries, c.k, { threads: c.threads });
      expect(result.k).toBe(c.k);
      const eps = c.dtype === 'f32' ? 1e-5 : 2e-3; // f16 / i8 queries meet the rows' rounding
      expectMatches(result, reference(store, queries, c.k), eps, scorer(store, queries));
      // Single-query topK, the same rows whenever scores are not near-ties.
      for (let q = 0; q < c.queries; q += Math.max(1, Math.floor(c.queries / 5))) {
        const one = store.topK(queries.subarray(q * c.dim, (q + 1) * c.dim), c.k);
        const many = result.scores.subarray(q * c.k, (q + 1) * c.k);
        for (let i = 0; i < c.k; i++) expect(Math.abs(many[i] - one.scores[i])).toBeLessThanOrEqual(eps);
      }
    });
  }

  it('splits a large scan over threads with the same result as one thread', async () => {
    const random = rng(7);
    const dim = 32;
    const store = new VectorStore({ dim });
    store.add(randomVectors(40_000, dim, random));
    const queries = randomVectors(3, dim, random);
    const one = await store.topKMany(queries, 25, { threads: 1 });
    const four = await store.topKMany(queries, 25, { threads: 4 });
    expect(Array.from(four.rows)).toEqual(Array.from(one.rows));
    expect(Array.from(four.scores)).toEqual(Array.from(one.scores));
    expectMatches(one, reference(store, queries, 25), 1e-5, scorer(store, queries));
  });

  it('scans only options.rows, in any order, and clamps k to the candidates', async () => {
    const random = rng(11);
    const dim = 16;
    const store = new VectorStore({ dim });
    store.add(randomVectors(300, dim, random));
    const candidates = Uint32Array.from([250, 3, 77, 199, 12, 5, 160, 42, 299]);
    const queries = randomVectors(4, dim, random);
    const result = await store.topKMany(queries, 50, { rows: candidates });
    expect(result.k).toBe(candidates.length);
    for (const row of result.rows) expect(Array.from(candidates)).toContain(row);
    expectMatches(result, reference(store, queries, candidates.length, candidates), 1e-5, scorer(store, queries));
  });

  it('scores a zero query 0 against every row, ties broken by the lower row', async () => {
    const store = new VectorStore({ dim: 4 });
    store.add(randomVectors(10, 4, rng(3)));
    const { rows, scores } = await store.topKMany(new Float32Array(8), 3);
    expect(Array.from(scores)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(rows)).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it('does not see rows added while it runs, and leaves the event loop free', async () => {
    const random = rng(5);
    const store = new VectorStore({ dim: 64 });
    store.add(randomVectors(20_000, 64, random));
    const pending = store.topKMany(randomVectors(200, 64, random), 5);
    store.add(randomVectors(1000, 64, random));
    const { rows } = await pending;
    for (const row of rows) expect(row).toBeLessThan(20_000);
  });

  it('an empty store returns k = 0 and no rows', async () => {
    const store = new VectorStore({ dim: 2 });
    const result = await store.topKMany(new Float32Array([1, 0, 0, 1]), 5);
    expect(result.k).toBe(0);
    expect(result.rows.length).toBe(0);
  });

  it('rejects bad input with coded errors', async () => {
    const store = new VectorStore({ dim: 4 });
    store.add(randomVectors(10, 4, rng(1)));
    const q = randomVectors(3, 4, rng(2));
    await expect(store.topKMany(new Float32Array(6), 3)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' });
    await expect(store.topKMany(new Float32Array(0), 3)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' });
    await expect(store.topKMany(q, 0)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_K' });
    await expect(store.topKMany(q, -1)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_K' });
    await expect(store.topKMany(q, 1.5)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_K' });
    const bad = q.slice();
    bad[2 * 4 + 1] = NaN;
    await expect(store.topKMany(bad, 3)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_NON_FINITE', message: expect.stringContaining('query 2') });
    await expect(store.topKMany(q, 3, { rows: Uint32Array.from([1, 10]) })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE' });
    await expect(store.topKMany(q, 3, { threads: 0 })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    await expect(store.topKMany(q, 3, { device: 'gpu' as never })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    await expect(store.topKMany([1, 2, 3, 4] as never, 3)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
  });

  it("device 'cuda' without a usable GPU is ERR_FUSIONRANK_CUDA_UNAVAILABLE; 'auto' falls back to the CPU result", async () => {
    const store = new VectorStore({ dim: 8 });
    store.add(randomVectors(100, 8, rng(9)));
    const q = randomVectors(2, 8, rng(10));
    const { cudaCapabilities } = await import('../src/cuda.js');
    if (cudaCapabilities().available) return; // this check is for machines without a GPU
    await expect(store.topKMany(q, 5, { device: 'cuda' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CUDA_UNAVAILABLE' });
    const cpu = await store.topKMany(q, 5, { device: 'cpu' });
    const auto = await store.topKMany(q, 5, { device: 'auto' });
    expect(Array.from(auto.rows)).toEqual(Array.from(cpu.rows));
  });
});

/** IEEE binary16 bits of a float, rounded to nearest even (the reference for exportF16). */
function toHalf(value: number): number {
  const f = new Float32Array([value]);
  const bits = new Uint32Array(f.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = (mant | 0x800000) >>> 0;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1), half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

describe('VectorStore internals for the GPU copy', () => {
  it('exportF16 returns the stored rows as binary16', () => {
    const store = new VectorStore({ dim: 5, dtype: 'i8' });
    store.add(randomVectors(4, 5, rng(4)));
    const out = store.exportF16(1, 2);
    expect(out.length).toBe(10);
    for (let r = 0; r < 2; r++) {
      const row = store.get(1 + r);
      for (let j = 0; j < 5; j++) expect(out[r * 5 + j]).toBe(toHalf(row[j]));
    }
    expect(() => store.exportF16(3, 2)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE' }));
  });

  it('changesSince lists the writes after a version, or null once forgotten', () => {
    const store = new VectorStore({ dim: 2 });
    expect(store.changesSince(0)).toEqual([]);
    store.add(new Float32Array(6));
    const v = store.version;
    store.set(1, new Float32Array([1, 2]));
    store.add(new Float32Array(4));
    expect(store.changesSince(v)).toEqual([[1, 1], [3, 2]]);
    expect(store.changesSince(0)).toEqual([[0, 3], [1, 1], [3, 2]]);
    expect(store.changesSince(store.version)).toEqual([]);
    for (let i = 0; i < 300; i++) store.set(0, new Float32Array([1, 1]));
    expect(store.changesSince(v)).toBeNull();
    expect(store.changesSince(store.version + 1)).toBeNull();
  });
});
