// A saved catalog is untrusted input: graph and column files whose checksums
// were rewritten to match (anyone who can write the snapshot store can) either
// load equal to what was saved, or fail with ERR_FUSIONRANK_CORRUPT naming the
// file — never another error, never a crash, never wrong data. Targeted
// structural cases here; random and structure-aware mutations in bulk through
// scripts/mutate-catalogs.mjs (a child process, so an abort is counted, not
// fatal); the inputs the fuzzers crashed on (test/fixtures/fuzz/) stay fixed.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Catalog, Ranker } from '../src/index.js';
import { randomVector, rng } from './helpers/rank-fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'fusionrank-corrupt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const repo = join(import.meta.dirname, '..');

/** The directory holding the manifest (a CURRENT file, when there is one, names it). */
function locate(dir: string): string {
  const current = join(dir, 'CURRENT');
  return existsSync(current) ? join(dir, readFileSync(current, 'utf8').trim()) : dir;
}

/** Replaces `name` in a copy of `base` and rewrites its checksum entry to match. */
let copies = 0;
function tampered(base: string, name: string, edit: (bytes: Buffer) => Buffer): string {
  const dir = join(root, `copy-${copies++}`);
  cpSync(base, dir, { recursive: true });
  const at = locate(dir);
  const data = edit(Buffer.from(readFileSync(join(at, name))));
  writeFileSync(join(at, name), data);
  const manifestPath = join(at, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const entry = { bytes: data.byteLength, sha256: createHash('sha256').update(data).digest('hex') };
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (key === name && value && typeof value === 'object' && 'sha256' in value) (node as Record<string, unknown>)[key] = { ...value, ...entry };
      else walk(value);
    }
  };
  walk(manifest);
  writeFileSync(manifestPath, JSON.stringify(manifest));
  return dir;
}

async function expectCorrupt(dir: string, file: string, phrase?: string): Promise<void> {
  for (const mmap of [false, true]) {
    const error = await Catalog.load(dir, { mmap }).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(error, `${file} (mmap ${mmap}) loaded`).toBeDefined();
    expect({ code: error!.code, message: error!.message }).toEqual({
      code: 'ERR_FUSIONRANK_CORRUPT',
      message: expect.stringContaining(file),
    });
    if (phrase) expect(error!.message).toContain(phrase);
  }
}

// ---- the graph file (USearch's serialisation; see HnswIndex::CheckGraph)

interface Graph {
  nodes: number;
  conn: number;
  base: number;
  maxLevel: number;
  levels: number[];
  offsets: number[];
}

function parseGraph(buf: Buffer): Graph {
  const nodes = Number(buf.readBigUInt64LE(0));
  const conn = Number(buf.readBigUInt64LE(8));
  const base = Number(buf.readBigUInt64LE(16));
  const maxLevel = Number(buf.readBigUInt64LE(24));
  const levels: number[] = [];
  const offsets: number[] = [];
  let at = 40 + 2 * nodes;
  for (let i = 0; i < nodes; i++) {
    levels.push(buf.readInt16LE(40 + 2 * i));
    offsets.push(at);
    at += 10 + 4 * (1 + base) + levels[i] * 4 * (1 + conn);
  }
  return { nodes, conn, base, maxLevel, levels, offsets };
}

/** Offset of node `i`'s neighbour list on `level`. */
const listAt = (g: Graph, i: number, level: number) => g.offsets[i] + 10 + (level === 0 ? 0 : 4 * (1 + g.base) + (level - 1) * 4 * (1 + g.conn));

const ROWS = 64; // the graph fuzz target's column: 64 rows of 8-d f32
let graphBase: string;
let columnBase: string;

