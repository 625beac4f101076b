/**
 * The ranking engine: a plan compiled once per Ranker (retrieval with
 * filters, signals, normalisation, missing-modality policy, cold-start blend,
 * weighted fusion, rerank, rules, MMR and caps), executed in one native call
 * per request (two around a rerank model).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import { compileFilter, type FilterSpec } from '../catalog/filter.js';
import { internalsOf, lookupField, lookupVector, requireId, type Catalog, type CatalogInternals } from '../catalog/catalog.js';
import { rankNative, type NativePending, type NativeRanker, type NativeRankRequest, type NativeRankResult } from '../catalog/native-types.js';
import { FusionrankError, invalidParameter, rangeError, typeError, withCallerStack } from '../errors.js';
import { nativeModelOf, towerInputOf, type FusionMlp, type NamedInputs } from '../rerank/fusion-mlp.js';
import { requireInteger, requireOneOf } from '../util/validate.js';
import { parseDuration } from './duration.js';
import { rankPool } from './limiter.js';
import { UserVectorCache } from './user-vector-cache.js';

export interface RetrieverOptions {
  /** Named vector to search with the request's query for it. */
  vector: string;
  /** Candidates from this retriever (default 500). */
  k?: number;
  /** Exact scan instead of HNSW. */
  exact?: boolean;
  /**
   * HNSW search breadth (ef, at least k); default max(k, 64). Larger explores
   * more of the graph: higher recall, proportionally more rows scored. With a
   * filter passing more than 4 % of rows only passing rows are scored (the
   * others serve as bridges to their neighbours); below that every neighbour
   * is scored and navigated. On the 200k-item bench catalog, a 30 % filter
   * and k = ef = 500 reach recall@500 0.993 against exact filtered search.
   */
  ef?: number;
}

export type Transform = 'none' | 'log' | 'sqrt' | 'sigmoid';

export type SignalOptions =
  | { kind: 'similarity'; vector: string; weight: number }
  | { kind: 'behavior'; vector: string; weight: number }
  | { kind: 'engagement'; fields: string[]; transform?: 'log' | 'sigmoid'; scale?: number; weight: number }
  | { kind: 'recency'; field: string; halfLife: string | number; decay?: 'exp' | 'gauss' | 'linear'; weight: number }
  | { kind: 'field'; field: string; transform?: Transform; scale?: number; weight: number };

export type NormalizeMethod = 'none' | 'minmax' | 'zscore' | 'rank' | 'rrf';
export type MissingPolicy = 'renormalize' | 'zero' | 'drop' | { default: number };

/** The structural interface of a rerank model (e.g. FusionMlp). */
export interface RerankModel {
  readonly inputSize: number;
  readonly outputSize: number;
  predict(x: Float32Array): Float32Array;
  predictAsync?(x: Float32Array): Promise<Float32Array>;
}

/** One block of the model's input, in order. */
export type FeatureSpec =
  | { vector: string }
  | { present: string }
  | { signal: string; raw?: boolean }
  | { field: string };

export interface RerankOptions {
  model: RerankModel;
  /** Candidates to rerank (default 200). */
  top?: number;
  features: FeatureSpec[];
  /** `'replace'` (default): the model's score is the score; `'blend'`: (1 - weight) * fused + weight * model. */
  mode?: 'replace' | 'blend';
  weight?: number;
  /**
   * Precompute, per item, the part of the model's first dense layer that
   * reads the item's `{ vector }` features (a `FusionMlp` only). A request
   * then reads that many floats per reranked item (the first layer's width,
   * e.g. 128) instead of decoding its vectors and multiplying them through
   * the layer. Memory: items × width × 4 bytes, shared by the rankers over
   * the same catalog and `FusionMlp` instance whose vector features sit at
   * the same inputs. Built by `prepare()` (or the first request) and kept
   * current as items change; scores equal the uncached model's up to float
   * rounding. Default false.
   */
  itemCache?: boolean;
}

/**
 * A user tower (two-tower retrieval): a FusionMlp that turns the request's
 * `query.userFeatures` into the query of one catalog vector, natively, at
 * batch 1, inside the rank call (on the libuv pool for `rankAsync`). The
 * query is L2-normalised like any other, so a temperature the tower ends
 * with does not change the ranking.
 */
export interface TowerOptions {
  /**
   * The tower: `outputSize` must equal the vector's dim. Its named inputs
   * (e.g. `visual`, `text`) are the keys of `query.userFeatures`, with the
   * model's missing-modality policies; a one-input model also takes a flat
   * Float32Array.
   */
  model: FusionMlp;
  /** The catalog vector the tower's output searches and scores (a retriever's or similarity signal's vector). */
  vector: string;
}

/** A user's features for the Ranker's tower: one row per named input of the tower, or its flat input row. */
export type UserFeatures = Float32Array | NamedInputs;

export type RuleTarget = { ids?: string[]; filter?: FilterSpec };
export type RuleOptions = { pin: string[] } | { boost: RuleTarget; by: number } | { bury: RuleTarget };

