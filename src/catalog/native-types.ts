/**
 * The native catalog and ranker bindings, as this module family sees them.
 * Declared here (not in native.ts) so the ranking engine owns its surface.
 */
import { native, type NativeBinding } from '../native.js';

export interface NativeCatalog {
  addVector(name: string, dim: number, dtype: string): number;
  addField(name: string, kind: string): number;
  activate(rows: Uint32Array): void;
  remove(rows: Uint32Array): void;
  setVectors(vector: number, rows: Uint32Array, vectors: Float32Array, present: Uint8Array): void;
  setNumbers(field: number, rows: Uint32Array, values: Float64Array): void;
  setCodes(field: number, rows: Uint32Array, codes: Int32Array): void;
  setTags(field: number, rows: Uint32Array, offsets: Uint32Array, codes: Uint32Array): void;
  getVector(vector: number, row: number): Float32Array | null;
  getFields(row: number): Array<number | null | number[]> | null;
  rows(): number;
  buildIndex(vector: number, threads: number): void;
  indexSize(vector: number): number;
  exportVector(vector: number): { data: Uint8Array; present: Uint8Array; scales?: Float32Array; rowBytes: number };
  importVector(vector: number, data: Uint8Array, present: Uint8Array, scales?: Float32Array): void;
  exportField(field: number): Float64Array | Int32Array | Uint32Array;
  /** With dictionarySize, category and tag codes must be below it (ERR_FUSIONRANK_CORRUPT). */
  importField(field: number, values: Float64Array | Int32Array | Uint32Array, dictionarySize?: number): void;
  exportAlive(): Uint8Array;
  importAlive(alive: Uint8Array): void;
  saveIndex(vector: number, path: string): boolean;
  loadIndex(vector: number, path: string, mmap: boolean): void;
}

/** A compiled filter node, resolved to column indices and dictionary codes. */
export interface NativeFilter {
  op: 'true' | 'false' | 'and' | 'or' | 'not' | 'range' | 'in' | 'tagsAny' | 'tagsAll' | 'exists' | 'hasVector';
  column?: number;
  lo?: number;
  hi?: number;
  loOpen?: boolean;
  hiOpen?: boolean;
  codes?: number[];
  children?: NativeFilter[];
}

/**
 * A finished request: the selected items only, in order, as flat typed
 * arrays in a plain array (positions are cheaper to create than named
 * properties). `figures` holds candidates, usedIndex (0/1), retrieveUs,
 * scoreUs, rerankUs, diversifyUs. The explain entries are present with
 * explain only: fused per item; raw, normalized and contribution items x
 * signals; rerank per item, NaN where not reranked.
 */
export type NativeRankResult = [
  rows: Uint32Array,
  scores: Float32Array,
  rule: Uint8Array,
  ruleDelta: Float32Array,
  figures: Float64Array,
  fused?: Float32Array,
  raw?: Float32Array,
  normalized?: Float32Array,
  contribution?: Float32Array,
  rerank?: Float32Array,
];

/** Stage 1 of a plan whose rerank model runs in JavaScript. */
export interface NativePending {
  features: Float32Array;
  featureRows: number;
  candidates: number;
  usedIndex: boolean;
  retrieveUs: number;
  scoreUs: number;
  pending: unknown;
}

export interface NativeRankRequest {
  queries: Array<Float32Array | null>;
  /** The user tower's input row, from request.query.userFeatures. */
  towerInput?: Float32Array;
  now: number;
  exclude?: Uint32Array;
  filter?: NativeFilter;
  ruleRows: Uint32Array[];
  explain: boolean;
  k?: number;
}

export interface NativeRanker {
  rank(request: NativeRankRequest): NativeRankResult | NativePending;
  rankAsync(request: NativeRankRequest): Promise<NativeRankResult | NativePending>;
  /** Whole requests of a plan without a JavaScript rerank model, split over `threads` threads of one pool task. */
  rankBatchAsync(requests: NativeRankRequest[], threads: number): Promise<NativeRankResult[]>;
  finish(pending: unknown, rerankScores: Float32Array): NativeRankResult;
  prepare(threads: number): void;
  /** [bytes held, rows computed inside requests] of the rerank item cache; undefined without one. */
  itemCacheStats(): Float64Array | undefined;
}

export interface RankNative {
  NativeCatalog: new () => NativeCatalog;
  NativeRanker: new (catalog: NativeCatalog, plan: object) => NativeRanker;
  catalogTopKMany(catalog: NativeCatalog, vector: number, queries: Float32Array, k: number, filter: object | undefined, threads: number): Promise<{ rows: Uint32Array; scores: Float32Array; k: number }>;
}

export const rankNative = native as unknown as NativeBinding & RankNative;
