#!/usr/bin/env node
/**
 * Mutated-catalog loads. Saves a small catalog (three vectors, f16 / f32 /
 * i8, each with an HNSW graph; every field type; removed rows), then N times:
 * copies it, mutates one of its binary files, rewrites the manifest's byte
 * count and SHA-256 of that file so the checksums match (as anyone who can
 * write the snapshot store can), and loads it through the public API (copy
 * and mmap alternate) in a child process, so that an abort or a sanitizer
 * report is counted instead of ending the run. Mutations are random (byte
 * flips, words set to boundary values, truncations, extensions) and
 * structure-aware (graph header fields, levels, neighbour counts and slots,
 * keys; liveness and presence flags, NaN / huge vector elements, scales,
 * codes past the dictionaries, tag offsets and order).
 *
 * Outcomes, per load:
 *   ok-equal      loaded; the items and the index's answers equal the original's
 *   ok-valid      loaded, different, but a self-consistent catalog: the
 *                 mutation wrote other valid values (a number, a vector
 *                 element's sign, a graph link to another node) that no
 *                 checksum-matched file can be told apart from
 *   corrupt       ERR_FUSIONRANK_CORRUPT
 *   other-error   any other error (the code is listed)
 *   crash         the loading process died (signal, abort, sanitizer report)
 *   hang          no answer within 60 s
 *   silent-wrong  loaded, but the catalog breaks an invariant every saved
 *                 catalog keeps (finite unit vectors, values from the
 *                 dictionaries, booleans, sorted distinct tags), or using it
 *                 (ranking through the index, an upsert, save and reload) fails
 *
 * usage: node scripts/mutate-catalogs.mjs N [--seed S] [--asan [ADDON]] [--native ADDON]
 *                                           [--json] [--keep DIR] [--quiet]
 *   --asan     load under the ASan + UBSan addon (default build-asan/fusionrank.node,
 *              built by scripts/sanitize.sh --build-only), runtimes preloaded
 *   --native   the addon to load (FUSIONRANK_NATIVE); default: the package's loader
 *   --keep     copy every catalog that crashed, hung or loaded silently wrong there
 *   --json     print the counts as one JSON object (and nothing else on stdout)
 * Imports the built package (dist/bundle/index.js: npm run build:ts).
 * Exit status: 1 when any load crashed, hung, loaded silently wrong or ended
 * in an error other than ERR_FUSIONRANK_CORRUPT.
 */
import { execFileSync, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUTCOMES = ['ok-equal', 'ok-valid', 'corrupt', 'other-error', 'crash', 'hang', 'silent-wrong'];
const BAD = new Set(['other-error', 'crash', 'hang', 'silent-wrong']);

// ---------------------------------------------------------------- random

/** mulberry32: a small seeded generator, the same on every run. */
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
const pick = (random, list) => list[Math.floor(random() * list.length)];
const int = (random, n) => Math.floor(random() * n);

// ---------------------------------------------------------------- the catalog

const SCHEMA = {
  vectors: { visual: { dim: 16, dtype: 'f16' }, text: { dim: 24, dtype: 'f32' }, small: { dim: 8, dtype: 'i8' } },
  fields: { likes: 'number', createdAt: 'time', contentType: 'category', creator: 'category', safe: 'bool', tags: 'tags' },
};
const ITEMS = 400;
const TAGS = ['cat', 'dog', 'funny', 'news', 'sport', 'art', 'food'];

function unitVector(dim, random) {
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = random() * 2 - 1;
  return v;
}

async function buildBase(fr, dir) {
  const random = rng(7);
  const catalog = new fr.Catalog(SCHEMA);
  const items = [];
  for (let i = 0; i < ITEMS; i++) {
    const fields = { likes: int(random, 1000), createdAt: 1_700_000_000_000 + int(random, 86_400_000), creator: `c${i % 11}`, safe: i % 3 !== 0 };
    if (i % 7) fields.contentType = pick(random, ['meme', 'photo', 'video']);
    if (i % 4) fields.tags = TAGS.filter(() => random() < 0.3);
    const vectors = { visual: unitVector(16, random), small: unitVector(8, random) };
    if (i % 5) vectors.text = unitVector(24, random);
    items.push({ id: `p${i}`, vectors, fields });
  }
  catalog.upsert(items);
  // Freed rows: dead rows in every column, and graph nodes of dead rows.
  for (const v of Object.keys(SCHEMA.vectors)) catalog.buildIndex(v, { threads: 1 });
  catalog.remove(Array.from({ length: 20 }, (_, i) => `p${i * 19 + 3}`));
  await catalog.save(dir);
}

/** The directory holding the manifest (a CURRENT file, when there is one, names it). */
function locate(dir) {
  const current = join(dir, 'CURRENT');
  if (existsSync(current)) return join(dir, readFileSync(current, 'utf8').trim());
  return dir;
}

/** Rewrites every {bytes, sha256} entry for `name` in the manifest to match the file. */
function reseal(dir, name) {
  const at = locate(dir);
  const manifestPath = join(at, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const data = readFileSync(join(at, name));
  const entry = { bytes: data.byteLength, sha256: createHash('sha256').update(data).digest('hex') };
  const walk = (node) => {
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === name && value && typeof value === 'object' && 'sha256' in value) node[key] = { ...value, ...entry };
      else walk(value);
    }
  };
  walk(manifest);
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
}

