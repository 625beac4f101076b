// Every kernel of every ISA this CPU runs, against a float64 reference and
// against the serial kernel, for every dtype and awkward dimensions.
import { afterAll, describe, expect, it } from 'vitest';

import { capabilities, VectorStore, type Dtype } from '../src/index.js';
import { native } from '../src/native.js';
import { cosineRef, maxAbsDiff, randomVectors, rng } from './helpers/data.js';

const initialIsa = capabilities().isa;
afterAll(() => {
  native.setIsa(initialIsa);
});

// Tolerance of each dtype against the float64 cosine of the original vectors.
const tolerance: Record<Dtype, number> = { f32: 1e-5, f16: 2e-3, i8: 2e-2 };
const dims = [1, 3, 15, 16, 17, 63, 64, 65, 100, 768, 1000];

describe.each(capabilities().available)('isa %s', (isa) => {
  describe.each(['f32', 'f16', 'i8'] as Dtype[])('%s', (dtype) => {
    it.each(dims)('cosine matches the float64 reference and the serial kernel (dim %i)', (dim) => {
      const random = rng(dim * 31 + dtype.length);
      const n = 37; // not a multiple of the 4-row blocks
      const data = randomVectors(n, dim, random);
      const query = randomVectors(1, dim, random);
      const store = new VectorStore({ dim, dtype });
      store.add(data);
      const rows = Uint32Array.from({ length: 50 }, () => Math.floor(random() * n));

      native.setIsa(isa);
      const all = store.cosine(query);
      const gathered = store.cosine(query, rows);
      native.setIsa('serial');
      const serialAll = store.cosine(query);
      const serialGathered = store.cosine(query, rows);

      const refAll = Array.from({ length: n }, (_, i) => cosineRef(query, 0, data, i * dim, dim));
      const refGathered = Array.from(rows, (r) => cosineRef(query, 0, data, r * dim, dim));
      expect(maxAbsDiff(all, refAll)).toBeLessThanOrEqual(tolerance[dtype]);
      expect(maxAbsDiff(gathered, refGathered)).toBeLessThanOrEqual(tolerance[dtype]);
      // Against the stored (quantised) rows, only arithmetic error remains.
      const stored = Array.from({ length: n }, (_, i) => store.get(i));
      const refStored = Array.from(rows, (r) => cosineRef(query, 0, stored[r], 0, dim) * norm(stored[r]));
      // SIMD i8 kernels also quantise the query to int16: at most half a step
      // (max|q| / 32767 / 2) per element, times sum |row| <= sqrt(dim).
      const queryQuantisation = dtype === 'i8' ? Math.sqrt(dim) / 65534 : 0;
      expect(maxAbsDiff(gathered, refStored)).toBeLessThanOrEqual(2e-6 * Math.sqrt(dim) + 1e-6 + queryQuantisation);
      expect(maxAbsDiff(all, serialAll)).toBeLessThanOrEqual(tolerance[dtype]);
      expect(maxAbsDiff(gathered, serialGathered)).toBeLessThanOrEqual(tolerance[dtype]);
    });

    it('cosineMany equals one cosine per query', () => {
      native.setIsa(isa);
      const random = rng(7);
      const dim = 33;
      const store = new VectorStore({ dim, dtype });
      store.add(randomVectors(300, dim, random));
      const queries = randomVectors(5, dim, random);
      const rows = Uint32Array.from({ length: 270 }, (_, i) => (i * 7) % 300);
      const many = store.cosineMany(queries, rows);
      expect(many.length).toBe(5 * rows.length);
      for (let q = 0; q < 5; q++) {
        const one = store.cosine(queries.subarray(q * dim, (q + 1) * dim), rows);
        expect(Array.from(many.subarray(q * rows.length, (q + 1) * rows.length))).toEqual(Array.from(one));
      }
    });
  });
});

function norm(v: Float32Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  return Math.sqrt(s);
}

describe('FUSIONRANK_ISA / setIsa', () => {
  it('reports the tier in use and restores it', () => {
    native.setIsa('serial');
    expect(capabilities().isa).toBe('serial');
    native.setIsa(initialIsa);
    expect(capabilities().isa).toBe(initialIsa);
    expect(capabilities().available.at(-1)).toBe('serial');
    expect(capabilities().available).toContain(capabilities().best);
  });

  it('rejects unknown and unavailable tiers with a code', () => {
    expect(() => native.setIsa('sse9')).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_ISA' }));
    const missing = (['avx512', 'avx2', 'neon'] as const).find((i) => !capabilities().available.includes(i));
    if (missing) expect(() => native.setIsa(missing)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_ISA_UNAVAILABLE' }));
    expect(capabilities().isa).toBe(initialIsa);
  });
});
