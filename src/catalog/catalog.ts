/**
 * A catalog of items: string ids, named vectors (each with its own dim and
 * dtype; any may be missing for an item) and typed fields, held in native
 * columns that the ranking engine reads directly.
 */
import { availableParallelism } from 'node:os';

import { describe, invalidParameter, rangeError, typeError } from '../errors.js';
import { DTYPES, MAX_DIM, type Dtype } from '../retrieval/vector-store.js';
import { requireInteger, requireOneOf } from '../util/validate.js';
import type { FilterSpec } from './filter.js';
import { rankNative, type NativeCatalog } from './native-types.js';

export type FieldType = 'number' | 'time' | 'bool' | 'category' | 'tags';
export const FIELD_TYPES: readonly FieldType[] = ['number', 'time', 'bool', 'category', 'tags'];

export interface VectorSpec {
  /** Dimension, 1..65536. */
  dim: number;
  /** Storage type (default `'f32'`). */
  dtype?: Dtype;
}

export interface CatalogSchema {
  /** Named vectors, e.g. `{ visual: { dim: 512, dtype: 'f16' }, text: { dim: 768 } }`. */
  vectors: Record<string, VectorSpec>;
  /** Typed fields, e.g. `{ likes: 'number', createdAt: 'time', creator: 'category' }`. */
  fields?: Record<string, FieldType>;
}

/** A field value as written: numbers, epoch-ms or `Date` times, booleans, strings, string arrays. */
export type FieldValue = number | Date | boolean | string | readonly string[] | null | undefined;

export interface CatalogItem {
  id: string;
  /** Missing or `null` means the item has no such vector (never a zero vector). */
  vectors?: Record<string, Float32Array | readonly number[] | null | undefined>;
  fields?: Record<string, FieldValue>;
}

/** An item as stored: vectors normalised (and dequantised), times as epoch ms. */
export interface StoredItem {
  id: string;
  vectors: Record<string, Float32Array>;
  fields: Record<string, number | boolean | string | string[]>;
}

/** @internal */
export class Dictionary {
  readonly values: string[] = [];
  readonly #codes = new Map<string, number>();
  constructor(values: readonly string[] = []) {
    for (const v of values) this.intern(v);
  }
  intern(value: string): number {
    let code = this.#codes.get(value);
    if (code === undefined) {
      code = this.values.length;
      this.values.push(value);
      this.#codes.set(value, code);
    }
    return code;
  }
  code(value: string): number {
    return this.#codes.get(value) ?? -1;
  }
}

/** @internal */
export interface VectorInfo {
  name: string;
  index: number;
  dim: number;
  dtype: Dtype;
}

/** @internal */
export interface FieldInfo {
  name: string;
  index: number;
  type: FieldType;
  dictionary?: Dictionary;
}

/** `Catalog.topKMany`'s result: q x k, row-major, best first per query. */
export interface CatalogTopKManyResult {
  /** Results per query: the requested k clamped to the candidates. */
  k: number;
  ids: Array<string | undefined>;
  rows: Uint32Array;
  scores: Float32Array;
}

/** @internal What the ranking engine and persistence need from a catalog. */
export interface CatalogInternals {
  native: NativeCatalog;
  vectors: Map<string, VectorInfo>;
  fields: Map<string, FieldInfo>;
  rowOf(id: string): number | undefined;
  idOf(row: number): string | undefined;
  /** Bumped by every mutation. */
  version(): number;
  /** The version at which `row` got its current id (0 when never reassigned since load). */
  assignedAt(row: number): number;
  ids(): Array<string | undefined>;
  free(): number[];
  restore(ids: Array<string | null>, free: number[]): void;
}

/** @internal */
export const INTERNALS = Symbol('fusionrank.catalog.internals');