beforeAll(async () => {
  const random = rng(5);
  const catalog = new Catalog({
    vectors: { v: { dim: 8 }, h: { dim: 12, dtype: 'f16' }, q: { dim: 7, dtype: 'i8' } },
    fields: { likes: 'number', kind: 'category', safe: 'bool', tags: 'tags' },
  });
  catalog.upsert(
    Array.from({ length: ROWS }, (_, i) => ({
      id: `p${i}`,
      vectors: { v: randomVector(8, random), h: randomVector(12, random), q: randomVector(7, random) },
      fields: { likes: i, kind: ['a', 'b', 'c'][i % 3], safe: i % 2 === 0, tags: i % 3 ? ['x', 'y'] : ['z'] },
    })),
  );
  catalog.buildIndex('v', { threads: 1 });
  catalog.remove(['p3', 'p9']);
  graphBase = join(root, 'graph-base');
  await catalog.save(graphBase);
  columnBase = graphBase;
});

describe('the harness', () => {
  test('an untouched copy with its checksums rewritten loads equal', async () => {
    const dir = tampered(graphBase, 'index.v.usearch', (b) => b);
    const loaded = await Catalog.load(dir);
    const original = await Catalog.load(graphBase);
    expect([...loaded]).toEqual([...original]);
  });
});

describe('graph files', () => {
  const g = () => parseGraph(readFileSync(join(locate(graphBase), 'index.v.usearch')));
  const cases: Array<[string, (b: Buffer) => Buffer, string]> = [
    ['empty', () => Buffer.alloc(0), 'shorter than the 40-byte header'],
    ['header only, cut', (b) => b.subarray(0, 39), 'shorter than the 40-byte header'],
    ['node count 2^63 (was a std::length_error)', (b) => (b.writeBigUInt64LE(1n << 63n, 0), b), 'more than its'],
    ['node count 2^64 - 1', (b) => (b.writeBigUInt64LE((1n << 64n) - 1n, 0), b), 'more than its'],
    ['one node more than the file holds', (b) => (b.writeBigUInt64LE(BigInt(g().nodes + 1), 0), b), 'nodes'],
    ['connectivity 0', (b) => (b.writeBigUInt64LE(0n, 8), b), 'connectivity 0'],
    ['base connectivity 2^40', (b) => (b.writeBigUInt64LE(1n << 40n, 16), b), 'base connectivity'],
    ['top level 1000', (b) => (b.writeBigUInt64LE(1000n, 24), b), 'top level'],
    ['top level not the highest node level', (b) => (b.writeBigUInt64LE(BigInt(g().maxLevel + 1), 24), b), 'top level'],
    ['entry node past the end', (b) => (b.writeBigUInt64LE(BigInt(g().nodes), 32), b), 'entry node'],
    ['a level of -1', (b) => (b.writeInt16LE(-1, 40 + 2 * 5), b), 'level -1'],
    ['a level table entry that disagrees with the node', (b) => (b.writeInt16LE(g().levels[7] + 1, g().offsets[7] + 8), b), 'says it has level'],
    ['a key past the rows', (b) => (b.writeBigUInt64LE(BigInt(ROWS), g().offsets[4]), b), 'holds row 64'],
    ['a key of 2^64 - 1', (b) => (b.writeBigUInt64LE((1n << 64n) - 1n, g().offsets[4]), b), 'holds row'],
    ['two nodes with one row', (b) => (b.writeBigUInt64LE(b.readBigUInt64LE(g().offsets[1]), g().offsets[2]), b), 'twice'],
    ['a neighbour count past the room', (b) => (b.writeUInt32LE(g().base + 1, listAt(g(), 6, 0)), b), 'neighbours on level 0'],
    ['a neighbour count of 2^32 - 1', (b) => (b.writeUInt32LE(0xffffffff, listAt(g(), 6, 0)), b), 'neighbours on level 0'],
    ['a neighbour slot past the nodes', (b) => (b.writeUInt32LE(g().nodes, listAt(g(), 6, 0) + 4), b), `links to node ${ROWS} of ${ROWS}`],
    ['a neighbour slot of 2^32 - 1', (b) => (b.writeUInt32LE(0xffffffff, listAt(g(), 6, 0) + 4), b), 'links to node 4294967295'],
    ['one byte short', (b) => b.subarray(0, b.length - 1), 'bytes'],
    ['one byte more', (b) => Buffer.concat([b, Buffer.from([0])]), 'bytes'],
  ];
  test.each(cases)('%s: ERR_FUSIONRANK_CORRUPT naming the file', async (_, edit, phrase) => {
    await expectCorrupt(tampered(graphBase, 'index.v.usearch', edit), 'index.v.usearch', phrase);
  });

  test('a link on a level its neighbour does not reach is refused', async () => {
    const graph = g();
    const upper = graph.levels.findIndex((l) => l >= 1);
    const ground = graph.levels.findIndex((l) => l === 0);
    expect(upper).toBeGreaterThanOrEqual(0);
    const dir = tampered(graphBase, 'index.v.usearch', (b) => {
      const at = listAt(graph, upper, 1);
      b.writeUInt32LE(Math.max(1, b.readUInt32LE(at)), at);
      b.writeUInt32LE(ground, at + 4);
      return b;
    });
    await expectCorrupt(dir, 'index.v.usearch', 'which has no such level');
  });

  test('a graph that lacks rows with a vector (saved before its catch-up) is caught up on first use', async () => {
    const random = rng(8);
    const catalog = new Catalog({ vectors: { v: { dim: 8 } } });
    catalog.upsert(Array.from({ length: 40 }, (_, i) => ({ id: `a${i}`, vectors: { v: randomVector(8, random) } })));
    catalog.buildIndex('v', { threads: 1 });
    const late = randomVector(8, random);
    catalog.upsert([{ id: 'late', vectors: { v: late } }]);
    const dir = join(root, 'stale');
    await catalog.save(dir);
    for (const mmap of [false, true]) {
      const loaded = await Catalog.load(dir, { mmap });
      const ranker = new Ranker(loaded, { retrieve: { vector: 'v', k: 5 }, exactBelow: 0, signals: { s: { kind: 'similarity', vector: 'v', weight: 1 } }, k: 1 });
      const res = ranker.rank({ query: { v: late } });
      expect(res.usedIndex).toBe(true);
      expect(res.items[0].id).toBe('late');
    }
  });
});

