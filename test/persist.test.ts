import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';

import { Catalog, Ranker } from '../src/index.js';
import { DIM, makeCatalog, randomVector, rng } from './helpers/rank-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'fusionrank-persist-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('Catalog persistence', () => {
  test('save → load round-trips items, dictionaries, free rows and the graph (copy and mmap)', async () => {
    const fx = makeCatalog(2500, 41, 'f16');
    fx.catalog.remove(['p5', 'p6']);
    const ranker = new Ranker(fx.catalog, { retrieve: { vector: 'visual', k: 20 }, exactBelow: 0, filter: { tags: { any: ['funny'] } }, signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } }, k: 10 });
    ranker.prepare();
    const q = randomVector(DIM, rng(2));
    const before = ranker.rank({ query: { visual: q } });
    const dir = join(root, 'cat');
    await fx.catalog.save(dir);
    expect(readdirSync(dir).sort()).toContain('index.visual.usearch');
    expect(readdirSync(root).filter((n) => n.includes('.tmp-'))).toEqual([]);

    for (const mmap of [false, true]) {
      const loaded = await Catalog.load(dir, { mmap });
      expect(loaded.size).toBe(fx.catalog.size);
      expect(loaded.schema).toEqual(fx.catalog.schema);
      for (const id of ['p0', 'p1', 'p77', 'p2499']) expect(loaded.get(id)).toEqual(fx.catalog.get(id));
      expect(loaded.get('p5')).toBeUndefined();
      const r2 = new Ranker(loaded, { retrieve: { vector: 'visual', k: 20 }, exactBelow: 0, filter: { tags: { any: ['funny'] } }, signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } }, k: 10 });
      const after = r2.rank({ query: { visual: q } });
      expect(after.usedIndex).toBe(true);
      expect(after.items).toEqual(before.items);
      // Freed rows are reused after loading, and the loaded graph can grow (a mapped one is copied first).
      loaded.upsert([{ id: 'fresh', vectors: { visual: q }, fields: { tags: ['funny'] } }]);
      expect([...loaded.ids()].indexOf('fresh')).toBeLessThan(10);
      expect(r2.rank({ query: { visual: q } }).items[0].id).toBe('fresh');
    }
  });

  test('saving over an existing catalog replaces it', async () => {
    const dir = join(root, 'replace');
    const a = makeCatalog(10, 1);
    await a.catalog.save(dir);
    a.catalog.remove(['p1']);
    await a.catalog.save(dir);
    const loaded = await Catalog.load(dir);
    expect(loaded.size).toBe(9);
    expect(readdirSync(root).filter((n) => n.includes('.old-') || n.includes('.tmp-'))).toEqual([]);
  });

  test('corrupt, truncated or missing files are errors naming the file', async () => {
    const make = async (name: string) => {
      const dir = join(root, name);
      await makeCatalog(50, 3).catalog.save(dir);
      return dir;
    };
    const flipped = await make('flip');
    const file = join(flipped, 'field.likes.bin');
    const bytes = readFileSync(file);
    bytes[3] ^= 0xff;
    writeFileSync(file, bytes);
    await expect(Catalog.load(flipped)).rejects.toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_CORRUPT', message: expect.stringContaining('field.likes.bin') }));

    const truncated = await make('trunc');
    truncateSync(join(truncated, 'vector.visual.bin'), 10);
    await expect(Catalog.load(truncated)).rejects.toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_CORRUPT', message: expect.stringContaining('vector.visual.bin') }));

    const missing = await make('missing');
    rmSync(join(missing, 'ids.json'));
    await expect(Catalog.load(missing)).rejects.toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_CORRUPT', message: expect.stringContaining('ids.json') }));

    const badManifest = await make('manifest');
    writeFileSync(join(badManifest, 'manifest.json'), '{ nope');
    await expect(Catalog.load(badManifest)).rejects.toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_CORRUPT', message: expect.stringContaining('manifest.json') }));

    await expect(Catalog.load(join(root, 'does-not-exist'))).rejects.toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_NOT_FOUND' }));
  });

  test('a catalog saved by a newer format version is refused clearly', async () => {
    const dir = join(root, 'newer');
    await makeCatalog(5, 2).catalog.save(dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    manifest.version = 99;
    writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
    await expect(Catalog.load(dir)).rejects.toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNSUPPORTED_VERSION', message: expect.stringContaining('version 99') }));
  });

  test('i8 vectors keep their scales', async () => {
    const c = new Catalog({ vectors: { v: { dim: 8, dtype: 'i8' } } });
    const random = rng(3);
    c.upsert(Array.from({ length: 20 }, (_, i) => ({ id: `i${i}`, vectors: { v: randomVector(8, random) } })));
    const dir = join(root, 'i8');
    await c.save(dir);
    const loaded = await Catalog.load(dir);
    for (const id of c.ids()) expect(loaded.get(id)).toEqual(c.get(id));
  });
});