export interface RankerOptions {
  /** Retrievers (union of their candidates); default: one per similarity signal, k 500. `{ exact: true }` scans exactly. */
  retrieve?: RetrieverOptions | RetrieverOptions[] | { exact?: boolean; k?: number; ef?: number };
  /** Candidate sets passing the filter that are at most this large are scanned exactly (default 20000). */
  exactBelow?: number;
  filter?: FilterSpec;
  signals: Record<string, SignalOptions>;
  normalize?: NormalizeMethod | { method: NormalizeMethod; k?: number };
  missing?: MissingPolicy;
  /** Cold start: behaviour weight grows as interactions / (interactions + k). */
  blend?: { content: string[]; behavior: string[]; byField: string; k?: number };
  rerank?: RerankOptions;
  diversity?: { mmr?: { lambda?: number; vector: string; pool?: number }; maxPer?: Record<string, number> };
  rules?: RuleOptions[];
  /** Results per request (default 20). */
  k?: number;
  /** Preference-vector cache for `query.fromHistory`. */
  userVectors?: { size?: number; ttl?: string | number; decay?: number };
  /** A user tower that makes the query of `tower.vector` from `query.userFeatures`. */
  tower?: TowerOptions;
}

export interface RankQuery {
  [vector: string]: Float32Array | readonly string[] | UserFeatures | undefined;
  /** Item ids the user interacted with, oldest first: their mean vector is the query for every vector not given. */
  fromHistory?: readonly string[];
  /**
   * The user's features for the Ranker's `tower`, which turns them into the
   * query of the tower's vector (that vector's query must not be given too).
   */
  userFeatures?: UserFeatures;
}

export interface RankRequest {
  query?: RankQuery;
  /** Reference time for recency (default `Date.now()`). */
  now?: number | Date;
  explain?: boolean;
  /** Ids never to return (already seen). */
  exclude?: readonly string[];
  /** A filter for this request only, ANDed with the Ranker's (evaluated per row; the Ranker's is cached). */
  filter?: FilterSpec;
  /** Results for this request (default: the Ranker's `k`), 1..10000. */
  k?: number;
}

export interface SignalExplanation {
  raw: number | null;
  normalized: number | null;
  contribution: number;
}

export interface RankedItem {
  id: string;
  score: number;
  /** With `explain`: the fused score, Σ contributions. */
  fused?: number;
  signals?: Record<string, SignalExplanation>;
  rerank?: number;
  rule?: { kind: 'pin' | 'boost' | 'bury'; delta: number };
}

export interface RankTimings {
  retrieveUs: number;
  scoreUs: number;
  rerankUs: number;
  diversifyUs: number;
  totalUs: number;
}

export interface RankManyOptions {
  /** Requests in flight at once on the libuv pool (default: the cores, at most 64). */
  threads?: number;
  /** `'cpu'` (default), `'auto'` or `'cuda'`; see `Ranker.rankMany`. */
  device?: 'cpu' | 'auto' | 'cuda';
  /** Called as requests finish: (finished so far, total). */
  onProgress?: (done: number, total: number) => void;
  /** Aborting stops starting requests and rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface RankResult {
  items: RankedItem[];
  timings: RankTimings;
  /** Candidates retrieved before the missing-modality drop. */
  candidates: number;
  /** True when an HNSW graph served the retrieval. */
  usedIndex: boolean;
}

const SIGNAL_KINDS = ['similarity', 'behavior', 'engagement', 'recency', 'field'] as const;
const NORMALIZE = ['none', 'minmax', 'zscore', 'rank', 'rrf'] as const;
const RULE_KINDS = ['pin', 'boost', 'bury'] as const;

function requireObject<T>(value: unknown, name: string, example: string): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw typeError(invalidParameter(name, `an object such as ${example}`, value));
  return value as T;
}

function requireWeight(value: unknown, name: string): number {
  if (typeof value !== 'number') throw typeError(invalidParameter(name, 'a finite number', value), 'ERR_FUSIONRANK_INVALID_WEIGHT');
  if (!Number.isFinite(value)) throw rangeError(invalidParameter(name, 'a finite number', value), 'ERR_FUSIONRANK_INVALID_WEIGHT');
  return value;
}

function requireFraction(value: unknown, name: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) throw rangeError(invalidParameter(name, 'a number in [0, 1]', value));
  return value;
}

function requireIds(value: unknown, name: string): string[] {
  if (!Array.isArray(value)) throw typeError(invalidParameter(name, 'an array of string ids', value));
  return value.map((id, i) => requireId(id, `${name}[${i}]`));
}

interface CompiledRule {
  kind: (typeof RULE_KINDS)[number];
  ids: string[];
}

/**
 * Ranks catalog items for a request: filtered retrieval, late fusion of
 * signals, optional rerank, business rules and diversity, with per-stage
 * timings and optional per-signal explanations.
 *
 * @example
 * const ranker = new Ranker(catalog, {
 *   filter: { safe: true },
 *   signals: {
 *     visual: { kind: 'similarity', vector: 'visual', weight: 0.5 },
 *     recency: { kind: 'recency', field: 'createdAt', halfLife: '24h', weight: 0.3 },
 *     engagement: { kind: 'engagement', fields: ['likes'], weight: 0.2 },
 *   },
 *   diversity: { mmr: { vector: 'visual', lambda: 0.7 }, maxPer: { creator: 2 } },
 *   k: 20,
 * });
 * const { items, timings } = ranker.rank({ query: { visual: q }, explain: true });
 *
 * @example
 * // Two-tower retrieval: the user tower makes the 'embedding' query from the user's features.
 * const twoTower = new Ranker(catalog, {
 *   signals: { match: { kind: 'similarity', vector: 'embedding', weight: 1 } },
 *   tower: { model: FusionMlp.fromOnnx('user-tower.onnx'), vector: 'embedding' },
 * });
 * twoTower.rank({ query: { userFeatures: { visual: userVisual, text: userText } } });
 */