describe('column files', () => {
  const f64 = (i: number, v: number) => (b: Buffer) => (b.writeDoubleLE(v, 8 * i), b);
  const i32 = (i: number, v: number) => (b: Buffer) => (b.writeInt32LE(v, 4 * i), b);
  const u32 = (i: number, v: number) => (b: Buffer) => (b.writeUInt32LE(v >>> 0, 4 * i), b);
  const byte = (i: number, v: number) => (b: Buffer) => ((b[i] = v), b);
  // f32 'v': 8 of 16 padded floats a row; f16 'h': 12 of 32; i8 'q': 7 of 64.
  // A vector's presence and scale files are loaded with it: the error names
  // vector.<name>.bin and says which part is bad.
  const cases: Array<[string, string, (b: Buffer) => Buffer, string, string?]> = [
    ['a liveness byte of 2', 'alive.bin', byte(5, 2), 'expected 0 or 1'],
    // (The disagreement shows in the first column that holds a value for it.)
    ['a live row marked dead', 'alive.bin', byte(5, 0), 'not alive', 'vector.v.bin'],
    ['a presence flag of 7', 'vector.v.present.bin', byte(10, 7), 'presence flag 7'],
    ['a vector on a dead row', 'vector.v.present.bin', byte(3, 1), 'not alive'],
    ['a NaN element', 'vector.v.bin', (b) => (b.writeFloatLE(NaN, 64 * 10 + 4), b), 'non-finite'],
    ['a huge element', 'vector.v.bin', (b) => (b.writeFloatLE(1e30, 64 * 10 + 4), b), 'unit length'],
    ['a vector of length 2', 'vector.v.bin', (b) => { for (let j = 0; j < 8; j++) b.writeFloatLE(b.readFloatLE(64 * 10 + 4 * j) * 2, 64 * 10 + 4 * j); return b; }, 'unit length'],
    ['non-zero padding', 'vector.v.bin', (b) => (b.writeFloatLE(0.5, 64 * 10 + 4 * 12), b), 'padding'],
    ['an f16 infinity', 'vector.h.bin', (b) => (b.writeUInt16LE(0x7c00, 64 * 10), b), 'non-finite'],
    ['an i8 scale of NaN', 'vector.q.scales.bin', (b) => (b.writeFloatLE(NaN, 4 * 10), b), 'scale'],
    ['a negative i8 scale', 'vector.q.scales.bin', (b) => (b.writeFloatLE(-1, 4 * 10), b), 'scale'],
    ['a vector file one row short', 'vector.v.bin', (b) => b.subarray(0, b.length - 64), 'bytes'],
    ['scales not whole floats', 'vector.q.scales.bin', (b) => b.subarray(0, b.length - 1), 'vector.q'],
    ['an infinite number', 'field.likes.bin', f64(10, Infinity), 'infinite'],
    ['a number on a dead row', 'field.likes.bin', f64(3, 42), 'not alive'],
    ['a number column not whole doubles', 'field.likes.bin', (b) => b.subarray(0, b.length - 3), 'field.likes.bin'],
    ['a category code past the dictionary', 'field.kind.bin', i32(10, 3), 'dictionary has 3 values'],
    ['a category code of 2^31 - 1', 'field.kind.bin', i32(10, 0x7fffffff), 'dictionary'],
    ['a category code of -2', 'field.kind.bin', i32(10, -2), 'code -2'],
    ['a bool of 2', 'field.safe.bin', i32(10, 2), 'code 2'],
    ['a tag code past the dictionary', 'field.tags.bin', u32(ROWS + 1 + 2, 3), 'dictionary has 3 values'],
    ['tags out of order', 'field.tags.bin', (b) => { const at = 4 * (ROWS + 1 + 1); const x = b.readUInt32LE(at), y = b.readUInt32LE(at + 4); b.writeUInt32LE(y, at); b.writeUInt32LE(x, at + 4); return b; }, 'out of order or repeated'],
    ['a tag repeated', 'field.tags.bin', (b) => { const at = 4 * (ROWS + 1 + 1); b.writeUInt32LE(b.readUInt32LE(at), at + 4); return b; }, 'out of order or repeated'],
    ['a tag offset of 2^32 - 1', 'field.tags.bin', u32(7, 0xffffffff), 'offsets'],
    ['a first tag offset of 1', 'field.tags.bin', u32(0, 1), 'first tag offset'],
    ['tag codes past the last offset', 'field.tags.bin', (b) => Buffer.concat([b, Buffer.alloc(4)]), 'tag codes'],
  ];
  test('an empty catalog of every vector and field type loads (empty columns may have no data pointer)', async () => {
    const catalog = new Catalog({
      vectors: { a: { dim: 5, dtype: 'f32' }, b: { dim: 12, dtype: 'f16' }, c: { dim: 7, dtype: 'i8' } },
      fields: { n: 'number', t: 'time', k: 'category', o: 'bool', g: 'tags' },
    });
    const dir = join(root, 'empty');
    await catalog.save(dir);
    for (const mmap of [false, true]) expect((await Catalog.load(dir, { mmap })).size).toBe(0);
  });

  test.each(cases)('%s (%s): ERR_FUSIONRANK_CORRUPT naming the file', async (_, file, edit, phrase, named = file.replace(/\.(present|scales)\.bin$/, '.bin')) => {
    await expectCorrupt(tampered(columnBase, file, edit), named, phrase);
  });
});