function unknownName(kind: 'vector' | 'field', name: string, valid: Iterable<string>): RangeError {
  const list = [...valid].map((v) => `'${v}'`).join(', ') || '(none)';
  return rangeError(`Unknown ${kind} '${name}'; valid ${kind}s: ${list}`, kind === 'vector' ? 'ERR_FUSIONRANK_UNKNOWN_VECTOR' : 'ERR_FUSIONRANK_UNKNOWN_FIELD');
}

/** @internal */
export function lookupVector(vectors: Map<string, VectorInfo>, name: string): VectorInfo {
  const v = vectors.get(name);
  if (!v) throw unknownName('vector', name, vectors.keys());
  return v;
}

/** @internal */
export function lookupField(fields: Map<string, FieldInfo>, name: string): FieldInfo {
  const f = fields.get(name);
  if (!f) throw unknownName('field', name, fields.keys());
  return f;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Items with named vectors and typed fields, in native columns.
 *
 * Ids map to rows in O(1); rows freed by `remove` are reused. `upsert`
 * replaces whole items and is all-or-nothing: the batch is validated before
 * anything is written.
 *
 * @example
 * const catalog = new Catalog({
 *   vectors: { visual: { dim: 512, dtype: 'f16' }, text: { dim: 768 } },
 *   fields: { likes: 'number', createdAt: 'time', creator: 'category', safe: 'bool', tags: 'tags' },
 * });
 * catalog.upsert([{ id: 'p1', vectors: { visual }, fields: { likes: 3, createdAt: Date.now(), safe: true } }]);
 * catalog.get('p1'); // { id: 'p1', vectors: { visual: Float32Array(512) }, fields: { ... } }
 */
export class Catalog implements Iterable<StoredItem> {
  readonly #native: NativeCatalog;
  readonly #vectors = new Map<string, VectorInfo>();
  readonly #fields = new Map<string, FieldInfo>();
  readonly #rows = new Map<string, number>();
  #ids: Array<string | undefined> = [];
  #free: number[] = [];
  #version = 0;
  // Per row: the catalog version at which it got its current id, so results
  // computed before a row was freed and reused are not mislabelled.
  #assignedAt: number[] = [];

  /**
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when the schema is not an object or a name is invalid
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_DIM / ERR_FUSIONRANK_UNKNOWN_DTYPE / ERR_FUSIONRANK_UNKNOWN_FIELD_TYPE
   */
  constructor(schema: CatalogSchema) {
    if (schema === null || typeof schema !== 'object') throw typeError(invalidParameter('schema', 'an object such as { vectors: { visual: { dim: 512 } } }', schema));
    const vectors = schema.vectors;
    if (vectors === null || typeof vectors !== 'object' || Array.isArray(vectors))
      throw typeError(invalidParameter('schema.vectors', 'an object of { name: { dim, dtype } }', vectors));
    const fields = schema.fields ?? {};
    if (fields === null || typeof fields !== 'object' || Array.isArray(fields))
      throw typeError(invalidParameter('schema.fields', 'an object of { name: type }', fields));
    this.#native = new rankNative.NativeCatalog();
    for (const [name, spec] of Object.entries(vectors)) {
      if (!NAME.test(name)) throw typeError(invalidParameter('vector name', 'an identifier of letters, digits, _ . -', name));
      if (spec === null || typeof spec !== 'object') throw typeError(invalidParameter(`schema.vectors.${name}`, 'an object such as { dim: 512 }', spec));
      const dim = requireInteger(spec.dim, `schema.vectors.${name}.dim`, 1, MAX_DIM, 'ERR_FUSIONRANK_INVALID_DIM');
      const dtype = spec.dtype === undefined ? 'f32' : requireOneOf(spec.dtype, `schema.vectors.${name}.dtype`, DTYPES, 'ERR_FUSIONRANK_UNKNOWN_DTYPE');
      const index = this.#native.addVector(name, dim, dtype);
      this.#vectors.set(name, { name, index, dim, dtype });
    }
    for (const [name, type] of Object.entries(fields)) {
      if (!NAME.test(name) || name === 'and' || name === 'or' || name === 'not' || name === 'hasVector')
        throw typeError(invalidParameter('field name', "an identifier other than 'and', 'or', 'not', 'hasVector'", name));
      if (this.#vectors.has(name)) throw rangeError(`Field '${name}' has the same name as a vector`, 'ERR_FUSIONRANK_DUPLICATE_NAME');
      const t = requireOneOf(type, `schema.fields.${name}`, FIELD_TYPES, 'ERR_FUSIONRANK_UNKNOWN_FIELD_TYPE');
      const index = this.#native.addField(name, t);
      this.#fields.set(name, { name, index, type: t, ...(t === 'category' || t === 'tags' ? { dictionary: new Dictionary() } : {}) });
    }
  }

  /** Number of items. */
  get size(): number {
    return this.#rows.size;
  }

  /** The schema this catalog was created with. */
  get schema(): CatalogSchema {
    const vectors: Record<string, VectorSpec> = {};
    for (const v of this.#vectors.values()) vectors[v.name] = { dim: v.dim, dtype: v.dtype };
    const fields: Record<string, FieldType> = {};
    for (const f of this.#fields.values()) fields[f.name] = f.type;
    return { vectors, fields };
  }

  /**
   * True when an item with this id exists.
   * @example if (!catalog.has('p1')) catalog.upsert([item]);
   */
  has(id: string): boolean {
    return this.#rows.has(id);
  }

  /**
   * Inserts or replaces items. A field or vector an item leaves out is
   * missing for that item afterwards.
   *
   * @example catalog.upsert([{ id: 'p1', vectors: { text }, fields: { likes: 10, tags: ['cat', 'funny'] } }]);
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ID when an id is not a non-empty string
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_VECTOR / ERR_FUSIONRANK_UNKNOWN_FIELD for names not in the schema (lists the valid ones)
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when a vector has the wrong length (nothing is written)
   * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a vector has NaN or Infinity (nothing is written)
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_FIELD when a field value has the wrong type (nothing is written)
   */
  upsert(items: readonly CatalogItem[]): void {
    if (!Array.isArray(items)) throw typeError(invalidParameter('items', 'an array of items', items));
    // Validate the whole batch before touching anything; later duplicates win.
    const latest = new Map<string, CatalogItem>();
    items.forEach((item, i) => {
      this.#validateItem(item, i);
      latest.delete(item.id);
      latest.set(item.id, item);
    });
    if (latest.size === 0) return;
    const batch = [...latest.values()];
    const n = batch.length;
    const rows = new Uint32Array(n);
    let nextNew = this.#ids.length;
    batch.forEach((item, i) => {
      const existing = this.#rows.get(item.id);
      rows[i] = existing ?? (this.#free.length ? this.#free.pop()! : nextNew++);
    });
    this.#native.activate(rows);
    for (const v of this.#vectors.values()) {
      const data = new Float32Array(n * v.dim);
      const present = new Uint8Array(n);
      batch.forEach((item, i) => {
        const value = item.vectors?.[v.name];
        if (value === undefined || value === null) return;
        data.set(value as ArrayLike<number>, i * v.dim);
        present[i] = 1;
      });
      this.#native.setVectors(v.index, rows, data, present);
    }
    for (const f of this.#fields.values()) this.#writeField(f, batch, rows);
    this.#version++;
    batch.forEach((item, i) => {
      const row = rows[i];
      if (!this.#rows.has(item.id)) this.#assignedAt[row] = this.#version;
      this.#rows.set(item.id, row);
      while (this.#ids.length <= row) this.#ids.push(undefined);
      this.#ids[row] = item.id;
    });
  }

  /**
   * Writes one named vector of existing items and leaves everything else
   * about them as it is (unlike `upsert`, which replaces whole items): row
   * `i` of `vectors` (`ids.length × dim`, row-major) goes to `ids[i]`. All or
   * nothing: the batch is checked before anything is written. An HNSW graph
   * over the vector picks up the new values on its next search.
   *
   * @example catalog.setVector('cf', ['p1', 'p2'], factors); // factors: Float32Array(2 * dim)
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when ids is not an array or vectors not a Float32Array
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_VECTOR for a name not in the schema (lists the valid ones)
   * @throws {RangeError} ERR_FUSIONRANK_NOT_FOUND when an id is not in the catalog (nothing is written)
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when vectors.length is not ids.length × dim
   * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a value is NaN or ±Infinity (nothing is written)
   */
  setVector(name: string, ids: readonly string[], vectors: Float32Array): void {
    const v = lookupVector(this.#vectors, name);
    if (!Array.isArray(ids)) throw typeError(invalidParameter('ids', 'an array of item ids', ids));
    if (!(vectors instanceof Float32Array)) throw typeError(invalidParameter('vectors', `a Float32Array of ids.length × ${v.dim}`, vectors));
    if (vectors.length !== ids.length * v.dim)
      throw rangeError(invalidParameter('vectors', `${ids.length} × ${v.dim} = ${ids.length * v.dim} floats`, vectors), 'ERR_FUSIONRANK_DIM_MISMATCH');
    const rows = new Uint32Array(ids.length);
    ids.forEach((id, i) => {
      const row = this.#rows.get(id);
      if (row === undefined) throw rangeError(`Unknown item ${describe(id)} at ids[${i}]: setVector only writes items the catalog holds (upsert adds items)`, 'ERR_FUSIONRANK_NOT_FOUND');
      rows[i] = row;
    });
    for (let j = 0; j < vectors.length; j++)
      if (!Number.isFinite(vectors[j]))
        throw rangeError(`Vector '${name}' of item '${ids[Math.floor(j / v.dim)]}' has a non-finite element at ${j % v.dim} (${describe(vectors[j])})`, 'ERR_FUSIONRANK_NON_FINITE');
    if (ids.length === 0) return;
    this.#native.setVectors(v.index, rows, vectors, new Uint8Array(ids.length).fill(1));
    this.#version++;
  }

  /**
   * Removes items by id; unknown ids are ignored. Returns how many were removed.
   * @example catalog.remove(['p1', 'p2']);
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ID when an id is not a string
   */
  remove(ids: readonly string[]): number {
    if (!Array.isArray(ids)) throw typeError(invalidParameter('ids', 'an array of string ids', ids));
    ids.forEach((id, i) => requireId(id, `ids[${i}]`));
    const rows: number[] = [];
    for (const id of new Set(ids)) {
      const row = this.#rows.get(id);
      if (row === undefined) continue;
      rows.push(row);
      this.#rows.delete(id);
      this.#ids[row] = undefined;
      this.#free.push(row);
    }
    if (rows.length) {
      this.#native.remove(Uint32Array.from(rows));
      this.#version++;
    }
    return rows.length;
  }

  /**
   * The stored item, or `undefined`. Vectors come back normalised (as stored).
   * @example const item = catalog.get('p1');
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ID when id is not a string
   */
  get(id: string): StoredItem | undefined {
    requireId(id, 'id');
    const row = this.#rows.get(id);
    return row === undefined ? undefined : this.#read(row, id);
  }

  /**
   * Every id, in row order.
   * @example const all = [...catalog.ids()];
   */
  *ids(): IterableIterator<string> {
    for (const id of this.#ids) if (id !== undefined) yield id;
  }

  /**
   * Every stored item, in row order.
   * @example for (const item of catalog) console.log(item.id, item.fields);
   */
  *[Symbol.iterator](): IterableIterator<StoredItem> {
    for (let row = 0; row < this.#ids.length; row++) {
      const id = this.#ids[row];
      if (id !== undefined) yield this.#read(row, id);
    }
  }

  /**
   * Builds (or brings up to date) the HNSW index of `vector` now, instead of
   * on the first ranked request that needs it. Blocks the calling thread;
   * `threads` defaults to the available cores (at most 8). Besides the graph
   * (saved with the catalog), an index keeps in memory, rebuilt on load:
   * its base level as neighbour rows (128 bytes per row), and a 4-bit code
   * of every vector (dim / 2 bytes, rounded up to 64) that searches with
   * `ef >= 128` navigate on before scoring what they keep exactly.
   * @example catalog.buildIndex('visual', { threads: 4 });
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_VECTOR
   */
  buildIndex(vector: string, options: { threads?: number } = {}): void {
    const v = lookupVector(this.#vectors, vector);
    const threads = options.threads === undefined ? Math.min(8, availableParallelism()) : requireInteger(options.threads, 'options.threads', 1, 64);
    this.#native.buildIndex(v.index, threads);
  }

  /**
   * The recency-weighted mean of the history items' `vector` (a preference
   * vector). `history` is ordered oldest first; item i of n weighs
   * `decay ** (n - 1 - i)`. Items without the vector are skipped; `null`
   * when none has it.
   * @example const user = catalog.userVector(['p1', 'p7'], { vector: 'visual', decay: 0.9 });
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_VECTOR; ERR_FUSIONRANK_INVALID_ARGUMENT when decay is not in (0, 1]
   */
  userVector(history: readonly string[], options: { vector: string; decay?: number }): Float32Array | null {
    if (!Array.isArray(history)) throw typeError(invalidParameter('history', 'an array of item ids', history));
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an object such as { vector: "visual" }', options));
    const v = lookupVector(this.#vectors, options.vector);
    const decay = options.decay ?? 1;
    if (typeof decay !== 'number' || !(decay > 0 && decay <= 1)) throw rangeError(invalidParameter('options.decay', 'a number in (0, 1]', decay));
    const out = new Float32Array(v.dim);
    let total = 0;
    history.forEach((id, i) => {
      requireId(id, `history[${i}]`);
      const row = this.#rows.get(id);
      if (row === undefined) return;
      const vec = this.#native.getVector(v.index, row);
      if (!vec) return;
      const w = decay ** (history.length - 1 - i);
      for (let j = 0; j < v.dim; j++) out[j] += w * vec[j];
      total += w;
    });
    if (total === 0) return null;
    for (let j = 0; j < v.dim; j++) out[j] /= total;
    return out;
  }

  /**
   * Saves the catalog to `dir` atomically (temp dir, fsync, rename).
   * @example await catalog.save('./catalog');
   * @throws {FusionrankError} ERR_FUSIONRANK_IO when the directory cannot be written
   */
  async save(dir: string): Promise<void> {
    const { saveCatalog } = await import('./persist.js');
    await saveCatalog(this, dir);
  }

  /**
   * Loads a catalog saved by `save`. With `mmap: true` the HNSW graphs are
   * memory-mapped instead of read (copied on the first change).
   * @example const catalog = await Catalog.load('./catalog', { mmap: true });
   * @throws {FusionrankError} ERR_FUSIONRANK_CORRUPT naming the file when a file is missing, truncated or fails its checksum
   * @throws {FusionrankError} ERR_FUSIONRANK_UNSUPPORTED_VERSION when saved by a newer format version
   */
  static async load(dir: string, options: { mmap?: boolean } = {}): Promise<Catalog> {
    const { loadCatalog } = await import('./persist.js');
    return loadCatalog(dir, options);
  }

  /**
   * Exact top-k of many queries over one vector, for batch jobs (candidate
   * generation for every user): `queries` holds q vectors of that vector's
   * dim, back to back. Only live items that have the vector and pass
   * `filter` are candidates; `k` above their number is clamped (the
   * result's `k`). Query i's results are [i * k, (i + 1) * k) of `ids`,
   * `rows` and `scores`, best first. Runs on the libuv pool over `threads`
   * cores (see `VectorStore.topKMany`); items added while it runs are not
   * seen, and an item removed or whose row was reused meanwhile has the id
   * `undefined`.
   *
   * @example
   * const { k, ids, scores } = await catalog.topKMany('visual', userVectors, 100, { filter: { safe: true } });
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_VECTOR, ERR_FUSIONRANK_DIM_MISMATCH, ERR_FUSIONRANK_NON_FINITE, ERR_FUSIONRANK_INVALID_K, ERR_FUSIONRANK_INVALID_FILTER
   */
  async topKMany(vector: string, queries: Float32Array, k: number, options: { filter?: FilterSpec; threads?: number } = {}): Promise<CatalogTopKManyResult> {
    const internals = this[INTERNALS]();
    const v = lookupVector(this.#vectors, vector);
    const q = queries instanceof Float32Array ? queries : (() => { throw typeError(invalidParameter('queries', 'a Float32Array', queries)); })();
    const kk = requireInteger(k, 'k', 1, 0xffffffff, 'ERR_FUSIONRANK_INVALID_K');
    if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an object such as { filter }', options));
    const threads = options.threads === undefined ? Math.min(64, availableParallelism()) : requireInteger(options.threads, 'options.threads', 1, 256);
    const { compileFilter } = await import('./filter.js');
    const filter = options.filter === undefined ? undefined : compileFilter(internals, options.filter, 'options.filter');
    const version = this.#version;
    const out = await rankNative.catalogTopKMany(this.#native, v.index, q, kk, filter, threads);
    const ids: Array<string | undefined> = new Array(out.rows.length);
    for (let i = 0; i < out.rows.length; i++) {
      const row = out.rows[i];
      ids[i] = (this.#assignedAt[row] ?? 0) > version ? undefined : this.#ids[row];
    }
    return { k: out.k, ids, rows: out.rows, scores: out.scores };
  }

  /** @internal */
  [INTERNALS](): CatalogInternals {
    return {
      native: this.#native,
      vectors: this.#vectors,
      fields: this.#fields,
      rowOf: (id) => this.#rows.get(id),
      idOf: (row) => this.#ids[row],
      version: () => this.#version,
      assignedAt: (row) => this.#assignedAt[row] ?? 0,
      ids: () => this.#ids,
      free: () => this.#free,
      restore: (ids, free) => {
        this.#ids = ids.map((id) => (id === null ? undefined : id));
        this.#rows.clear();
        this.#ids.forEach((id, row) => {
          if (id !== undefined) this.#rows.set(id, row);
        });
        this.#free = [...free];
        this.#version++;
      },
    };
  }

  #read(row: number, id: string): StoredItem {
    const vectors: Record<string, Float32Array> = {};
    for (const v of this.#vectors.values()) {
      const vec = this.#native.getVector(v.index, row);
      if (vec) vectors[v.name] = vec;
    }
    const raw = this.#native.getFields(row) ?? [];
    const fields: StoredItem['fields'] = {};
    for (const f of this.#fields.values()) {
      const value = raw[f.index];
      switch (f.type) {
        case 'number':
        case 'time':
          if (value !== null) fields[f.name] = value as number;
          break;
        case 'bool':
          if ((value as number) >= 0) fields[f.name] = value === 1;
          break;
        case 'category':
          if ((value as number) >= 0) fields[f.name] = f.dictionary!.values[value as number];
          break;
        case 'tags':
          if ((value as number[]).length) fields[f.name] = (value as number[]).map((c) => f.dictionary!.values[c]);
          break;
      }
    }
    return { id, vectors, fields };
  }

  #validateItem(item: CatalogItem, i: number): void {
    if (item === null || typeof item !== 'object') throw typeError(invalidParameter(`items[${i}]`, 'an item object such as { id, vectors, fields }', item));
    requireId(item.id, `items[${i}].id`);
    const where = `item '${item.id}'`;
    if (item.vectors !== undefined) {
      if (item.vectors === null || typeof item.vectors !== 'object') throw typeError(invalidParameter(`${where} vectors`, 'an object of named vectors', item.vectors));
      for (const [name, value] of Object.entries(item.vectors)) {
        const v = lookupVector(this.#vectors, name);
        if (value === undefined || value === null) continue;
        if (!(value instanceof Float32Array) && !Array.isArray(value))
          throw typeError(invalidParameter(`${where} vector '${name}'`, `a Float32Array of length ${v.dim}`, value));
        if (value.length !== v.dim)
          throw rangeError(invalidParameter(`${where} vector '${name}'`, `a vector of length ${v.dim}`, value), 'ERR_FUSIONRANK_DIM_MISMATCH');
        for (let j = 0; j < value.length; j++)
          if (!Number.isFinite(value[j]))
            throw rangeError(`Vector '${name}' of ${where} has a non-finite element at ${j} (${describe(value[j])})`, 'ERR_FUSIONRANK_NON_FINITE');
      }
    }
    if (item.fields !== undefined) {
      if (item.fields === null || typeof item.fields !== 'object') throw typeError(invalidParameter(`${where} fields`, 'an object of field values', item.fields));
      for (const [name, value] of Object.entries(item.fields)) {
        const f = lookupField(this.#fields, name);
        if (value === undefined || value === null) continue;
        const bad = (what: string) => typeError(invalidParameter(`${where} field '${name}'`, what, value), 'ERR_FUSIONRANK_INVALID_FIELD');
        switch (f.type) {
          case 'number':
            if (typeof value !== 'number' || !Number.isFinite(value)) throw bad('a finite number');
            break;
          case 'time':
            if (!(value instanceof Date ? Number.isFinite(value.getTime()) : typeof value === 'number' && Number.isFinite(value)))
              throw bad('a time (epoch milliseconds or a valid Date)');
            break;
          case 'bool':
            if (typeof value !== 'boolean') throw bad('a boolean');
            break;
          case 'category':
            if (typeof value !== 'string') throw bad('a string');
            break;
          case 'tags':
            if (!Array.isArray(value) || value.some((t) => typeof t !== 'string')) throw bad('an array of strings');
            break;
        }
      }
    }
  }

  #writeField(f: FieldInfo, batch: CatalogItem[], rows: Uint32Array): void {
    const n = batch.length;
    const value = (i: number) => batch[i].fields?.[f.name];
    switch (f.type) {
      case 'number':
      case 'time': {
        const values = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          const v = value(i);
          values[i] = v === undefined || v === null ? NaN : v instanceof Date ? v.getTime() : (v as number);
        }
        this.#native.setNumbers(f.index, rows, values);
        break;
      }
      case 'bool':
      case 'category': {
        const codes = new Int32Array(n);
        for (let i = 0; i < n; i++) {
          const v = value(i);
          codes[i] = v === undefined || v === null ? -1 : f.type === 'bool' ? (v ? 1 : 0) : f.dictionary!.intern(v as string);
        }
        this.#native.setCodes(f.index, rows, codes);
        break;
      }
      case 'tags': {
        const offsets = new Uint32Array(n + 1);
        const codes: number[] = [];
        for (let i = 0; i < n; i++) {
          const v = value(i) as readonly string[] | undefined | null;
          if (v) for (const t of v) codes.push(f.dictionary!.intern(t));
          offsets[i + 1] = codes.length;
        }
        this.#native.setTags(f.index, rows, offsets, Uint32Array.from(codes));
        break;
      }
    }
  }
}

/** @internal */
export function requireId(id: unknown, name: string): string {
  if (typeof id !== 'string' || id.length === 0) throw typeError(invalidParameter(name, 'a non-empty string id', id), 'ERR_FUSIONRANK_INVALID_ID');
  return id;
}

/** @internal */
export function internalsOf(catalog: unknown, name = 'catalog'): CatalogInternals {
  if (!(catalog instanceof Catalog)) throw typeError(invalidParameter(name, 'a Catalog', catalog));
  return catalog[INTERNALS]();
}