const QUERIES = [3, 4, 5].map((seed) => {
  const random = rng(seed);
  return { visual: unitVector(16, random), text: unitVector(24, random), small: unitVector(8, random) };
});

function serialiseItem(item) {
  const vectors = Object.entries(item.vectors).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, Array.from(v)]);
  const fields = Object.entries(item.fields).sort(([a], [b]) => (a < b ? -1 : 1));
  return JSON.stringify([item.id, vectors, fields]);
}

/** Items, and what each graph answers (ids and scores, through the index). */
function snapshot(fr, catalog) {
  const items = [...catalog].map(serialiseItem).join('\n');
  const answers = [];
  for (const vector of Object.keys(SCHEMA.vectors)) {
    const ranker = new fr.Ranker(catalog, { retrieve: { vector, k: 20 }, exactBelow: 0, signals: { s: { kind: 'similarity', vector, weight: 1 } }, k: 10 });
    for (const q of QUERIES) {
      const res = ranker.rank({ query: { [vector]: q[vector] } });
      answers.push(res.items.map((it) => `${it.id}:${it.score.toFixed(5)}`).join(','));
    }
  }
  return { items, answers: answers.join('|') };
}

/** What every saved catalog keeps; the problems found, empty when none. */
function invariants(catalog) {
  const problems = [];
  const ids = [...catalog.ids()];
  if (new Set(ids).size !== ids.length) problems.push('repeated ids');
  if (catalog.size !== ids.length) problems.push(`size ${catalog.size} but ${ids.length} ids`);
  for (const item of catalog) {
    for (const [name, v] of Object.entries(item.vectors)) {
      const spec = SCHEMA.vectors[name];
      if (!spec || v.length !== spec.dim) { problems.push(`${item.id}.${name}: length ${v.length}`); continue; }
      let squares = 0;
      for (const x of v) squares += x * x;
      if (!Number.isFinite(squares) || (squares !== 0 && Math.abs(Math.sqrt(squares) - 1) > 0.15)) problems.push(`${item.id}.${name}: norm ${Math.sqrt(squares)}`);
    }
    for (const [name, value] of Object.entries(item.fields)) {
      const type = SCHEMA.fields[name];
      const ok =
        type === 'number' || type === 'time' ? typeof value === 'number' && Number.isFinite(value)
        : type === 'bool' ? typeof value === 'boolean'
        : type === 'category' ? typeof value === 'string'
        : type === 'tags' ? Array.isArray(value) && value.length > 0 && value.every((t) => typeof t === 'string') && new Set(value).size === value.length
        : false;
      if (!ok) problems.push(`${item.id}.${name}: ${JSON.stringify(value)}`);
    }
    if (problems.length > 5) break;
  }
  return problems;
}