describe('inputs the fuzzers found', () => {
  const fixtures = join(repo, 'test', 'fixtures', 'fuzz');
  const list = (target: string) => (existsSync(join(fixtures, target)) ? readdirSync(join(fixtures, target)).sort() : []);

  // graph_fuzz inputs are graph files for a 64-row column (the catalog above).
  const graphs = list('graph_fuzz');
  if (graphs.length === 0) test.skip('graph_fuzz: no inputs committed', () => {});
  test.each(graphs)('graph_fuzz/%s loads as ERR_FUSIONRANK_CORRUPT (valid-*: loads and ranks)', async (name) => {
    const bytes = readFileSync(join(fixtures, 'graph_fuzz', name));
    const dir = tampered(graphBase, 'index.v.usearch', () => bytes);
    if (!name.startsWith('valid-')) return expectCorrupt(dir, 'index.v.usearch');
    for (const mmap of [false, true]) {
      const loaded = await Catalog.load(dir, { mmap });
      const ranker = new Ranker(loaded, { retrieve: { vector: 'v', k: 10 }, exactBelow: 0, signals: { s: { kind: 'similarity', vector: 'v', weight: 1 } }, k: 5 });
      expect(ranker.rank({ query: { v: randomVector(8, rng(1)) } }).items.length).toBe(5);
    }
  });

  // catalog_fuzz inputs are a mode byte and length-prefixed sections (see
  // native/fuzz/catalog_fuzz.cc); written into a catalog of that schema.
  // Inputs named valid-* crashed on data that is fine: they must load.
  const columns = list('catalog_fuzz');
  if (columns.length === 0) test.skip('catalog_fuzz: no inputs committed', () => {});
  test.each(columns)('catalog_fuzz/%s loads as ERR_FUSIONRANK_CORRUPT (valid-*: loads)', async (name) => {
    const input = readFileSync(join(fixtures, 'catalog_fuzz', name));
    expect(input[0] & 1, 'schema-mode inputs have no catalog form').toBe(0);
    const sections: Buffer[] = [];
    for (let at = 1, i = 0; i < 14; i++) {
      const length = at + 4 <= input.length ? Math.min(input.readUInt32LE(at), input.length - at - 4) : 0;
      at = Math.min(input.length, at + 4);
      sections.push(input.subarray(at, at + length));
      at += length;
    }
    const catalog = new Catalog({
      vectors: { a: { dim: 5, dtype: 'f32' }, b: { dim: 12, dtype: 'f16' }, c: { dim: 7, dtype: 'i8' } },
      fields: { n: 'number', t: 'time', k: 'category', o: 'bool', g: 'tags' },
    });
    const dir = join(root, `fuzz-${name}`);
    await catalog.save(dir);
    const files = ['alive.bin', 'vector.a.bin', 'vector.a.present.bin', 'vector.b.bin', 'vector.b.present.bin', 'vector.c.bin', 'vector.c.present.bin', 'vector.c.scales.bin', 'field.n.bin', 'field.t.bin', 'field.k.bin', 'field.o.bin', 'field.g.bin'];
    let current = dir;
    files.forEach((file, i) => {
      const next = tampered(current, file, () => sections[i]);
      if (current !== dir) rmSync(current, { recursive: true, force: true });
      current = next;
    });
    for (const mmap of [false, true]) {
      const loaded = Catalog.load(current, { mmap });
      if (name.startsWith('valid-')) await expect(loaded).resolves.toBeInstanceOf(Catalog);
      else await expect(loaded).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CORRUPT' });
    }
  });
});

describe('mutated catalogs in bulk (scripts/mutate-catalogs.mjs)', () => {
  test('every load is equal, valid or ERR_FUSIONRANK_CORRUPT: no crash, no other error, no silent wrong load', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(repo, 'scripts', 'mutate-catalogs.mjs'), '150', '--seed', '16', '--json'], { env: process.env, maxBuffer: 1 << 24 });
    const summary = JSON.parse(stdout) as { counts: Record<string, number>; examples: Record<string, string[]> };
    const { counts } = summary;
    const bad = { 'other-error': counts['other-error'], crash: counts.crash, hang: counts.hang, 'silent-wrong': counts['silent-wrong'] };
    expect(bad, JSON.stringify(summary.examples, null, 1)).toEqual({ 'other-error': 0, crash: 0, hang: 0, 'silent-wrong': 0 });
    expect(counts.corrupt).toBeGreaterThan(50);
    expect(counts['ok-equal'] + counts['ok-valid'] + counts.corrupt).toBe(150);
  });
});
