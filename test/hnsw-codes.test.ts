// The graph's 4-bit navigation codes: the kernel of every instruction set
// against a plain reference (they must agree exactly: integers), and graph
// searches that navigate on codes and rescore exactly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';

import { capabilities, Catalog, Ranker } from '../src/index.js';
import { native } from '../src/native.js';
import { randomVector, rng } from './helpers/rank-fixtures.js';

const BLOCK = 128;
const initialIsa = capabilities().isa;
afterAll(() => {
  native.setIsa(initialIsa);
});

/** sum_d q[d] * code(row, d), with the documented layout. */
function reference(q: Int8Array, codes: Uint8Array, stride: number, row: number, cdim: number): number {
  let sum = 0;
  for (let d = 0; d < cdim; d++) {
    const block = Math.floor(d / BLOCK), j = d % BLOCK;
    const byte = codes[row * stride + block * 64 + (j % 64)];
    sum += q[d] * (j < 64 ? byte & 15 : byte >> 4);
  }
  return sum;
}

describe.each(capabilities().available)('scoreU4 on %s', (isa) => {
  test.each([128, 256, 768])('cdim %i equals the reference exactly', (cdim) => {
    native.setIsa(isa);
    const random = rng(cdim);
    for (const stride of [cdim / 2, cdim / 2 + 64]) {
      const rowsInStore = 37;
      const codes = Uint8Array.from({ length: rowsInStore * stride }, () => Math.floor(random() * 256));
      // Extremes too: the AVX2/AVX-512 path multiplies pairs into int16.
      const q = Int8Array.from({ length: cdim }, (_, d) => (d % 7 === 0 ? -128 : d % 5 === 0 ? 127 : Math.floor(random() * 256) - 128));
      codes.fill(0xff, 0, stride); // row 0: every code 15
      for (const n of [0, 1, 3, 4, 5, 8, 9, 17]) {
        const rows = Uint32Array.from({ length: n }, (_, i) => (i === 0 ? 0 : Math.floor(random() * rowsInStore)));
        const got = native.scoreU4(q, codes, stride, rows, cdim);
        expect(got.length).toBe(n);
        rows.forEach((row, i) => expect(got[i]).toBe(reference(q, codes, stride, row, cdim)));
      }
    }
    native.setIsa(initialIsa);
  });
});

describe('scoreU4 bad input', () => {
  const q = new Int8Array(128), codes = new Uint8Array(640);
  test('a layout the kernel cannot read is refused with a code', () => {
    expect(() => native.scoreU4(new Int8Array(100), codes, 64, new Uint32Array(1), 100)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' }));
    expect(() => native.scoreU4(q, codes, 32, new Uint32Array(1), 128)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' }));
    expect(() => native.scoreU4(q, codes, 64, Uint32Array.of(10), 128)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE' }));
    expect(() => native.scoreU4(q as unknown as Int8Array, new Float32Array(16) as unknown as Uint8Array, 64, new Uint32Array(1), 128)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' }));
  });
});

describe('graph search on navigation codes', () => {
  // 200 dimensions: codes are padded to 256, and the f16 rows to 224.
  const DIM = 200;
  const random = rng(5);
  const centres = Array.from({ length: 12 }, () => randomVector(DIM, random));
  const catalog = new Catalog({ vectors: { visual: { dim: DIM, dtype: 'f16' } }, fields: { safe: 'bool' } });
  const vectors = new Map<string, Float32Array>();
  const items = Array.from({ length: 3000 }, (_, i) => {
    const centre = centres[i % centres.length];
    const v = Float32Array.from(centre, (x) => x + (random() - 0.5) * 0.6);
    vectors.set(`i${i}`, v);
    return { id: `i${i}`, vectors: { visual: v }, fields: { safe: random() < 0.7 } };
  });
  catalog.upsert(items);
  catalog.buildIndex('visual');
  const signals = { visual: { kind: 'similarity' as const, vector: 'visual', weight: 1 } };
  // ef 128 and up navigates on codes (smaller searches read the rows).
  const graph = () => new Ranker(catalog, { retrieve: { vector: 'visual', k: 40, ef: 128 }, exactBelow: 0, filter: { safe: true }, signals, k: 40, normalize: 'none' });
  const exact = new Ranker(catalog, { retrieve: { vector: 'visual', k: 40, exact: true }, filter: { safe: true }, signals, k: 40, normalize: 'none' });
  const queries = Array.from({ length: 8 }, (_, i) => Float32Array.from(centres[i], (x) => x + (random() - 0.5) * 0.6));
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  test('returns exact similarities, with recall against exact filtered search', () => {
    const ranker = graph();
    let hits = 0, total = 0;
    for (const q of queries) {
      const got = ranker.rank({ query: { visual: q } });
      expect(got.usedIndex).toBe(true);
      const truth = exact.rank({ query: { visual: q } });
      const truthIds = new Set(truth.items.map((x) => x.id));
      const truthScore = new Map(truth.items.map((x) => [x.id, x.score]));
      for (const item of got.items) {
        if (truthIds.has(item.id)) {
          hits++;
          // Navigation is approximate; what comes back is scored exactly.
          expect(item.score).toBeCloseTo(truthScore.get(item.id)!, 6);
        }
      }
      total += truthIds.size;
    }
    expect(hits / total).toBeGreaterThanOrEqual(0.95);
  });

  test('every instruction set finds the same rows (the code kernel is exact)', () => {
    const runs = capabilities().available.map((isa) => {
      native.setIsa(isa);
      const ranker = graph();
      return queries.map((q) => ranker.rank({ query: { visual: q } }).items.map((x) => x.id).sort());
    });
    native.setIsa(initialIsa);
    for (const run of runs.slice(1)) expect(run).toEqual(runs[0]);
  });

  test('a loaded catalog (copied or memory-mapped) builds its codes and finds the same rows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fusionrank-codes-'));
    dirs.push(dir);
    await catalog.save(join(dir, 'c'));
    const before = queries.map((q) => graph().rank({ query: { visual: q } }).items.map((x) => x.id));
    for (const mmap of [false, true]) {
      const loaded = await Catalog.load(join(dir, 'c'), { mmap });
      const ranker = new Ranker(loaded, { retrieve: { vector: 'visual', k: 40, ef: 128 }, exactBelow: 0, filter: { safe: true }, signals, k: 40, normalize: 'none' });
      const after = queries.map((q) => ranker.rank({ query: { visual: q } }).items.map((x) => x.id));
      expect(after).toEqual(before);
    }
  });

  test('codes follow upserts: a moved item is found at its new place', () => {
    const target = queries[0];
    const id = items.find((item) => item.fields.safe && item.id !== 'i0')!.id;
    catalog.upsert([{ id, vectors: { visual: target }, fields: { safe: true } }]);
    catalog.buildIndex('visual');
    const top = graph().rank({ query: { visual: target } }).items[0];
    expect(top.id).toBe(id);
    expect(top.score).toBeCloseTo(1, 3);
  });
});