/** Uses the loaded catalog as a service would; returns the first failure. */
async function exercise(fr, catalog, scratch) {
  try {
    for (const vector of Object.keys(SCHEMA.vectors)) {
      const indexed = new fr.Ranker(catalog, { retrieve: { vector, k: 20 }, exactBelow: 0, signals: { s: { kind: 'similarity', vector, weight: 1 } }, k: 10 });
      const exact = new fr.Ranker(catalog, { retrieve: { vector, k: 20 }, exactBelow: 1e9, signals: { s: { kind: 'similarity', vector, weight: 1 } }, k: 10 });
      for (const q of QUERIES) {
        for (const res of [indexed.rank({ query: { [vector]: q[vector] } }), exact.rank({ query: { [vector]: q[vector] } })]) {
          for (const it of res.items) {
            if (!catalog.has(it.id)) return `rank returned unknown id ${it.id}`;
            if (!Number.isFinite(it.score)) return `rank returned score ${it.score} for ${it.id}`;
          }
        }
      }
    }
    const before = [...catalog].map(serialiseItem).join('\n');
    await catalog.save(scratch);
    const again = await fr.Catalog.load(scratch);
    if ([...again].map(serialiseItem).join('\n') !== before) return 'save and reload changed the items';
    const random = rng(11);
    catalog.upsert([{ id: 'fresh', vectors: { visual: unitVector(16, random), text: unitVector(24, random), small: unitVector(8, random) }, fields: { tags: ['cat'] } }]);
    const after = new fr.Ranker(catalog, { retrieve: { vector: 'visual', k: 20 }, exactBelow: 0, signals: { s: { kind: 'similarity', vector: 'visual', weight: 1 } }, k: 10 });
    after.rank({ query: { visual: QUERIES[0].visual } });
  } catch (error) {
    return `using the loaded catalog threw ${error?.code ?? ''} ${String(error?.message ?? error).slice(0, 200)}`;
  }
  return undefined;
}

// ---------------------------------------------------------------- mutations

const U32_VALUES = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const U64_VALUES = [0n, 1n, 2n, 3n, 0x7fffffffn, 0xffffffffn, 0x100000000n, 1n << 40n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];

function parseGraph(buf) {
  if (buf.length < 40) return undefined;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const nodes = Number(dv.getBigUint64(0, true));
  const conn = Number(dv.getBigUint64(8, true));
  const base = Number(dv.getBigUint64(16, true));
  if (nodes === 0 || nodes > 1e6) return undefined;
  const offsets = [];
  const levels = [];
  let at = 40 + 2 * nodes;
  for (let i = 0; i < nodes; i++) {
    const level = dv.getInt16(40 + 2 * i, true);
    levels.push(level);
    offsets.push(at);
    at += 10 + 4 * (1 + base) + level * 4 * (1 + conn);
  }
  return { dv, nodes, conn, base, offsets, levels };
}

