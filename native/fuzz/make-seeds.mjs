#!/usr/bin/env node
/**
 * Seed corpora for the fuzz targets, from real files: small catalogs built
 * and saved through the public API (dist/bundle/index.js and the addon the
 * package loader finds, or FUSIONRANK_NATIVE), read back as the targets
 * expect them (see the input formats in graph_fuzz.cc and catalog_fuzz.cc).
 *
 *   node native/fuzz/make-seeds.mjs OUTDIR   # writes OUTDIR/<target>/seed-*
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const out = resolve(process.argv[2] ?? '');
if (!process.argv[2]) {
  console.error('usage: node native/fuzz/make-seeds.mjs OUTDIR');
  process.exit(2);
}
const { Catalog } = await import(pathToFileURL(join(root, 'dist', 'bundle', 'index.js')).href);
const work = mkdtempSync(join(tmpdir(), 'fusionrank-seeds-'));

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const vector = (dim, random) => Float32Array.from({ length: dim }, () => random() * 2 - 1);
const locate = (dir) => (existsSync(join(dir, 'CURRENT')) ? join(dir, readFileSync(join(dir, 'CURRENT'), 'utf8').trim()) : dir);
let saved = 0;
async function save(catalog) {
  const dir = join(work, `c${saved++}`);
  await catalog.save(dir);
  return locate(dir);
}
const write = (target, name, bytes) => {
  mkdirSync(join(out, target), { recursive: true });
  writeFileSync(join(out, target, name), bytes);
};

try {
  // ---- graph_fuzz: graphs over a 64-row column of 8-d f32 vectors.
  const graphCases = [
    { items: 64 },
    { items: 64, remove: 10, update: 6 },
    { items: 20 },
    { items: 1 },
    { items: 64, noVectors: true },
  ];
  for (const [i, spec] of graphCases.entries()) {
    const random = rng(100 + i);
    const catalog = new Catalog({ vectors: { v: { dim: 8 } } });
    catalog.upsert(Array.from({ length: spec.items }, (_, j) => ({ id: `g${j}`, vectors: spec.noVectors ? {} : { v: vector(8, random) } })));
    catalog.buildIndex('v', { threads: 1 });
    if (spec.remove) catalog.remove(Array.from({ length: spec.remove }, (_, j) => `g${j * 5}`));
    if (spec.update) {
      catalog.upsert(Array.from({ length: spec.update }, (_, j) => ({ id: `g${j * 7 + 1}`, vectors: { v: vector(8, random) } })));
      catalog.buildIndex('v', { threads: 1 });
    }
    const dir = await save(catalog);
    write('graph_fuzz', `seed-${i}`, readFileSync(join(dir, 'index.v.usearch')));
  }

  // ---- catalog_fuzz: the columns of a catalog of the target's schema.
  const schema = {
    vectors: { a: { dim: 5, dtype: 'f32' }, b: { dim: 12, dtype: 'f16' }, c: { dim: 7, dtype: 'i8' } },
    fields: { n: 'number', t: 'time', k: 'category', o: 'bool', g: 'tags' },
  };
  const catalogCases = [{ items: 12 }, { items: 30, remove: 7, sparse: true }, { items: 0 }];
  for (const [i, spec] of catalogCases.entries()) {
    const random = rng(200 + i);
    const catalog = new Catalog(schema);
    catalog.upsert(
      Array.from({ length: spec.items }, (_, j) => {
        const sparse = spec.sparse && j % 3 === 0;
        return {
          id: `c${j}`,
          vectors: sparse ? { a: vector(5, random) } : { a: vector(5, random), b: vector(12, random), c: vector(7, random) },
          fields: sparse ? { n: j } : { n: random() * 100, t: 1_700_000_000_000 + j, k: `k${j % 4}`, o: j % 2 === 0, g: ['x', 'y', 'z'].filter(() => random() < 0.5) },
        };
      }),
    );
    if (spec.remove) catalog.remove(Array.from({ length: spec.remove }, (_, j) => `c${j * 4}`));
    const dir = await save(catalog);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    const file = (name) => readFileSync(join(dir, name));
    const sections = [
      file('alive.bin'),
      file('vector.a.bin'), file('vector.a.present.bin'),
      file('vector.b.bin'), file('vector.b.present.bin'),
      file('vector.c.bin'), file('vector.c.present.bin'), file('vector.c.scales.bin'),
      file('field.n.bin'), file('field.t.bin'), file('field.k.bin'), file('field.o.bin'), file('field.g.bin'),
      Buffer.from(new Uint32Array([(manifest.dictionaries?.k ?? []).length, (manifest.dictionaries?.g ?? []).length]).buffer),
    ];
    const parts = [Buffer.from([0])];
    for (const s of sections) {
      const length = Buffer.alloc(4);
      length.writeUInt32LE(s.length);
      parts.push(length, s);
    }
    write('catalog_fuzz', `seed-${i}`, Buffer.concat(parts));
  }

  // ---- mlp_fuzz: no file format of its own (layer lists come from the
  // TypeScript lowering); a few byte strings to start from.
  for (let i = 0; i < 6; i++) {
    const random = rng(300 + i);
    write('mlp_fuzz', `seed-${i}`, Buffer.from(Array.from({ length: 64 + i * 96 }, () => Math.floor(random() * 256))));
  }
  console.log(`make-seeds: wrote ${out}/{graph_fuzz,catalog_fuzz,mlp_fuzz}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