export class Ranker {
  /** Results per request. */
  readonly k: number;
  readonly #catalog: CatalogInternals;
  readonly #native: NativeRanker;
  readonly #signalNames: string[];
  readonly #queryVectors: Set<string>;
  readonly #rules: CompiledRule[];
  readonly #model?: RerankModel;
  /** The rerank model runs in JavaScript between two native calls. */
  readonly #jsModel: boolean = false;
  readonly #rerankTop: number;
  readonly #cache: UserVectorCache;
  readonly #historyDecay: number;
  readonly #publicCatalog: Catalog;
  readonly #tower?: { model: FusionMlp; vector: string };

  /**
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_VECTOR / ERR_FUSIONRANK_UNKNOWN_FIELD naming the valid ones
   * @throws {TypeError|RangeError} ERR_FUSIONRANK_INVALID_WEIGHT when a weight is not finite or all are zero
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_K when k is not in [1, 10000]
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_DURATION when a half-life does not parse
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_FILTER / {RangeError} ERR_FUSIONRANK_UNKNOWN_FIELD for a bad filter
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when rerank features do not add up to the model's inputSize, or a tower's outputSize is not its vector's dim
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when options.tower.model is not a FusionMlp
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when options.tower.vector is neither retrieved nor scored by similarity
   */
  constructor(catalog: Catalog, options: RankerOptions) {
    this.#catalog = internalsOf(catalog);
    this.#publicCatalog = catalog;
    const o = requireObject<RankerOptions>(options, 'options', '{ signals: { ... } }');
    const c = this.#catalog;
    this.k = o.k === undefined ? 20 : requireInteger(o.k, 'options.k', 1, 10000, 'ERR_FUSIONRANK_INVALID_K');

    // ---- signals
    const signals = requireObject<Record<string, SignalOptions>>(o.signals, 'options.signals', "{ visual: { kind: 'similarity', vector: 'visual', weight: 1 } }");
    this.#signalNames = Object.keys(signals);
    if (this.#signalNames.length === 0) throw rangeError('options.signals must name at least one signal', 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    this.#queryVectors = new Set();
    const nativeSignals = this.#signalNames.map((name) => {
      const s = requireObject<SignalOptions>(signals[name], `options.signals.${name}`, "{ kind: 'similarity', vector: 'visual', weight: 1 }");
      const where = `options.signals.${name}`;
      const kind = requireOneOf(s.kind, `${where}.kind`, SIGNAL_KINDS);
      const weight = requireWeight(s.weight, `${where}.weight`);
      switch (s.kind) {
        case 'similarity':
        case 'behavior':
          this.#queryVectors.add(s.vector);
          return { kind, weight, vector: lookupVector(c.vectors, s.vector).index };
        case 'engagement': {
          if (!Array.isArray(s.fields) || s.fields.length === 0) throw typeError(invalidParameter(`${where}.fields`, 'a non-empty array of number field names', s.fields));
          const fields = s.fields.map((f) => {
            const info = lookupField(c.fields, f);
            if (info.type !== 'number') throw rangeError(`${where}.fields: field '${f}' is ${info.type}, expected a number field`, 'ERR_FUSIONRANK_INVALID_FIELD');
            return info.index;
          });
          const transform = s.transform === undefined ? 'log' : requireOneOf(s.transform, `${where}.transform`, ['log', 'sigmoid'] as const);
          const scale = s.scale === undefined ? 100 : this.#positive(s.scale, `${where}.scale`);
          return { kind, weight, fields, transform, scale };
        }
        case 'recency': {
          const info = lookupField(c.fields, s.field);
          if (info.type !== 'time' && info.type !== 'number') throw rangeError(`${where}.field: field '${s.field}' is ${info.type}, expected a time field`, 'ERR_FUSIONRANK_INVALID_FIELD');
          const halfLifeMs = parseDuration(s.halfLife, `${where}.halfLife`);
          const decay = s.decay === undefined ? 'exp' : requireOneOf(s.decay, `${where}.decay`, ['exp', 'gauss', 'linear'] as const);
          return { kind, weight, fields: [info.index], halfLifeMs, decay };
        }
        case 'field': {
          const info = lookupField(c.fields, s.field);
          if (info.type === 'category' || info.type === 'tags') throw rangeError(`${where}.field: field '${s.field}' is ${info.type}, expected number, time or bool`, 'ERR_FUSIONRANK_INVALID_FIELD');
          const transform = s.transform === undefined ? 'none' : requireOneOf(s.transform, `${where}.transform`, ['none', 'log', 'sqrt', 'sigmoid'] as const);
          const scale = s.scale === undefined ? 1 : this.#positive(s.scale, `${where}.scale`);
          return { kind, weight, fields: [info.index], transform, scale };
        }
      }
      throw rangeError(invalidParameter(`${where}.kind`, SIGNAL_KINDS.join(' | '), kind));
    });
    if (nativeSignals.every((s) => s.weight === 0)) throw rangeError('options.signals: every weight is zero; at least one must be non-zero', 'ERR_FUSIONRANK_INVALID_WEIGHT');

    // ---- retrieval
    const retrievers = this.#retrievers(o.retrieve);
    for (const r of retrievers) this.#queryVectors.add(r.name);
    const exactBelow = o.exactBelow === undefined ? 20000 : requireInteger(o.exactBelow, 'options.exactBelow', 0, 0xffffffff);
    const tower = o.tower === undefined ? undefined : this.#compileTower(o.tower);
    if (tower) this.#tower = { model: tower.model, vector: tower.vector };
    const filter = o.filter === undefined ? undefined : compileFilter(c, o.filter, 'options.filter');