/** One mutation of `file` (its bytes); returns [new bytes, description]. */
function mutate(random, file, bytes) {
  const out = Buffer.from(bytes);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const generic = () => {
    const kind = pick(random, ['flip', 'flip', 'word', 'truncate', 'extend']);
    if (kind === 'truncate') return [out.subarray(0, int(random, out.length)), `truncate to ${'?'}`];
    if (kind === 'extend') return [Buffer.concat([out, Buffer.from(Array.from({ length: 1 + int(random, 64) }, () => int(random, 256)))]), 'extend'];
    if (out.length === 0) return [Buffer.from([int(random, 256)]), 'fill empty'];
    if (kind === 'word' && out.length >= 8) {
      const at = int(random, out.length >> 2) << 2;
      if (random() < 0.5 || at + 8 > out.length) dv.setUint32(at, pick(random, U32_VALUES), true);
      else dv.setBigUint64(at, pick(random, U64_VALUES), true);
      return [out, `word at ${at}`];
    }
    const n = 1 + int(random, 8);
    for (let i = 0; i < n; i++) out[int(random, out.length)] ^= 1 + int(random, 255);
    return [out, `flip ${n} bytes`];
  };
  if (random() < 0.3) return generic();

  if (file.startsWith('index.')) {
    const g = parseGraph(out);
    if (!g) return generic();
    const node = int(random, g.nodes);
    const kind = pick(random, ['header', 'header', 'level', 'node-level', 'key', 'count', 'slot', 'slot']);
    switch (kind) {
      case 'header': {
        const field = int(random, 5);
        const value = pick(random, [...U64_VALUES, BigInt(g.nodes - 1), BigInt(g.nodes), BigInt(g.nodes + 1), BigInt(int(random, 100))]);
        dv.setBigUint64(field * 8, value, true);
        return [out, `header field ${field} = ${value}`];
      }
      case 'level':
      case 'node-level': {
        const value = pick(random, [-1, -32768, 32767, 0, 1, 2, 3, 64, 65, int(random, 65536) - 32768]);
        dv.setInt16(kind === 'level' ? 40 + 2 * node : g.offsets[node] + 8, value, true);
        return [out, `${kind} of node ${node} = ${value}`];
      }
      case 'key': {
        const value = pick(random, [BigInt(ITEMS), BigInt(ITEMS + 1), 0x100000000n, (1n << 64n) - 1n, dv.getBigUint64(g.offsets[int(random, g.nodes)], true), BigInt(int(random, ITEMS))]);
        dv.setBigUint64(g.offsets[node], value, true);
        return [out, `key of node ${node} = ${value}`];
      }
      case 'count': {
        const level = int(random, g.levels[node] + 1);
        const at = g.offsets[node] + 10 + (level === 0 ? 0 : 4 * (1 + g.base) + (level - 1) * 4 * (1 + g.conn));
        const value = pick(random, [0, g.base, g.base + 1, g.conn + 1, 0x80000000, 0xffffffff, int(random, 100)]);
        dv.setUint32(at, value, true);
        return [out, `count of node ${node} level ${level} = ${value}`];
      }
      default: {
        const level = int(random, g.levels[node] + 1);
        const listAt = g.offsets[node] + 10 + (level === 0 ? 0 : 4 * (1 + g.base) + (level - 1) * 4 * (1 + g.conn));
        const count = dv.getUint32(listAt, true);
        const room = level === 0 ? g.base : g.conn;
        const j = int(random, Math.max(1, Math.min(count, room)));
        const lower = g.levels.findIndex((l) => l < level);
        const value = pick(random, [g.nodes, g.nodes + 1, 0xffffffff, int(random, 0x100000000), node, int(random, g.nodes), lower >= 0 ? lower : g.nodes]);
        dv.setUint32(listAt + 4 + 4 * j, value, true);
        return [out, `slot ${j} of node ${node} level ${level} = ${value}`];
      }
    }
  }
  if (file === 'alive.bin' || file.endsWith('.present.bin')) {
    if (out.length === 0) return generic();
    const row = int(random, out.length);
    const value = pick(random, [0, 1, 2, 255, out[row] ^ 1]);
    out[row] = value;
    return [out, `row ${row} = ${value}`];
  }
  if (file.endsWith('.scales.bin')) {
    if (out.length < 4) return generic();
    const row = int(random, out.length >> 2);
    const value = pick(random, [NaN, Infinity, -1, 0, 1e30, 1e-30, 1]);
    dv.setFloat32(row * 4, value, true);
    return [out, `scale ${row} = ${value}`];
  }
  if (file.startsWith('vector.')) {
    const name = file.slice('vector.'.length, -'.bin'.length);
    const spec = SCHEMA.vectors[name];
    const element = spec.dtype === 'f32' ? 4 : spec.dtype === 'f16' ? 2 : 1;
    const rowBytes = out.length / (ITEMS);
    const row = int(random, ITEMS);
    const j = int(random, Math.max(1, Math.floor(rowBytes / element)));
    const at = row * rowBytes + j * element;
    if (at + element > out.length) return generic();
    if (element === 4) dv.setFloat32(at, pick(random, [NaN, Infinity, -Infinity, 1e30, 0, -dv.getFloat32(at, true), 2]), true);
    else if (element === 2) dv.setUint16(at, pick(random, [0x7c00, 0xfc00, 0x7e00, 0x7bff, 0, dv.getUint16(at, true) ^ 0x8000, 0x3c00]), true);
    else out[at] = pick(random, [127, 128, 0, out[at] ^ 0x80]);
    return [out, `row ${row} element ${j}`];
  }
  if (file.startsWith('field.')) {
    const name = file.slice('field.'.length, -'.bin'.length);
    const type = SCHEMA.fields[name];
    if (type === 'number' || type === 'time') {
      if (out.length < 8) return generic();
      const row = int(random, out.length >> 3);
      const value = pick(random, [NaN, Infinity, -Infinity, 1e308, -0, 42]);
      dv.setFloat64(row * 8, value, true);
      return [out, `value ${row} = ${value}`];
    }
    if (out.length < 4) return generic();
    const words = out.length >> 2;
    if (type === 'tags') {
      const rows = ITEMS;
      const kind = pick(random, ['offset', 'code', 'swap', 'repeat']);
      if (kind === 'offset') {
        const at = int(random, rows + 1);
        const value = pick(random, [0, 1, 0xffffffff, 0x80000000, words, dv.getUint32(at * 4, true) + 1, dv.getUint32(at * 4, true) - 1]);
        dv.setUint32(at * 4, value >>> 0, true);
        return [out, `tag offset ${at} = ${value}`];
      }
      if (words <= rows + 2) return generic();
      const at = rows + 1 + int(random, words - rows - 1);
      if (kind === 'code') {
        const value = pick(random, [TAGS.length, TAGS.length + 1, 0xffffffff, 0x7fffffff, int(random, TAGS.length)]);
        dv.setUint32(at * 4, value, true);
        return [out, `tag code ${at} = ${value}`];
      }
      if (at + 1 >= words) return generic();
      const a = dv.getUint32(at * 4, true), b = dv.getUint32(at * 4 + 4, true);
      if (kind === 'swap') dv.setUint32(at * 4, b, true), dv.setUint32(at * 4 + 4, a, true);
      else dv.setUint32(at * 4 + 4, a, true);
      return [out, `tag codes ${kind} at ${at}`];
    }
    const row = int(random, words);
    const value = pick(random, [-2, -1, 0, 1, 2, 3, 11, 12, 0x7fffffff, -0x80000000]);
    dv.setInt32(row * 4, value, true);
    return [out, `code ${row} = ${value}`];
  }
  return generic();
}

