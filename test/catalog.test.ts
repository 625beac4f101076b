import { describe, expect, test } from 'vitest';

import { Catalog } from '../src/index.js';
import { cosine, DIM, makeCatalog, randomVector, rng } from './helpers/rank-fixtures.js';

function schema() {
  return {
    vectors: { visual: { dim: 4 }, text: { dim: 3, dtype: 'f16' as const } },
    fields: { likes: 'number' as const, createdAt: 'time' as const, safe: 'bool' as const, creator: 'category' as const, tags: 'tags' as const },
  };
}

describe('Catalog', () => {
  test('upsert, get, size, iteration; vectors come back normalised', () => {
    const c = new Catalog(schema());
    const when = new Date('2024-01-02T03:04:05Z');
    c.upsert([
      { id: 'a', vectors: { visual: new Float32Array([3, 0, 4, 0]), text: [1, 1, 0] }, fields: { likes: 5, createdAt: when, safe: true, creator: 'x', tags: ['t1', 't2'] } },
      { id: 'b', vectors: { visual: new Float32Array([0, 2, 0, 0]) }, fields: { likes: 1 } },
    ]);
    expect(c.size).toBe(2);
    const a = c.get('a')!;
    expect([...a.vectors.visual]).toEqual([expect.closeTo(0.6, 6), 0, expect.closeTo(0.8, 6), 0]);
    expect(a.vectors.text[0]).toBeCloseTo(Math.SQRT1_2, 3);
    expect(a.fields).toEqual({ likes: 5, createdAt: when.getTime(), safe: true, creator: 'x', tags: ['t1', 't2'] });
    const b = c.get('b')!;
    // A vector left out is missing, not a zero vector.
    expect(Object.keys(b.vectors)).toEqual(['visual']);
    expect(b.fields).toEqual({ likes: 1 });
    expect(c.get('zzz')).toBeUndefined();
    expect([...c.ids()]).toEqual(['a', 'b']);
    expect([...c].map((item) => item.id)).toEqual(['a', 'b']);
    expect(c.has('a')).toBe(true);
  });

  test('upsert replaces the whole item', () => {
    const c = new Catalog(schema());
    c.upsert([{ id: 'a', vectors: { visual: [1, 0, 0, 0], text: [0, 1, 0] }, fields: { likes: 5, creator: 'x' } }]);
    c.upsert([{ id: 'a', vectors: { visual: [0, 1, 0, 0] }, fields: { safe: false } }]);
    const a = c.get('a')!;
    expect(c.size).toBe(1);
    expect([...a.vectors.visual]).toEqual([0, 1, 0, 0]);
    expect(a.vectors.text).toBeUndefined();
    expect(a.fields).toEqual({ safe: false });
  });

  test('rows are reused after removal and ids stay O(1) mapped', () => {
    const c = new Catalog(schema());
    c.upsert([1, 2, 3].map((i) => ({ id: `i${i}`, vectors: { visual: [i, 0, 0, 0] } })));
    expect(c.remove(['i2', 'nope'])).toBe(1);
    expect(c.size).toBe(2);
    expect(c.get('i2')).toBeUndefined();
    c.upsert([{ id: 'new', vectors: { visual: [0, 0, 1, 0] }, fields: { likes: 9 } }]);
    // The freed row (1) holds the new item, so iteration order shows it in the middle.
    expect([...c.ids()]).toEqual(['i1', 'new', 'i3']);
    expect(c.get('new')!.fields).toEqual({ likes: 9 });
    expect([...c.get('new')!.vectors.visual]).toEqual([0, 0, 1, 0]);
    // The removed item's fields did not leak into the reused row.
    expect(c.get('new')!.vectors.text).toBeUndefined();
  });

  test('duplicate ids in one batch: the last one wins', () => {
    const c = new Catalog(schema());
    c.upsert([
      { id: 'a', fields: { likes: 1 } },
      { id: 'a', fields: { likes: 2 } },
    ]);
    expect(c.size).toBe(1);
    expect(c.get('a')!.fields.likes).toBe(2);
  });

  test('a wrong-dim vector rejects the batch and leaves the catalog unchanged', () => {
    const c = new Catalog(schema());
    c.upsert([{ id: 'keep', vectors: { visual: [1, 0, 0, 0] }, fields: { likes: 1 } }]);
    const attempt = () =>
      c.upsert([
        { id: 'keep', vectors: { visual: [0, 1, 0, 0] }, fields: { likes: 2 } },
        { id: 'bad', vectors: { visual: new Float32Array(5) } },
      ]);
    expect(attempt).toThrow(RangeError);
    expect(attempt).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(attempt).toThrow(/item 'bad' vector 'visual'/);
    expect(c.size).toBe(1);
    expect(c.get('bad')).toBeUndefined();
    expect(c.get('keep')!.fields.likes).toBe(1);
    expect([...c.get('keep')!.vectors.visual]).toEqual([1, 0, 0, 0]);
  });

  test('non-finite vectors, bad field values, unknown names and ids are clear errors', () => {
    const c = new Catalog(schema());
    expect(() => c.upsert([{ id: 'a', vectors: { visual: [1, NaN, 0, 0] } }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_NON_FINITE' }));
    expect(() => c.upsert([{ id: 'a', vectors: { nope: [1] } }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR', message: expect.stringContaining("'visual', 'text'") }));
    expect(() => c.upsert([{ id: 'a', fields: { nope: 1 } }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_FIELD', message: expect.stringContaining("'likes'") }));
    expect(() => c.upsert([{ id: 'a', fields: { likes: '5' } }])).toThrow(TypeError);
    expect(() => c.upsert([{ id: 'a', fields: { safe: 1 } }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_FIELD' }));
    expect(() => c.upsert([{ id: 'a', fields: { tags: 'x' } }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_FIELD' }));
    expect(() => c.upsert([{ id: 'a', fields: { createdAt: new Date('nope') } }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_FIELD' }));
    expect(() => c.upsert([{ id: 7 as unknown as string }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ID', message: 'Expected a non-empty string id for items[0].id but received 7 of type number' }));
    expect(() => c.get(7 as unknown as string)).toThrow(TypeError);
    expect(() => c.remove([{} as unknown as string])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ID' }));
    expect(c.size).toBe(0);
  });

  test('schema errors', () => {
    expect(() => new Catalog(null as never)).toThrow(TypeError);
    expect(() => new Catalog({ vectors: { v: { dim: 0 } } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_DIM' }));
    expect(() => new Catalog({ vectors: { v: { dim: 4, dtype: 'f64' as never } } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_DTYPE' }));
    expect(() => new Catalog({ vectors: {}, fields: { x: 'string' as never } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_FIELD_TYPE' }));
    expect(() => new Catalog({ vectors: { v: { dim: 2 } }, fields: { v: 'number' } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DUPLICATE_NAME' }));
  });

  test('userVector is the decay-weighted mean of history vectors', () => {
    const { catalog, visual } = makeCatalog(20, 3);
    const ids = ['p1', 'p2', 'p3'];
    const u = catalog.userVector(ids, { vector: 'visual', decay: 0.5 })!;
    const expected = new Float32Array(DIM);
    const weights = [0.25, 0.5, 1];
    ids.forEach((id, i) => {
      const v = visual.get(id)!;
      const norm = Math.hypot(...v);
      for (let j = 0; j < DIM; j++) expected[j] += (weights[i] * v[j]) / norm;
    });
    for (let j = 0; j < DIM; j++) expected[j] /= 1.75;
    for (let j = 0; j < DIM; j++) expect(u[j]).toBeCloseTo(expected[j], 5);
    // p0 has no text vector; unknown ids are skipped; nothing usable → null.
    expect(catalog.userVector(['p0', 'ghost'], { vector: 'text' })).toBeNull();
    expect(() => catalog.userVector(['p1'], { vector: 'audio' })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR' }));
  });

  test('large batches survive growth (vectors intact across reallocation)', () => {
    const { catalog, visual } = makeCatalog(3000, 9, 'f16');
    const random = rng(5);
    for (let t = 0; t < 20; t++) {
      const id = `p${Math.floor(random() * 3000)}`;
      expect(cosine(catalog.get(id)!.vectors.visual, visual.get(id)!)).toBeGreaterThan(0.999);
    }
    expect(randomVector(2, random).length).toBe(2);
  });
});