    // ---- normalisation, missing policy, blend
    let normalize: string = 'minmax';
    let rrfK = 60;
    if (typeof o.normalize === 'object' && o.normalize !== null) {
      normalize = requireOneOf(o.normalize.method, 'options.normalize.method', NORMALIZE);
      if (o.normalize.k !== undefined) rrfK = this.#positive(o.normalize.k, 'options.normalize.k');
    } else if (o.normalize !== undefined) {
      normalize = requireOneOf(o.normalize, 'options.normalize', NORMALIZE);
    }
    let missing = 'renormalize';
    let missingDefault = 0;
    if (typeof o.missing === 'object' && o.missing !== null) {
      missing = 'default';
      missingDefault = requireWeight(o.missing.default, 'options.missing.default');
    } else if (o.missing !== undefined) {
      missing = requireOneOf(o.missing, 'options.missing', ['renormalize', 'zero', 'drop'] as const);
    }
    const groups = new Map<string, number>();
    let blendField = -1;
    let blendK = 20;
    if (o.blend !== undefined) {
      const b = requireObject<NonNullable<RankerOptions['blend']>>(o.blend, 'options.blend', "{ content: ['visual'], behavior: ['cf'], byField: 'interactions' }");
      for (const [key, group] of [['content', 1], ['behavior', 2]] as const) {
        const names = b[key];
        if (!Array.isArray(names)) throw typeError(invalidParameter(`options.blend.${key}`, 'an array of signal names', names));
        for (const n of names) {
          if (!this.#signalNames.includes(n)) throw rangeError(`options.blend.${key}: unknown signal '${n}'; valid signals: ${this.#signalNames.join(', ')}`, 'ERR_FUSIONRANK_UNKNOWN_SIGNAL');
          groups.set(n, group);
        }
      }
      const info = lookupField(c.fields, b.byField);
      if (info.type !== 'number') throw rangeError(`options.blend.byField: field '${b.byField}' is ${info.type}, expected a number field`, 'ERR_FUSIONRANK_INVALID_FIELD');
      blendField = info.index;
      if (b.k !== undefined) blendK = this.#positive(b.k, 'options.blend.k');
    }

    // ---- rerank
    let rerank: Record<string, unknown> = {};
    this.#rerankTop = 0;
    if (o.rerank !== undefined) {
      const r = requireObject<RerankOptions>(o.rerank, 'options.rerank', '{ model, features: [...] }');
      const model = r.model;
      if (model === null || typeof model !== 'object' || typeof model.predict !== 'function' || !Number.isInteger(model.inputSize) || !Number.isInteger(model.outputSize))
        throw typeError(invalidParameter('options.rerank.model', 'a model with inputSize, outputSize and predict(x)', model));
      this.#model = model;
      this.#rerankTop = r.top === undefined ? 200 : requireInteger(r.top, 'options.rerank.top', 1, 100000);
      if (!Array.isArray(r.features) || r.features.length === 0) throw typeError(invalidParameter('options.rerank.features', 'a non-empty array of features', r.features));
      let width = 0;
      const features = r.features.map((f, i) => {
        const where = `options.rerank.features[${i}]`;
        requireObject(f, where, "{ vector: 'visual' }");
        if ('vector' in f) {
          const v = lookupVector(c.vectors, f.vector);
          width += v.dim;
          return { kind: 'vector', index: v.index };
        }
        if ('present' in f) {
          width += 1;
          return { kind: 'present', index: lookupVector(c.vectors, f.present).index };
        }
        if ('signal' in f) {
          const index = this.#signalNames.indexOf(f.signal);
          if (index < 0) throw rangeError(`${where}: unknown signal '${f.signal}'; valid signals: ${this.#signalNames.join(', ')}`, 'ERR_FUSIONRANK_UNKNOWN_SIGNAL');
          width += 1;
          return { kind: f.raw ? 'signalRaw' : 'signal', index };
        }
        if ('field' in f) {
          const info = lookupField(c.fields, f.field);
          if (info.type === 'category' || info.type === 'tags') throw rangeError(`${where}: field '${f.field}' is ${info.type}; only number, time and bool fields are features`, 'ERR_FUSIONRANK_INVALID_FIELD');
          width += 1;
          return { kind: 'field', index: info.index };
        }
        throw typeError(invalidParameter(where, "{ vector } | { present } | { signal } | { field }", f));
      });
      if (width !== model.inputSize)
        throw rangeError(`options.rerank.features add up to ${width} values but the model takes ${model.inputSize}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
      const mode = r.mode === undefined ? 'replace' : requireOneOf(r.mode, 'options.rerank.mode', ['replace', 'blend'] as const);
      const weight = r.weight === undefined ? 0.5 : requireFraction(r.weight, 'options.rerank.weight');
      // A native FusionMlp runs inside the ranker's own native call: the
      // features never cross into JavaScript.
      const nativeModel = nativeModelOf(model);
      this.#jsModel = nativeModel === undefined;
      let itemCache = false;
      if (r.itemCache !== undefined) {
        if (typeof r.itemCache !== 'boolean') throw typeError(invalidParameter('options.rerank.itemCache', 'a boolean', r.itemCache));
        itemCache = r.itemCache;
      }
      if (itemCache && !nativeModel)
        throw typeError('options.rerank.itemCache needs a FusionMlp model: the first layer of a JavaScript model is not visible to the core', 'ERR_FUSIONRANK_INVALID_ARGUMENT');
      if (itemCache && !features.some((f) => f.kind === 'vector'))
        throw rangeError('options.rerank.itemCache needs at least one { vector } feature: it caches what the vectors contribute to the first layer', 'ERR_FUSIONRANK_INVALID_ARGUMENT');
      rerank = { rerankTop: this.#rerankTop, features, rerankMode: mode, rerankWeight: weight, ...(nativeModel ? { nativeModel } : {}), itemCache };
    }

    // ---- diversity and rules
    let mmr: Record<string, unknown> = {};
    const caps: Array<{ field: number; max: number }> = [];
    if (o.diversity !== undefined) {
      const d = requireObject<NonNullable<RankerOptions['diversity']>>(o.diversity, 'options.diversity', "{ mmr: { vector: 'visual' } }");
      if (d.mmr !== undefined) {
        const m = requireObject<{ lambda?: number; vector: string; pool?: number }>(d.mmr, 'options.diversity.mmr', "{ vector: 'visual', lambda: 0.7 }");
        const lambda = m.lambda === undefined ? 0.7 : requireFraction(m.lambda, 'options.diversity.mmr.lambda');
        const pool = m.pool === undefined ? 3 * this.k : requireInteger(m.pool, 'options.diversity.mmr.pool', this.k, 100000);
        mmr = { mmrVector: lookupVector(c.vectors, m.vector).index, mmrLambda: lambda, mmrPool: pool };
      }
      if (d.maxPer !== undefined) {
        for (const [field, max] of Object.entries(requireObject<Record<string, number>>(d.maxPer, 'options.diversity.maxPer', '{ creator: 2 }'))) {
          const info = lookupField(c.fields, field);
          if (info.type !== 'category' && info.type !== 'bool') throw rangeError(`options.diversity.maxPer: field '${field}' is ${info.type}, expected a category or bool field`, 'ERR_FUSIONRANK_INVALID_FIELD');
          caps.push({ field: info.index, max: requireInteger(max, `options.diversity.maxPer.${field}`, 1, 0xffffffff) });
        }
      }
    }
    this.#rules = [];
    const nativeRules: Array<Record<string, unknown>> = [];
    if (o.rules !== undefined) {
      if (!Array.isArray(o.rules)) throw typeError(invalidParameter('options.rules', 'an array of rules', o.rules));
      o.rules.forEach((rule, i) => {
        const where = `options.rules[${i}]`;
        requireObject(rule, where, "{ pin: ['p1'] }");
        if ('pin' in rule) {
          this.#rules.push({ kind: 'pin', ids: requireIds(rule.pin, `${where}.pin`) });
          nativeRules.push({ kind: 'pin' });
          return;
        }
        const kind = 'boost' in rule ? 'boost' : 'bury' in rule ? 'bury' : undefined;
        if (!kind) throw typeError(invalidParameter(where, '{ pin } | { boost, by } | { bury }', rule));
        const target = requireObject<RuleTarget>((rule as Record<string, unknown>)[kind], `${where}.${kind}`, "{ ids: ['p1'] } or { filter: {...} }");
        if (target.ids === undefined && target.filter === undefined) throw typeError(invalidParameter(`${where}.${kind}`, 'ids and/or a filter', target));
        const ids = target.ids === undefined ? [] : requireIds(target.ids, `${where}.${kind}.ids`);
        const by = kind === 'boost' ? requireWeight((rule as { by: number }).by, `${where}.by`) : 0;
        this.#rules.push({ kind, ids });
        nativeRules.push({ kind, by, ...(target.filter !== undefined ? { filter: compileFilter(c, target.filter, `${where}.${kind}.filter`) } : {}) });
      });
    }

    const cacheOptions = o.userVectors ?? {};
    this.#cache = new UserVectorCache(
      cacheOptions.size === undefined ? 1000 : requireInteger(cacheOptions.size, 'options.userVectors.size', 1, 1e7),
      cacheOptions.ttl === undefined ? 300_000 : parseDuration(cacheOptions.ttl, 'options.userVectors.ttl'),
    );
    this.#historyDecay = cacheOptions.decay === undefined ? 1 : requireFraction(cacheOptions.decay, 'options.userVectors.decay');
    if (this.#historyDecay === 0) throw rangeError(invalidParameter('options.userVectors.decay', 'a number in (0, 1]', 0));

    const keep = Math.max(1000, 4 * Math.max(this.k, this.#rerankTop, (mmr.mmrPool as number | undefined) ?? 0));
    const plan = {
      retrievers: retrievers.map((r) => ({ vector: r.index, k: r.k, exact: r.exact, expansion: r.ef })),
      filter,
      exactBelow,
      signals: nativeSignals.map((s, i) => ({ ...s, blendGroup: groups.get(this.#signalNames[i]) ?? 0 })),
      normalize,
      rrfK,
      missing,
      missingDefault,
      blendField,
      blendK,
      k: this.k,
      keep,
      ...rerank,
      ...mmr,
      caps,
      rules: nativeRules,
      ...(tower ? { tower: tower.plan } : {}),
    };
    this.#native = new rankNative.NativeRanker(c.native, plan);
  }

  /** Names of the signals, in plan order. */
  get signals(): readonly string[] {
    return this.#signalNames;
  }

  /**
   * Builds or updates the HNSW indexes this ranker searches, and its rerank
   * item cache, now (otherwise the first request that needs them does it, on
   * one thread). Catalogs of at most `exactBelow` rows are scanned exactly
   * and get no index.
   * `threads` defaults to the available cores (at most 8).
   * @example ranker.prepare({ threads: 4 });
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when threads is not in [1, 64]
   */
  prepare(options: { threads?: number } = {}): void {
    this.#native.prepare(options.threads === undefined ? Math.min(8, availableParallelism()) : requireInteger(options.threads, 'options.threads', 1, 64));
  }

  /**
   * The rerank item cache (`rerank.itemCache`): the memory it holds and the
   * rows requests computed themselves because an item changed after the
   * last catch-up (each request catches up first; rankAsync requests queued
   * before a write may still see it). Undefined without one.
   */
  get itemCache(): { bytes: number; recomputedRows: number } | undefined {
    const stats = this.#native.itemCacheStats();
    return stats && { bytes: stats[0], recomputedRows: stats[1] };
  }

  /**
   * Ranks synchronously (one native call; two around a rerank model).
   * @example const { items } = ranker.rank({ query: { visual: q }, explain: true });
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_VECTOR for a query vector not in the catalog (lists the valid ones)
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH for a query vector of the wrong length, or userFeatures that are not one row of the tower's inputs
   * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE for a query vector with a NaN or infinite element, or a tower output with one
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_INPUT / ERR_FUSIONRANK_MISSING_INPUT for userFeatures naming an input the tower lacks, or missing one without a policy
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT for userFeatures without options.tower, or together with the tower vector's query
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ID for an id that is not a string
   */
  rank(request: RankRequest = {}): RankResult {
    const start = performance.now();
    const nativeRequest = this.#request(request);
    const out = this.#native.rank(nativeRequest);
    if (!this.#jsModel) return this.#result(out as NativeRankResult, nativeRequest.explain, 0, start, Infinity);
    const stage1 = out as NativePending;
    const rerankStart = performance.now();
    const scores = this.#scores(this.#model!.predict(stage1.features), stage1.featureRows);
    const rerankUs = (performance.now() - rerankStart) * 1000;
    return this.#result(this.#native.finish(stage1.pending, scores), nativeRequest.explain, rerankUs, start, Infinity);
  }

  /**
   * `rank` with retrieval and scoring on the libuv thread pool; the event
   * loop stays free. At most (cores - 1) requests run on the pool at once
   * (`FUSIONRANK_RANK_CONCURRENCY` overrides), the rest queue in order.
   * Uses the model's `predictAsync` when it has one.
   * @example const { items } = await ranker.rankAsync({ query: { visual: q } });
   */
  async rankAsync(request: RankRequest = {}): Promise<RankResult> {
    const start = performance.now();
    try {
      const nativeRequest = this.#request(request);
      // A request that has to wait for a slot reads its query vectors later:
      // copy them now, so a caller reusing its buffers cannot change the
      // request after the call (the native call copies them itself).
      if (rankPool.active >= rankPool.limit) {
        nativeRequest.queries = nativeRequest.queries.map((q) => q && q.slice());
        if (nativeRequest.towerInput) nativeRequest.towerInput = nativeRequest.towerInput.slice();
      }
      return await rankPool.run(() => this.#runAsync(nativeRequest, start));
    } catch (error) {
      // Captured here rather than up front (~3 µs per request): V8's async
      // stack traces still lead back through the caller's awaits.
      throw withCallerStack(error, new Error());
    }
  }

  /** One request on the libuv pool (and its JS rerank model, if any). */
  async #runAsync(nativeRequest: NativeRankRequest, start: number): Promise<RankResult> {
    // Rows are mapped back to ids after the await: rows reassigned after
    // the native call started are left out.
    const version = this.#catalog.version();
    const out = await this.#native.rankAsync(nativeRequest);
    if (!this.#jsModel) return this.#result(out as NativeRankResult, nativeRequest.explain, 0, start, version);
    const stage1 = out as NativePending;
    const model = this.#model!;
    const rerankStart = performance.now();
    const raw = model.predictAsync ? await model.predictAsync(stage1.features) : model.predict(stage1.features);
    const scores = this.#scores(raw, stage1.featureRows);
    const rerankUs = (performance.now() - rerankStart) * 1000;
    return this.#result(this.#native.finish(stage1.pending, scores), nativeRequest.explain, rerankUs, start, version);
  }

  /**
   * Ranks many requests (a nightly feed precompute, an evaluation run):
   * every request is checked first — one bad request rejects the call with
   * its index in the message and nothing runs — then up to `threads`
   * requests run at once on the libuv pool (retrieval, signals, the native
   * rerank model and diversity per request, each on one pool thread). The
   * results come back in request order. Each request sees one consistent
   * version of the catalog (it holds the reader lock while it runs); writes
   * made during the call are seen by the requests that start after them.
   * Requests run in chunks of max(16, 8 x threads), each chunk one pool task
   * over `threads` threads (a JavaScript rerank model instead runs up to
   * `threads` requests at once through `rankAsync`'s path).
   * `onProgress(done, total)` is called as chunks (or requests) finish;
   * `signal` stops starting new ones and rejects with its reason.
   *
   * `device: 'cuda'` (or `'auto'` with a GPU) is accepted for the batch
   * path's GPU stages; today every stage of rankMany runs on the CPU, and
   * 'cuda' without a usable GPU is ERR_FUSIONRANK_CUDA_UNAVAILABLE.
   *
   * @example
   * const results = await ranker.rankMany(users.map((u) => ({ query: { fromHistory: u.history } })), {
   *   onProgress: (done, total) => console.log(`${done}/${total}`),
   * });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when requests is not an array
   * @throws the errors of `rank` for a bad request, with `requests[i]` in the message
   */
  async rankMany(requests: readonly RankRequest[], options: RankManyOptions = {}): Promise<RankResult[]> {
    const caller = new Error();
    try {
      if (!Array.isArray(requests)) throw typeError(invalidParameter('requests', 'an array of rank requests', requests));
      if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an object such as { threads: 4 }', options));
      const threads = options.threads === undefined ? Math.min(64, availableParallelism()) : requireInteger(options.threads, 'options.threads', 1, 256);
      if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw typeError(invalidParameter('options.onProgress', 'a function (done, total) => void', options.onProgress));
      const signal = options.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) throw typeError(invalidParameter('options.signal', 'an AbortSignal', signal));
      if (options.device !== undefined && options.device !== 'cpu') (await import('../cuda.js')).resolveDevice(options.device);
      signal?.throwIfAborted();
      const prepared: NativeRankRequest[] = new Array(requests.length);
      for (let i = 0; i < requests.length; i++) {
        try {
          const r = this.#request(requests[i] ?? {});
          // Run later than this call: copies, so callers may reuse their buffers.
          r.queries = r.queries.map((q) => q && q.slice());
          if (r.towerInput) r.towerInput = r.towerInput.slice();
          prepared[i] = r;
        } catch (error) {
          if (error instanceof Error) error.message = `requests[${i}]: ${error.message}`;
          throw error;
        }
      }
      const results: RankResult[] = new Array(requests.length);
      if (!this.#jsModel) {
        // Chunks of whole requests, each one pool task over `threads`
        // threads (not bounded by the libuv pool's 4); progress and abort
        // between chunks.
        const chunk = Math.max(16, threads * 8);
        for (let first = 0; first < prepared.length; first += chunk) {
          signal?.throwIfAborted();
          const part = prepared.slice(first, first + chunk);
          const start = performance.now();
          const version = this.#catalog.version();
          const outs = await this.#native.rankBatchAsync(part, threads);
          outs.forEach((out, j) => (results[first + j] = this.#result(out, part[j].explain, 0, start, version)));
          options.onProgress?.(first + part.length, prepared.length);
        }
        return results;
      }
      let next = 0;
      let done = 0;
      const worker = async (): Promise<void> => {
        while (next < prepared.length) {
          signal?.throwIfAborted();
          const i = next++;
          results[i] = await this.#runAsync(prepared[i], performance.now());
          done++;
          options.onProgress?.(done, prepared.length);
        }
      };
      await Promise.all(Array.from({ length: Math.min(threads, Math.max(1, prepared.length)) }, worker));
      return results;
    } catch (error) {
      throw withCallerStack(error, caller);
    }
  }

  #compileTower(tower: TowerOptions): { model: FusionMlp; vector: string; plan: { model: object; vector: number } } {
    const t = requireObject<TowerOptions>(tower, 'options.tower', "{ model: FusionMlp, vector: 'visual' }");
    const nativeModel = nativeModelOf(t.model);
    if (!nativeModel) throw typeError(invalidParameter('options.tower.model', 'a FusionMlp', t.model));
    const v = lookupVector(this.#catalog.vectors, t.vector);
    if (t.model.outputSize !== v.dim)
      throw rangeError(`options.tower: the model outputs ${t.model.outputSize} values but vector '${v.name}' has dim ${v.dim}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
    if (!this.#queryVectors.has(v.name))
      throw rangeError(
        `options.tower.vector '${v.name}' is neither retrieved nor scored by a similarity or behavior signal, so its query would be unused (query vectors: ${[...this.#queryVectors].join(', ')})`,
        'ERR_FUSIONRANK_INVALID_ARGUMENT',
      );
    return { model: t.model, vector: v.name, plan: { model: nativeModel, vector: v.index } };
  }

  #positive(value: unknown, name: string): number {
    if (typeof value !== 'number' || !(Number.isFinite(value) && value > 0)) throw rangeError(invalidParameter(name, 'a positive number', value));
    return value;
  }

  #retrievers(retrieve: RankerOptions['retrieve']): Array<{ name: string; index: number; k: number; exact: boolean; ef: number }> {
    const c = this.#catalog;
    const one = (r: RetrieverOptions, where: string) => {
      requireObject(r, where, "{ vector: 'visual', k: 500 }");
      const v = lookupVector(c.vectors, r.vector);
      return {
        name: v.name,
        index: v.index,
        k: r.k === undefined ? 500 : requireInteger(r.k, `${where}.k`, 1, 1_000_000, 'ERR_FUSIONRANK_INVALID_K'),
        exact: r.exact === undefined ? false : Boolean(r.exact),
        ef: r.ef === undefined ? 0 : requireInteger(r.ef, `${where}.ef`, 1, 1_000_000),
      };
    };
    if (Array.isArray(retrieve)) return retrieve.map((r, i) => one(r, `options.retrieve[${i}]`));
    if (retrieve !== undefined && (retrieve === null || typeof retrieve !== 'object')) throw typeError(invalidParameter('options.retrieve', 'a retriever, an array of retrievers or { exact: true }', retrieve));
    if (retrieve && 'vector' in retrieve) return [one(retrieve as RetrieverOptions, 'options.retrieve')];
    // Defaults: one retriever per similarity vector.
    const shared = (retrieve ?? {}) as { exact?: boolean; k?: number; ef?: number };
    return [...this.#queryVectors].map((vector) => one({ vector, ...shared }, 'options.retrieve'));
  }

  #request(request: RankRequest): NativeRankRequest {
    const r = requireObject<RankRequest>(request, 'request', '{ query: { visual: q } }');
    const c = this.#catalog;
    const queries: Array<Float32Array | null> = new Array(c.vectors.size).fill(null);
    let history: string[] | undefined;
    let towerInput: Float32Array | undefined;
    if (r.query !== undefined) {
      const q = requireObject<RankQuery>(r.query, 'request.query', '{ visual: Float32Array }');
      for (const [name, value] of Object.entries(q)) {
        if (value === undefined) continue;
        if (name === 'fromHistory') {
          history = requireIds(value, 'request.query.fromHistory');
          continue;
        }
        if (name === 'userFeatures') {
          const tower = this.#tower;
          if (!tower) throw rangeError('request.query.userFeatures needs a Ranker with options.tower (a model that turns them into a query vector)', 'ERR_FUSIONRANK_INVALID_ARGUMENT');
          if (q[tower.vector] !== undefined)
            throw rangeError(`request.query gives both userFeatures and '${tower.vector}', the query the tower makes from them; pass one`, 'ERR_FUSIONRANK_INVALID_ARGUMENT');
          towerInput = towerInputOf(tower.model, value, 'request.query.userFeatures');
          continue;
        }
        const v = lookupVector(c.vectors, name);
        if (!(value instanceof Float32Array)) throw typeError(invalidParameter(`request.query.${name}`, `a Float32Array of length ${v.dim}`, value));
        if (value.length !== v.dim) throw rangeError(invalidParameter(`request.query.${name}`, `a Float32Array of length ${v.dim}`, value), 'ERR_FUSIONRANK_DIM_MISMATCH');
        // Non-finite elements are found natively (ERR_FUSIONRANK_NON_FINITE, naming
        // the vector and the index): a JS loop here cost ~2 µs per request.
        queries[v.index] = value;
      }
    }
    if (history) {
      for (const name of this.#queryVectors) {
        const v = c.vectors.get(name)!;
        if (queries[v.index] || (towerInput && name === this.#tower!.vector)) continue;
        queries[v.index] = this.#cache.get(this.#publicCatalog, c.version(), history, name, this.#historyDecay);
      }
    }
    let now = Date.now();
    if (r.now !== undefined) {
      now = r.now instanceof Date ? r.now.getTime() : (r.now as number);
      if (typeof now !== 'number' || !Number.isFinite(now)) throw typeError(invalidParameter('request.now', 'a time (epoch ms or Date)', r.now));
    }
    let exclude: Uint32Array | undefined;
    if (r.exclude !== undefined) {
      const rows: number[] = [];
      for (const id of requireIds(r.exclude, 'request.exclude')) {
        const row = c.rowOf(id);
        if (row !== undefined) rows.push(row);
      }
      exclude = Uint32Array.from(rows);
    }
    const ruleRows = this.#rules.map((rule) => {
      const rows: number[] = [];
      for (const id of rule.ids) {
        const row = c.rowOf(id);
        if (row !== undefined) rows.push(row);
      }
      return Uint32Array.from(rows);
    });
    const filter = r.filter === undefined ? undefined : compileFilter(c, r.filter, 'request.filter');
    const k = r.k === undefined ? undefined : requireInteger(r.k, 'request.k', 1, 10000, 'ERR_FUSIONRANK_INVALID_K');
    return { queries, now, exclude, ...(filter ? { filter } : {}), ...(k ? { k } : {}), ...(towerInput ? { towerInput } : {}), ruleRows, explain: r.explain === true };
  }

  #scores(raw: unknown, rows: number): Float32Array {
    const model = this.#model!;
    if (!(raw instanceof Float32Array) || raw.length !== rows * model.outputSize)
      throw new FusionrankError(`The rerank model returned ${raw instanceof Float32Array ? raw.length : typeof raw} values; expected a Float32Array of ${rows} x ${model.outputSize}`, 'ERR_FUSIONRANK_RERANK_OUTPUT');
    if (model.outputSize === 1) return raw;
    // Several outputs: the first one is the score.
    const out = new Float32Array(rows);
    for (let i = 0; i < rows; i++) out[i] = raw[i * model.outputSize];
    return out;
  }