/** Writes mutation `i` of the base catalog into `dir`; returns its description. */
function materialise(base, dir, seed, i) {
  rmSync(dir, { recursive: true, force: true });
  cpSync(base, dir, { recursive: true });
  const random = rng((seed * 1_000_003 + i) >>> 0);
  const at = locate(dir);
  const files = readdirSync(at).filter((n) => n.endsWith('.bin') || n.endsWith('.usearch'));
  // Half the mutations go to the graphs, half to the columns.
  const graphs = files.filter((n) => n.endsWith('.usearch'));
  const columns = files.filter((n) => n.endsWith('.bin'));
  const file = random() < 0.5 ? pick(random, graphs) : pick(random, columns);
  const [bytes, what] = mutate(random, file, readFileSync(join(at, file)));
  writeFileSync(join(at, file), bytes);
  reseal(dir, file);
  return `${file}: ${what}`;
}

// ---------------------------------------------------------------- child

async function child(work, seed) {
  const fr = await import(pathToFileURL(join(root, 'dist', 'bundle', 'index.js')).href);
  const base = join(work, 'base');
  const expectedPath = join(work, 'expected.json');
  if (!existsSync(expectedPath)) {
    await buildBase(fr, base);
    // The harness itself: an unmutated copy, resealed, loads equal.
    const pristine = join(work, 'pristine');
    cpSync(base, pristine, { recursive: true });
    for (const name of readdirSync(locate(pristine))) if (name !== 'manifest.json' && name !== 'CURRENT') reseal(pristine, name);
    const expected = snapshot(fr, await fr.Catalog.load(pristine));
    const original = snapshot(fr, await fr.Catalog.load(base));
    if (expected.items !== original.items || expected.answers !== original.answers) throw new Error('resealing an unmutated catalog changed what loads: the harness does not know this catalog format');
    writeFileSync(expectedPath, JSON.stringify(expected));
  }
  const expected = JSON.parse(readFileSync(expectedPath, 'utf8'));
  const dir = join(work, `case-${process.pid}`);
  const scratch = join(work, `scratch-${process.pid}`);
  process.send({ ready: true });
  process.on('message', async ({ from, to }) => {
    for (let i = from; i < to; i++) {
      const what = materialise(base, dir, seed, i);
      process.send({ start: i });
      const mmap = i % 2 === 1;
      let outcome, detail = what;
      let loaded;
      try {
        loaded = await fr.Catalog.load(dir, { mmap });
      } catch (error) {
        outcome = error?.code === 'ERR_FUSIONRANK_CORRUPT' ? 'corrupt' : 'other-error';
        if (outcome === 'other-error') detail += ` -> ${error?.code ?? error?.name}: ${String(error?.message).slice(0, 300)}`;
      }
      if (loaded) {
        const snap = (() => { try { return snapshot(fr, loaded); } catch (error) { return { error }; } })();
        if (snap.error) {
          outcome = 'silent-wrong';
          detail += ` -> ranking the loaded catalog threw ${snap.error?.code ?? ''} ${snap.error?.message}`;
        } else if (snap.items === expected.items && snap.answers === expected.answers) {
          outcome = 'ok-equal';
        } else {
          const problems = invariants(loaded);
          outcome = problems.length ? 'silent-wrong' : 'ok-valid';
          if (problems.length) detail += ` -> ${problems.slice(0, 3).join('; ')}`;
          else detail += snap.items === expected.items ? ' (graph differs)' : ' (values differ)';
        }
        if (outcome !== 'silent-wrong') {
          rmSync(scratch, { recursive: true, force: true });
          const failure = await exercise(fr, loaded, scratch);
          if (failure) outcome = 'silent-wrong', detail += ` -> ${failure}`;
        }
      }
      process.send({ i, outcome, detail, mmap });
    }
    process.send({ batchDone: true });
  });
}

// ---------------------------------------------------------------- parent

function parseArgs(argv) {
  const args = { n: 0, seed: 1, asan: undefined, native: undefined, json: false, keep: undefined, quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seed') args.seed = Number(argv[++i]);
    else if (a === '--asan') args.asan = argv[i + 1] && !argv[i + 1].startsWith('--') && !/^\d+$/.test(argv[i + 1]) ? argv[++i] : join(root, 'build-asan', 'fusionrank.node');
    else if (a === '--native') args.native = resolve(argv[++i]);
    else if (a === '--json') args.json = true;
    else if (a === '--keep') args.keep = resolve(argv[++i]);
    else if (a === '--quiet') args.quiet = true;
    else if (/^\d+$/.test(a)) args.n = Number(a);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!(args.n > 0) || !Number.isInteger(args.seed)) {
    console.error('usage: node scripts/mutate-catalogs.mjs N [--seed S] [--asan [ADDON]] [--native ADDON] [--json] [--keep DIR] [--quiet]');
    process.exit(2);
  }
  return args;
}

async function parent() {
  const args = parseArgs(process.argv.slice(2));
  const env = { ...process.env };
  if (args.native) env.FUSIONRANK_NATIVE = args.native;
  if (args.asan) {
    if (!existsSync(args.asan)) throw new Error(`${args.asan} does not exist: build it with scripts/sanitize.sh --build-only`);
    const lib = (name) => execFileSync('g++', [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
    env.FUSIONRANK_NATIVE = resolve(args.asan);
    env.LD_PRELOAD = `${lib('libasan.so')} ${lib('libubsan.so')}`;
    env.ASAN_OPTIONS = 'detect_leaks=0:abort_on_error=1';
    env.UBSAN_OPTIONS = 'halt_on_error=1:print_stacktrace=1';
  }
  const work = mkdtempSync(join(tmpdir(), 'fusionrank-mutate-'));
  const counts = Object.fromEntries(OUTCOMES.map((o) => [o, 0]));
  const otherCodes = {};
  const examples = {};
  const started = Date.now();
  const log = (line) => { if (!args.quiet && !args.json) console.log(line); };
  let next = 0;
  const batch = 250;
  try {
    while (next < args.n) {
      // One child at a time; it runs a batch and reports each case as it
      // starts and ends, so a death is pinned on the case in flight.
      const result = await new Promise((resolveRun) => {
        let inFlight, stderr = '', timer;
        const proc = fork(fileURLToPath(import.meta.url), ['--child', work, String(args.seed)], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
        proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
        const arm = () => { clearTimeout(timer); timer = setTimeout(() => { proc.kill('SIGKILL'); resolveRun({ hang: inFlight, stderr }); }, 60_000); };
        arm();
        proc.on('message', (m) => {
          arm();
          if (m.ready) proc.send({ from: next, to: Math.min(args.n, next + batch) });
          else if (m.start !== undefined) inFlight = m.start;
          else if (m.i !== undefined) {
            counts[m.outcome]++;
            if (m.outcome === 'other-error') { const code = m.detail.split(' -> ')[1]?.split(':')[0] ?? '?'; otherCodes[code] = (otherCodes[code] ?? 0) + 1; }
            if (m.outcome !== 'corrupt' && m.outcome !== 'ok-equal' && (examples[m.outcome] ??= []).length < 20) examples[m.outcome].push(`#${m.i}${m.mmap ? ' (mmap)' : ''} ${m.detail}`);
            if (BAD.has(m.outcome)) log(`${m.outcome}: #${m.i} ${m.detail}`);
            inFlight = undefined;
            next = m.i + 1;
          } else if (m.batchDone) { clearTimeout(timer); proc.kill(); resolveRun({}); }
        });
        proc.on('exit', (code, signal) => { clearTimeout(timer); resolveRun({ died: { code, signal }, inFlight, stderr }); });
      });
      const lost = result.hang ?? result.inFlight;
      if (lost !== undefined) {
        const outcome = result.hang !== undefined ? 'hang' : 'crash';
        counts[outcome]++;
        const what = materialise(join(work, 'base'), join(work, 'replay'), args.seed, lost);
        const report = (result.stderr.match(/(ERROR: AddressSanitizer[^\n]*|runtime error[^\n]*|SUMMARY[^\n]*|terminate[^\n]*)/) ?? [result.stderr.trim().split('\n').pop() ?? ''])[0];
        const line = `#${lost} ${what} -> ${result.died ? `exit ${result.died.code} ${result.died.signal ?? ''}` : 'no answer in 60 s'} ${report}`;
        (examples[outcome] ??= []).push(line);
        log(`${outcome}: ${line}`);
        if (args.keep) { mkdirSync(args.keep, { recursive: true }); cpSync(join(work, 'replay'), join(args.keep, `case-${args.seed}-${lost}`), { recursive: true }); }
        next = lost + 1;
      } else if (result.died && result.inFlight === undefined && next < args.n) {
        // Died outside any case (the base catalog, the loader): nothing to count.
        throw new Error(`the loading process died before any case (exit ${result.died.code} ${result.died.signal ?? ''}):\n${result.stderr}`);
      }
      if (!args.json && !args.quiet) log(`${next}/${args.n} ${JSON.stringify(counts)}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const summary = { mutations: args.n, seed: args.seed, asan: Boolean(args.asan), seconds: Math.round((Date.now() - started) / 100) / 10, counts, otherCodes, examples };
  if (args.json) console.log(JSON.stringify(summary));
  else {
    console.log(`\n${args.n} mutated catalogs (seed ${args.seed}${args.asan ? ', ASan + UBSan' : ''}) in ${summary.seconds} s`);
    console.log('| outcome | count |\n|---|---:|');
    for (const o of OUTCOMES) console.log(`| ${o} | ${counts[o]} |`);
    for (const o of ['ok-valid', ...BAD]) if (examples[o]) console.log(`\n${o}, e.g.:\n  ${examples[o].slice(0, 8).join('\n  ')}`);
  }
  process.exitCode = OUTCOMES.some((o) => BAD.has(o) && counts[o] > 0) ? 1 : 0;
}

if (process.argv[2] === '--child') await child(process.argv[3], Number(process.argv[4]));
else await parent();