  /** `jsRerankUs`: the time a JavaScript rerank model took (a native one is timed natively). */
  #result(out: NativeRankResult, explain: boolean, jsRerankUs: number, start: number, version: number): RankResult {
    const c = this.#catalog;
    const S = this.#signalNames.length;
    const [rows, scores, rules, ruleDelta, figures, fused, raws, normalizeds, contributions, reranks] = out;
    const items: RankedItem[] = [];
    for (let j = 0; j < rows.length; j++) {
      const row = rows[j];
      const id = c.idOf(row);
      // Removed, or freed and given to another item while an async request ran.
      if (id === undefined || c.assignedAt(row) > version) continue;
      const item: RankedItem = { id, score: scores[j] };
      if (explain) {
        item.fused = fused![j];
        item.signals = {};
        for (let s = 0; s < S; s++) {
          const raw = raws![j * S + s];
          const normalized = normalizeds![j * S + s];
          item.signals[this.#signalNames[s]] = {
            raw: Number.isNaN(raw) ? null : raw,
            normalized: Number.isNaN(normalized) ? null : normalized,
            contribution: contributions![j * S + s],
          };
        }
        const rerank = reranks![j];
        if (!Number.isNaN(rerank)) item.rerank = rerank;
        const rule = rules[j];
        if (rule) item.rule = { kind: RULE_KINDS[rule - 1], delta: ruleDelta[j] };
      }
      items.push(item);
    }
    return {
      items,
      timings: {
        retrieveUs: figures[2],
        scoreUs: figures[3],
        rerankUs: jsRerankUs || figures[4],
        diversifyUs: figures[5],
        totalUs: (performance.now() - start) * 1000,
      },
      candidates: figures[0],
      usedIndex: figures[1] === 1,
    };
  }
}
