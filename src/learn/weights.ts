/**
 * Fitted late-fusion weights: learn the `weight` of each signal of a Ranker
 * from relevance judgements or click logs, the way RankLib fits a linear
 * ranker (coordinate ascent on the metric) or a pairwise logistic model over
 * the per-signal normalised scores, with a held-out comparison against the
 * current weights.
 *
 * What is fitted is the fused score, Σ_s w_s · norm_s (with the ranker's
 * missing-modality policy and cold-start blend): each request is ranked once
 * with a wide `pool` and `explain`, each candidate's normalised scores are
 * cached, and any weight vector is then re-scored here exactly as the native
 * fusion does (same arithmetic, same float32 rounding, same tie-break), so no
 * request is ranked again per candidate weight vector. A rerank model, MMR,
 * caps or rules reorder after fusion: such rankers are refused unless
 * `allowPostFusion` says to fit (and compare) the fused order anyway.
 */
import { invalidParameter, rangeError, typeError } from '../errors.js';
import { internalsOf, type Catalog } from '../catalog/catalog.js';
import * as check from '../eval/check.js';
import type { PropensityEstimate } from '../eval/counterfactual.js';
import { evaluate, parseMetric, type Measure } from '../eval/metrics.js';
import { paired } from '../eval/stats.js';
import type { ImpressionLog, MetricName, PairedOptions, PairedResult, Qrels, Run } from '../eval/types.js';
import type { MissingPolicy, Ranker, RankerOptions, RankRequest, RankResult, SignalOptions } from '../scoring/ranker.js';
import { rng } from '../util/random.js';

/** What to fit: a Ranker, or a catalog and the options a Ranker would be built from. */
export type FitTarget = Ranker | { catalog: Catalog; options: RankerOptions };

/**
 * How queries are split into train and test:
 * - `'time'` / `{ by: 'time' }` (default): the latest `testFraction` of the
 *   queries (by `time(query, request)`, default each request's `now`) are
 *   held out, so nothing is learned from the future of what is tested.
 *   Ties in time are broken by query id.
 * - `'random'` / `{ by: 'random', seed }`: a seeded shuffle.
 * - `{ train, test }`: explicit query ids (queries in neither are ignored).
 */
export type FitSplit =
  | 'time'
  | 'random'
  | { by: 'time'; testFraction?: number; time?: (query: string, request: RankRequest) => number | Date }
  | { by: 'random'; testFraction?: number; seed?: number }
  | { train: readonly string[]; test: readonly string[] };

export interface FitWeightsOptions extends PairedOptions {
  /** The metric to optimise and compare (any name `evaluate` parses; default `'ndcg@10'`). */
  metric?: MetricName;
  /** `'coordinate-ascent'` (default) or `'logistic'` (pairwise, RankNet-style). */
  method?: 'coordinate-ascent' | 'logistic';
  /** Train/test split (default: time-based, the latest 20 % of queries held out). */
  split?: FitSplit;
  /**
   * Candidates cached per request: each request is ranked once with this `k`
   * under the current weights (default max(200, the ranker's k), at most
   * 10000). Items outside it cannot enter a refitted ranking; the result's
   * `pool.truncated` counts requests that retrieved more.
   */
  pool?: number;
  /** Requests without labels: `'error'` (default, ERR_FUSIONRANK_MISSING_LABELS) or `'skip'`. */
  missingLabels?: 'error' | 'skip';
  /**
   * With impression logs: θ_j, the examination propensity of logged position
   * j (index 0 = position 1), or an `estimatePropensities` result. A click at
   * logged position j then counts θ_1 / max(θ_j, clip) (inverse propensity
   * scoring, 1 at position 1). Without it clicks count 1 each (naive), and a
   * warning says so.
   */
  propensities?: ArrayLike<number> | PropensityEstimate;
  /** Clipping of θ in IPS, in the units of `propensities` (default 0: none). */
  clip?: number;
  /** Gain of the metric: `'linear'` (default) or `'exponential'`, as `evaluate`. */
  gain?: 'linear' | 'exponential';
  /** Smallest label counted relevant by binary metrics (default 1), as `evaluate`. */
  relevanceLevel?: number;
  /** Fit and compare the fused order even though the ranker reorders after fusion (rerank, MMR, caps, rules). Default false: refused. */
  allowPostFusion?: boolean;
  /** Coordinate ascent: random restarts, the first from the current weights (default 5, as RankLib). */
  restarts?: number;
  /** Coordinate ascent: line-search steps per direction, each twice the last (default 25, as RankLib). */
  maxSteps?: number;
  /** Coordinate ascent: stop a restart when a full round over the signals gains less than this (default 0.001, as RankLib). */
  tolerance?: number;
  /** Coordinate ascent: the most rounds per restart (default 100). */
  maxRounds?: number;
  /** Logistic: L2 penalty on the coefficients (default 1e-3). */
  l2?: number;
  /** Logistic: the most Newton iterations (default 100). */
  iterations?: number;
}

/** One step of the fit: a coordinate-ascent round (value: train metric) or a Newton iteration (value: loss). */
export interface FitStep {
  restart: number;
  round: number;
  value: number;
  weights: Record<string, number>;
}

export interface FitWeightsResult {
  /** The fitted weights: ≥ 0, summing to 1. */
  weights: Record<string, number>;
  /** The current weights, as given (or as read from a Ranker's explanations). */
  current: Record<string, number>;
  /** The metric's canonical name (`'ndcg@10'`). */
  metric: MetricName;
  method: 'coordinate-ascent' | 'logistic';
  /** Where the labels came from: qrels, clicks counted as they are, or IPS-weighted clicks. */
  labels: 'qrels' | 'clicks' | 'ips-clicks';
  /** The metric on the train queries under the current and the fitted weights. */
  train: { queries: number; current: number; fitted: number };
  /** The metric on the held-out queries, and the paired comparison (a = current, b = fitted). */
  test: { queries: number; current: number; fitted: number; paired: PairedResult; perQuery: { current: Record<string, number>; fitted: Record<string, number> } };
  split: { by: 'time' | 'random' | 'explicit'; train: string[]; test: string[] };
  /** Coordinate ascent: metric evaluations; logistic: Newton iterations. */
  iterations: number;
  history: FitStep[];
  /** The ranker options with the fitted weights (when the target was `{ catalog, options }`). */
  options?: RankerOptions;
  /** Candidates per request: the pool asked for, the ranking depth evaluated, requests that retrieved more than the pool, mean candidates kept. */
  pool: { size: number; depth: number; truncated: number; meanCandidates: number };
  warnings: string[];
}

// ---------------------------------------------------------------------------
// Inputs

const METHODS = ['coordinate-ascent', 'logistic'] as const;
const MAX_SEED = 2 ** 32 - 1;

type Policy = { missing: 'renormalize' | 'zero' | 'default'; missingDefault: number };

function fail(message: string, code: string, range = true): never {
  throw range ? rangeError(message, code) : typeError(message, code);
}

function sample(names: readonly string[]): string {
  return names.slice(0, 5).map((n) => JSON.stringify(n)).join(', ') + (names.length > 5 ? `, … (${names.length} in all)` : '');
}

function timeOf(value: unknown, name: string): number {
  const t = value instanceof Date ? value.getTime() : value;
  if (typeof t !== 'number' || !Number.isFinite(t)) fail(invalidParameter(name, 'a time (epoch ms or Date)', value), 'ERR_FUSIONRANK_INVALID_SPLIT', typeof t === 'number');
  return t as number;
}

function fraction(value: unknown, name: string): number {
  if (value === undefined) return 0.2;
  if (typeof value !== 'number' || !(value > 0 && value < 1)) fail(invalidParameter(name, 'a number in (0, 1)', value), 'ERR_FUSIONRANK_INVALID_SPLIT', typeof value === 'number');
  return value as number;
}

/** Splits `queries` (those with labels) into train and test. */
function splitQueries(split: unknown, queries: string[], requests: Record<string, RankRequest>, defaultSeed: number): FitWeightsResult['split'] {
  const bySize = (n: number, testFraction: number) => {
    if (n < 2) fail(`A train/test split needs at least 2 labelled requests; there ${n === 1 ? 'is 1' : `are ${n}`}`, 'ERR_FUSIONRANK_INVALID_SPLIT');
    return Math.min(n - 1, Math.max(1, Math.round(testFraction * n)));
  };
  const s = split === undefined || split === 'time' ? { by: 'time' } : split === 'random' ? { by: 'random' } : split;
  if (s === null || typeof s !== 'object' || Array.isArray(s))
    fail(invalidParameter('options.split', "'time', 'random', { by: 'time' | 'random', testFraction } or { train: [...], test: [...] }", split), 'ERR_FUSIONRANK_INVALID_SPLIT', false);
  const o = s as Record<string, unknown>;
  if ('train' in o || 'test' in o) {
    const known = new Set(queries);
    const read = (value: unknown, name: string): string[] => {
      if (!Array.isArray(value) || value.length === 0) fail(invalidParameter(name, 'a non-empty array of query ids', value), 'ERR_FUSIONRANK_INVALID_SPLIT', Array.isArray(value));
      const list = value as unknown[];
      const unknown = list.filter((q) => typeof q !== 'string' || !known.has(q)).map(String);
      if (unknown.length) fail(`${name} names queries that are not labelled requests: ${sample(unknown)}`, 'ERR_FUSIONRANK_INVALID_SPLIT');
      return [...new Set(list as string[])];
    };
    const train = read(o.train, 'options.split.train');
    const test = read(o.test, 'options.split.test');
    const inTrain = new Set(train);
    const both = test.filter((q) => inTrain.has(q));
    if (both.length) fail(`options.split: queries in both train and test: ${sample(both)}`, 'ERR_FUSIONRANK_INVALID_SPLIT');
    return { by: 'explicit', train, test };
  }
  const by = check.oneOf(o.by, 'options.split.by', ['time', 'random'] as const);
  const testFraction = fraction(o.testFraction, 'options.split.testFraction');
  const nTest = bySize(queries.length, testFraction);
  if (by === 'random') {
    const seed = check.integer(o.seed, 'options.split.seed', 0, MAX_SEED, defaultSeed);
    const order = [...queries].sort();
    const random = rng(seed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    return { by, train: order.slice(nTest), test: order.slice(0, nTest) };
  }
  const time = o.time;
  if (time !== undefined && typeof time !== 'function') fail(invalidParameter('options.split.time', 'a function (query, request) => time', time), 'ERR_FUSIONRANK_INVALID_SPLIT', false);
  const untimed: string[] = [];
  const times = new Map<string, number>();
  for (const q of queries) {
    const value = time ? (time as (q: string, r: RankRequest) => unknown)(q, requests[q]) : requests[q].now;
    if (value === undefined) untimed.push(q);
    else times.set(q, timeOf(value, time ? `options.split.time(${JSON.stringify(q)})` : `requests[${JSON.stringify(q)}].now`));
  }
  if (untimed.length)
    fail(
      `The time split needs a time for every request (its \`now\`, or options.split.time); none for ${sample(untimed)}. Give them, or split: { by: 'random' }`,
      'ERR_FUSIONRANK_INVALID_SPLIT',
    );
  const order = [...queries].sort((a, b) => times.get(a)! - times.get(b)! || (a < b ? -1 : a > b ? 1 : 0));
  return { by, train: order.slice(0, order.length - nTest), test: order.slice(order.length - nTest) };
}

interface ParsedLog {
  query: string;
  shown: string[];
  clicks: Set<string>;
}

function readLogs(value: unknown[]): ParsedLog[] {
  if (value.length === 0) fail(invalidParameter('labels', 'at least one impression log', value), 'ERR_FUSIONRANK_EMPTY_INPUT');
  return value.map((entry, i) => {
    const at = `labels[${i}]`;
    const log = check.object<Record<string, unknown>>(entry, at, 'an impression log { query, shown, clicks }');
    if (typeof log.query !== 'string') throw typeError(invalidParameter(`${at}.query`, 'a query id (string)', log.query));
    if (!Array.isArray(log.shown) || log.shown.some((d) => typeof d !== 'string')) throw typeError(invalidParameter(`${at}.shown`, 'an array of document ids', log.shown));
    if (new Set(log.shown).size !== log.shown.length) fail(`${at}.shown repeats a document id`, 'ERR_FUSIONRANK_DUPLICATE_DOC');
    if (!Array.isArray(log.clicks)) throw typeError(invalidParameter(`${at}.clicks`, 'an array of clicked document ids', log.clicks));
    const shown = new Set(log.shown as string[]);
    for (const d of log.clicks)
      if (typeof d !== 'string' || !shown.has(d)) fail(invalidParameter(`${at}.clicks`, `ids of ${at}.shown (a click must be on a shown item)`, d), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    return { query: log.query, shown: log.shown as string[], clicks: new Set(log.clicks as string[]) };
  });
}

/** θ as numbers, one per position of the longest list, each finite and > 0. */
function readPropensities(value: unknown, positions: number): Float64Array {
  const source = value !== null && typeof value === 'object' && 'theta' in value ? (value as PropensityEstimate).theta : value;
  const name = source === value ? 'options.propensities' : 'options.propensities.theta';
  if (!(Array.isArray(source) || (ArrayBuffer.isView(source) && !(source instanceof DataView))))
    throw typeError(invalidParameter('options.propensities', 'an array of propensities θ_j or an estimatePropensities result', value));
  const theta = source as ArrayLike<unknown>;
  if (theta.length < positions) fail(invalidParameter(name, `at least ${positions} values (one per position of the longest shown list)`, source), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  const out = new Float64Array(theta.length);
  for (let j = 0; j < theta.length; j++) {
    const v = theta[j];
    if (typeof v !== 'number') throw typeError(invalidParameter(`${name}[${j}]`, 'a finite number > 0', v));
    if (!Number.isFinite(v)) fail(invalidParameter(`${name}[${j}]`, 'a finite number > 0', v), 'ERR_FUSIONRANK_NON_FINITE');
    if (!(v > 0)) fail(invalidParameter(`${name}[${j}]`, 'a finite number > 0', v), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    out[j] = v;
  }
  return out;
}

/** Sets an own property even for the key `__proto__`. */
function put<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

// ---------------------------------------------------------------------------
// The cached pool and the fast objective

interface QueryData {
  query: string;
  ids: string[];
  /** n × S normalised scores (NaN: missing). */
  norm: Float64Array;
  /** n × S cold-start blend factors, or null without a blend. */
  factor: Float64Array | null;
  /** The native tie-break: a lower key ranks first among equal fused scores. */
  tie: Float64Array;
  gain: Float64Array;
  rel: Uint8Array;
  judged: Uint8Array;
  /** Positive gains of every label of the query, descending (the ideal DCG's). */
  ideal: Float64Array;
  /** Relevant judged documents of the query (retrieved or not). */
  relevant: number;
  /** Results the ranker returns for this request. */
  depth: number;
}

interface Metric {
  name: string;
  measure: Measure;
  k: number;
  exponential: boolean;
  level: number;
}

/** The fused scores of one query's candidates under `w`, as the native fusion computes them. */
function fuse(q: QueryData, w: Float64Array, policy: Policy, out: Float64Array, ws: Float64Array): void {
  const S = w.length;
  const n = q.ids.length;
  const renormalize = policy.missing === 'renormalize';
  const useDefault = policy.missing === 'default';
  for (let i = 0; i < n; i++) {
    const base = i * S;
    let all = 0;
    let present = 0;
    for (let s = 0; s < S; s++) {
      const x = q.factor ? w[s] * q.factor[base + s] : w[s];
      ws[s] = x;
      all += Math.abs(x);
      if (!Number.isNaN(q.norm[base + s])) present += Math.abs(x);
    }
    const scale = renormalize ? (present > 0 ? all / present : 0) : 1;
    let total = 0;
    for (let s = 0; s < S; s++) {
      let v = q.norm[base + s];
      if (Number.isNaN(v)) {
        if (!useDefault) continue;
        v = policy.missingDefault;
      }
      total += ws[s] * v * scale;
    }
    out[i] = Math.fround(total);
  }
}

/** The top `depth` candidates, best first (fused descending, then tie key ascending); returns how many. */
function top(scores: Float64Array, tie: Float64Array, n: number, depth: number, idx: Int32Array): number {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const s = scores[i];
    if (m === depth) {
      const last = idx[m - 1];
      if (!(s > scores[last] || (s === scores[last] && tie[i] < tie[last]))) continue;
      m--;
    }
    let p = m;
    while (p > 0) {
      const o = idx[p - 1];
      if (s > scores[o] || (s === scores[o] && tie[i] < tie[o])) {
        idx[p] = o;
        p--;
      } else break;
    }
    idx[p] = i;
    m++;
  }
  return m;
}

/** The metric of one ranked list (trec_eval's definitions, no ties); NaN for recall without a relevant document. */
function metricOf(q: QueryData, idx: Int32Array, m: number, metric: Metric): number {
  const k = metric.k;
  const end = Math.min(m, k);
  switch (metric.measure) {
    case 'ndcg': {
      let dcg = 0;
      for (let p = 0; p < end; p++) dcg += q.gain[idx[p]] / Math.log2(p + 2);
      let idcg = 0;
      const iend = Math.min(q.ideal.length, k);
      for (let p = 0; p < iend; p++) idcg += q.ideal[p] / Math.log2(p + 2);
      return idcg > 0 ? dcg / idcg : 0;
    }
    case 'map': {
      if (q.relevant === 0) return 0;
      let sum = 0;
      let count = 0;
      for (let p = 0; p < end; p++)
        if (q.rel[idx[p]]) {
          count++;
          sum += count / (p + 1);
        }
      return sum / q.relevant;
    }
    case 'mrr':
      for (let p = 0; p < end; p++) if (q.rel[idx[p]]) return 1 / (p + 1);
      return 0;
    case 'hit':
      for (let p = 0; p < end; p++) if (q.rel[idx[p]]) return 1;
      return 0;
    default: {
      const judged = metric.measure === 'judged';
      const cut = metric.measure === 'rprec' ? Math.min(m, q.relevant) : end;
      let count = 0;
      for (let p = 0; p < cut; p++) count += judged ? q.judged[idx[p]] : q.rel[idx[p]];
      if (metric.measure === 'P' || judged) return count / k;
      if (q.relevant === 0) return metric.measure === 'recall' ? NaN : 0;
      return count / q.relevant;
    }
  }
}

class Objective {
  #scores = new Float64Array(256);
  #idx = new Int32Array(256);
  readonly #ws: Float64Array;
  readonly #w: Float64Array;
  constructor(
    readonly queries: QueryData[],
    readonly policy: Policy,
    readonly metric: Metric,
    signals: number,
  ) {
    this.#ws = new Float64Array(signals);
    this.#w = new Float64Array(signals);
  }

  /** The ranked candidates of query `q` under `w` (normalised to sum |w| = 1 first). */
  ranking(q: QueryData, w: Float64Array): string[] {
    const m = this.#rank(q, w);
    return Array.from(this.#idx.subarray(0, m), (i) => q.ids[i]);
  }

  /** The mean metric over the queries under `w`. */
  value(w: Float64Array): number {
    let sum = 0;
    let count = 0;
    for (const q of this.queries) {
      const m = this.#rank(q, w);
      const v = metricOf(q, this.#idx, m, this.metric);
      if (Number.isNaN(v)) continue;
      sum += v;
      count++;
    }
    return count ? sum / count : NaN;
  }

  #rank(q: QueryData, w: Float64Array): number {
    const total = w.reduce((a, b) => a + Math.abs(b), 0);
    for (let s = 0; s < w.length; s++) this.#w[s] = total > 0 ? w[s] / total : w[s];
    const n = q.ids.length;
    if (this.#scores.length < n) {
      this.#scores = new Float64Array(n);
      this.#idx = new Int32Array(n);
    }
    fuse(q, this.#w, this.policy, this.#scores, this.#ws);
    return top(this.#scores, q.tie, q.ids.length, q.depth, this.#idx);
  }
}

// ---------------------------------------------------------------------------
// Fitting

function normalized(w: Float64Array): Float64Array {
  const out = Float64Array.from(w, (x) => Math.max(0, x));
  const total = out.reduce((a, b) => a + b, 0);
  if (total > 0) for (let s = 0; s < out.length; s++) out[s] /= total;
  else out.fill(1 / out.length);
  return out;
}

interface CaSettings {
  restarts: number;
  maxSteps: number;
  tolerance: number;
  maxRounds: number;
  seed: number;
}

/** Stop growing a weight once it is this many times the others together: the order no longer changes. */
const DOMINANT = 1e4;

/**
 * RankLib's coordinate ascent (Metzler & Croft 2007), on the simplex: per
 * round, the signals in a shuffled order; per signal, a line search up then
 * down from the weight (steps 0.05·w or 0.001 when w = 0, each twice the last,
 * `maxSteps` per direction, clipped at 0), keeping a strict improvement;
 * weights renormalised to sum 1 after each. A restart ends when a round gains
 * less than `tolerance`; the first restart starts from the current weights,
 * the others from uniform random points of the simplex.
 */
function coordinateAscent(objective: Objective, start: Float64Array, o: CaSettings, names: readonly string[]) {
  const S = start.length;
  const random = rng(o.seed);
  const history: FitStep[] = [];
  let evaluations = 0;
  const f = (w: Float64Array) => {
    evaluations++;
    return objective.value(w);
  };
  const named = (w: Float64Array) => Object.fromEntries(names.map((n, s) => [n, w[s]]));
  let best: { w: Float64Array; value: number } | undefined;
  for (let restart = 0; restart < o.restarts; restart++) {
    let w: Float64Array;
    if (restart === 0) w = normalized(start);
    else w = normalized(Float64Array.from({ length: S }, () => -Math.log(1 - random())));
    let current = f(w);
    history.push({ restart, round: 0, value: current, weights: named(w) });
    for (let round = 1; S > 1 && round <= o.maxRounds; round++) {
      const roundStart = current;
      const order = Array.from({ length: S }, (_, s) => s);
      for (let i = S - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      for (const s of order) {
        const orig = w[s];
        let bestValue = current;
        let bestWeight = orig;
        let improved = false;
        for (const dir of [1, -1]) {
          if (dir < 0 && orig === 0) continue;
          let step = dir * (orig > 0 ? Math.max(0.05 * orig, 0.001) : 0.001);
          let total = step;
          for (let j = 0; j < o.maxSteps; j++) {
            const weight = Math.max(0, orig + total);
            w[s] = weight;
            const others = w.reduce((a, b) => a + b, 0) - weight;
            if (others <= 0 && weight <= 0) break;
            const v = f(w);
            if (v > bestValue) {
              bestValue = v;
              bestWeight = weight;
              improved = true;
            }
            if (weight === 0 || weight > DOMINANT * others) break;
            step *= 2;
            total += step;
          }
          if (improved) break;
        }
        w[s] = bestWeight;
        if (improved) {
          w = normalized(w);
          current = bestValue;
        }
      }
      history.push({ restart, round, value: current, weights: named(w) });
      if (!(current - roundStart >= o.tolerance)) break;
    }
    if (best === undefined || current > best.value) best = { w, value: current };
  }
  return { weights: best!.w, value: best!.value, evaluations, history };
}

/** Solves the S×S system A x = b (Gaussian elimination with partial pivoting); A and b are overwritten. */
function solve(A: Float64Array, b: Float64Array, S: number): Float64Array {
  for (let c = 0; c < S; c++) {
    let p = c;
    for (let r = c + 1; r < S; r++) if (Math.abs(A[r * S + c]) > Math.abs(A[p * S + c])) p = r;
    if (p !== c) {
      for (let k = 0; k < S; k++) [A[c * S + k], A[p * S + k]] = [A[p * S + k], A[c * S + k]];
      [b[c], b[p]] = [b[p], b[c]];
    }
    const d = A[c * S + c];
    if (d === 0) continue;
    for (let r = c + 1; r < S; r++) {
      const f = A[r * S + c] / d;
      if (f === 0) continue;
      for (let k = c; k < S; k++) A[r * S + k] -= f * A[c * S + k];
      b[r] -= f * b[c];
    }
  }
  const x = new Float64Array(S);
  for (let r = S - 1; r >= 0; r--) {
    let v = b[r];
    for (let k = r + 1; k < S; k++) v -= A[r * S + k] * x[k];
    x[r] = A[r * S + r] !== 0 ? v / A[r * S + r] : 0;
  }
  return x;
}

/** log(1 + e^−z), stable. */
function softplusNeg(z: number): number {
  return z > 0 ? Math.log1p(Math.exp(-z)) : -z + Math.log1p(Math.exp(z));
}

/**
 * Pairwise logistic regression (RankNet with a linear scorer, no intercept):
 * per query, every pair of candidates (i, j) with label_i > label_j (an
 * unlabelled candidate has label 0) adds (label_i − label_j) ·
 * log(1 + e^{−w·(x_i − x_j)}), the pairs of a query weighted to sum 1 so each
 * query counts the same; plus (l2 / 2)·|w|². x: the normalised scores times
 * the blend factor, a missing one 0 (its `missing: { default }` value under
 * that policy). Minimised by Newton's method with step halving.
 */
function logisticPairs(queries: QueryData[], policy: Policy, S: number, l2: number, maxIterations: number, names: readonly string[]) {
  const diffs: number[] = [];
  const weights: number[] = [];
  const x = (q: QueryData, i: number, s: number) => {
    let v = q.norm[i * S + s];
    if (Number.isNaN(v)) v = policy.missing === 'default' ? policy.missingDefault : 0;
    return q.factor ? v * q.factor[i * S + s] : v;
  };
  for (const q of queries) {
    const n = q.ids.length;
    const start = weights.length;
    let total = 0;
    for (let i = 0; i < n; i++) {
      if (!(q.gain[i] > 0)) continue;
      for (let j = 0; j < n; j++) {
        const a = q.gain[i] - q.gain[j];
        if (!(a > 0)) continue;
        for (let s = 0; s < S; s++) diffs.push(x(q, i, s) - x(q, j, s));
        weights.push(a);
        total += a;
      }
    }
    for (let p = start; p < weights.length; p++) weights[p] /= total;
  }
  const P = weights.length;
  const Q = Math.max(1, queries.filter((q) => q.gain.some((g) => g > 0)).length);
  const loss = (w: Float64Array) => {
    let sum = 0;
    for (let p = 0; p < P; p++) {
      let z = 0;
      for (let s = 0; s < S; s++) z += w[s] * diffs[p * S + s];
      sum += weights[p] * softplusNeg(z);
    }
    let reg = 0;
    for (let s = 0; s < S; s++) reg += w[s] * w[s];
    return sum / Q + (l2 / 2) * reg;
  };
  let w = new Float64Array(S);
  let value = loss(w);
  const history: FitStep[] = [{ restart: 0, round: 0, value, weights: Object.fromEntries(names.map((n) => [n, 0])) }];
  let iterations = 0;
  for (let it = 1; it <= maxIterations && P > 0; it++) {
    iterations = it;
    const g = new Float64Array(S);
    const H = new Float64Array(S * S);
    for (let p = 0; p < P; p++) {
      let z = 0;
      for (let s = 0; s < S; s++) z += w[s] * diffs[p * S + s];
      const sig = 1 / (1 + Math.exp(z)); // σ(−z)
      const a = weights[p] / Q;
      const h = a * sig * (1 - sig);
      for (let s = 0; s < S; s++) {
        const d = diffs[p * S + s];
        g[s] -= a * sig * d;
        for (let t = 0; t < S; t++) H[s * S + t] += h * d * diffs[p * S + t];
      }
    }
    for (let s = 0; s < S; s++) {
      g[s] += l2 * w[s];
      H[s * S + s] += l2 + 1e-12;
    }
    const delta = solve(H, Float64Array.from(g), S);
    let t = 1;
    let next = w;
    let nextValue = value;
    for (let half = 0; half < 30; half++, t /= 2) {
      next = Float64Array.from(w, (v, s) => v - t * delta[s]);
      nextValue = loss(next);
      if (nextValue <= value) break;
    }
    const moved = Math.sqrt(delta.reduce((a, d) => a + d * d, 0)) * t;
    const gained = value - nextValue;
    if (nextValue <= value) {
      w = next;
      value = nextValue;
    }
    history.push({ restart: 0, round: it, value, weights: Object.fromEntries(names.map((n, s) => [n, w[s]])) });
    if (moved < 1e-10 || gained < 1e-12) break;
  }
  return { coefficients: w, iterations, history, pairs: P };
}

// ---------------------------------------------------------------------------
// fitWeights

function isRanker(value: unknown): value is Ranker {
  return value !== null && typeof value === 'object' && typeof (value as Ranker).rank === 'function' && Array.isArray((value as Ranker).signals);
}

function policyOf(missing: MissingPolicy | undefined): Policy {
  if (missing !== null && typeof missing === 'object') return { missing: 'default', missingDefault: missing.default };
  // 'drop' removes the candidates missing a weighted signal before fusion; the rest fuse as under 'zero'.
  return { missing: missing === 'zero' || missing === 'drop' ? 'zero' : 'renormalize', missingDefault: 0 };
}

interface Resolved {
  ranker: Ranker;
  names: string[];
  policy: Policy;
  rankerOptions?: RankerOptions;
  catalog?: Catalog;
  blend?: { groups: Map<string, number>; field: string; k: number };
}

/** The ranker to pool with, its signals, and what fusion it does. */
async function resolveTarget(target: unknown, allowPostFusion: boolean, warnings: string[]): Promise<Resolved> {
  if (isRanker(target)) return { ranker: target, names: [...target.signals], policy: { missing: 'renormalize', missingDefault: 0 } };
  const t = check.object<{ catalog: Catalog; options: RankerOptions }>(target, 'target', 'a Ranker or { catalog, options }');
  const ro = check.object<RankerOptions>(t.options, 'target.options', '{ signals: { ... } }');
  check.object(ro.signals, 'target.options.signals', "{ visual: { kind: 'similarity', vector: 'visual', weight: 1 } }");
  const post = [ro.rerank !== undefined && 'rerank', ro.diversity !== undefined && 'diversity', ro.rules !== undefined && ro.rules.length > 0 && 'rules'].filter(Boolean);
  if (post.length && !allowPostFusion)
    fail(
      `fitWeights fits the fused score; these options reorder after fusion (${post.join(', ')}), so the fitted order is not the ranker's. Pass allowPostFusion: true to fit and compare the fused order anyway`,
      'ERR_FUSIONRANK_UNSUPPORTED_RANKER',
    );
  if (post.length) warnings.push(`the ranker's ${post.join(', ')} stage(s) were left out: weights fitted and compared on the fused order`);
  const { Ranker: RankerClass } = await import('../scoring/ranker.js');
  // Only fusion: the pool is the fused top `pool`, whatever a rerank or MMR would keep.
  const { rerank: _rerank, diversity: _diversity, rules: _rules, ...fusionOnly } = ro;
  const ranker = new RankerClass(t.catalog, fusionOnly);
  let blend: Resolved['blend'];
  if (ro.blend) {
    const groups = new Map<string, number>();
    for (const n of ro.blend.content) groups.set(n, 1);
    for (const n of ro.blend.behavior) groups.set(n, 2);
    blend = { groups, field: ro.blend.byField, k: ro.blend.k ?? 20 };
  }
  return { ranker, names: [...ranker.signals], policy: policyOf(ro.missing), rankerOptions: ro, catalog: t.catalog, blend };
}

function requestTable(requests: unknown): Record<string, RankRequest> {
  const table = check.object<Record<string, RankRequest>>(requests, 'requests', 'an object of { query: RankRequest }');
  const queries = Object.keys(table);
  if (queries.length === 0) fail(invalidParameter('requests', 'at least one request', requests), 'ERR_FUSIONRANK_EMPTY_INPUT');
  for (const q of queries) check.object(table[q], `requests[${JSON.stringify(q)}]`, 'a RankRequest object');
  return table;
}

/**
 * Ranks each request once under the current weights (k = pool, explain) and
 * caches its candidates; reads the current weights (from the options, or
 * back from a Ranker's explanations).
 */
function cachePool(
  r: Resolved,
  table: Record<string, RankRequest>,
  used: string[],
  qrels: Qrels,
  shownByQuery: Map<string, Set<string>> | undefined,
  poolOption: unknown,
  metric: Metric,
  allowPostFusion: boolean,
  warnings: string[],
): { data: Map<string, QueryData>; current: Float64Array; pool: FitWeightsResult['pool'] } {
  const { ranker, names, catalog, blend } = r;
  const S = names.length;
  const rankerK = ranker.k;
  const depths = new Map<string, number>();
  for (const q of used) {
    const k = table[q].k;
    depths.set(q, k === undefined ? rankerK : check.integer(k, `requests[${JSON.stringify(q)}].k`, 1, 10000, undefined, 'ERR_FUSIONRANK_INVALID_K'));
  }
  const maxDepth = Math.max(...depths.values());
  const pool = check.integer(poolOption, 'options.pool', 1, 10000, Math.min(10000, Math.max(200, maxDepth)));
  if (pool < maxDepth) fail(invalidParameter('options.pool', `an integer ≥ the ranking depth (${maxDepth})`, poolOption), 'ERR_FUSIONRANK_INVALID_K');
  const rowOf = catalog ? internalsOf(catalog).rowOf : undefined;
  const blendIndex = blend ? names.map((n) => blend.groups.get(n) ?? 0) : undefined;

  let truncated = 0;
  let candidates = 0;
  let missingShown = 0;
  let postFusionSeen = false;
  const derived: Array<number | undefined> = new Array(S).fill(undefined);
  let derivedMismatch = false;
  let rankerMissing = false;
  const data = new Map<string, QueryData>();
  for (const q of used) {
    const result: RankResult = ranker.rank({ ...table[q], k: pool, explain: true });
    if (result.candidates > pool) truncated++;
    let items = result.items;
    if (items.some((it, j) => it.rerank !== undefined || it.rule !== undefined || (j > 0 && it.fused! > items[j - 1].fused!))) postFusionSeen = true;
    const shown = shownByQuery?.get(q);
    if (shown) {
      const inPool = items.filter((it) => shown.has(it.id));
      missingShown += shown.size - inPool.length;
      items = inPool;
    }
    const n = items.length;
    candidates += n;
    const norm = new Float64Array(n * S);
    const factor = blendIndex ? new Float64Array(n * S) : null;
    const tie = new Float64Array(n);
    const labelsOf = Object.hasOwn(qrels, q) ? qrels[q] : {};
    const qd: QueryData = {
      query: q,
      ids: items.map((it) => it.id),
      norm,
      factor,
      tie,
      gain: new Float64Array(n),
      rel: new Uint8Array(n),
      judged: new Uint8Array(n),
      ideal: Float64Array.from(
        Object.values(labelsOf)
          .filter((l) => l > 0)
          .map((l) => (metric.exponential ? 2 ** l - 1 : l)),
      ).sort((a, b) => b - a),
      relevant: Object.values(labelsOf).filter((l) => l >= metric.level).length,
      depth: depths.get(q)!,
    };
    items.forEach((it, i) => {
      let complete = true;
      names.forEach((name, s) => {
        const e = it.signals![name];
        const v = e.normalized === null ? NaN : e.normalized;
        norm[i * S + s] = v;
        if (Number.isNaN(v)) complete = false;
      });
      if (!catalog) {
        if (!complete) rankerMissing = true;
        else
          names.forEach((name, s) => {
            const e = it.signals![name];
            if (Math.abs(e.normalized!) < 1e-6) return;
            const w = e.contribution / e.normalized!;
            const seen = derived[s];
            if (seen === undefined) derived[s] = w;
            else if (Math.abs(seen - w) > 1e-3 * Math.max(Math.abs(seen), Math.abs(w), 1e-6)) derivedMismatch = true;
          });
      }
      if (factor) {
        const raw = catalog!.get(it.id)?.fields[blend!.field];
        const interactions = typeof raw === 'number' && raw >= 0 ? raw : 0;
        const alpha = interactions / (interactions + blend!.k);
        for (let s = 0; s < S; s++) factor[i * S + s] = blendIndex![s] === 1 ? 1 - alpha : blendIndex![s] === 2 ? alpha : 1;
      }
      // The native tie-break is the catalog row; a Ranker's catalog is not visible, so its pool order stands in.
      tie[i] = rowOf ? (rowOf(it.id) ?? i) : i;
      if (Object.hasOwn(labelsOf, it.id)) {
        const label = labelsOf[it.id];
        qd.judged[i] = 1;
        qd.gain[i] = label > 0 ? (metric.exponential ? 2 ** label - 1 : label) : 0;
        qd.rel[i] = label >= metric.level ? 1 : 0;
      }
    });
    data.set(q, qd);
  }
  if (truncated)
    warnings.push(`${truncated} of ${used.length} requests retrieved more candidates than the pool (${pool}): items outside it cannot enter the fitted ranking; a larger pool makes the comparison exact`);
  if (missingShown) warnings.push(`${missingShown} logged (query, item) impressions were not in the ranker's pool and are left out`);

  let current: Float64Array;
  if (r.rankerOptions) {
    current = Float64Array.from(names, (n) => (r.rankerOptions!.signals[n] as SignalOptions).weight);
  } else {
    if (postFusionSeen && !allowPostFusion)
      fail(
        'fitWeights fits the fused score; this Ranker reorders after fusion (a rerank, rules, MMR or caps: its order is not by the fused score). Pass allowPostFusion: true to fit and compare the fused order anyway',
        'ERR_FUSIONRANK_UNSUPPORTED_RANKER',
      );
    if (postFusionSeen) warnings.push('the Ranker reorders after fusion: weights fitted and compared on the fused order');
    if (rankerMissing || derivedMismatch)
      fail(
        `fitWeights cannot read this Ranker's weights back from its explanations (${rankerMissing ? 'candidates with a missing signal: the missing policy is not visible' : 'the weights differ between items: a cold-start blend'}); pass { catalog, options } instead`,
        'ERR_FUSIONRANK_UNSUPPORTED_RANKER',
      );
    const unread = names.filter((_, s) => derived[s] === undefined);
    if (unread.length) warnings.push(`no candidate had a non-zero normalised score for ${unread.join(', ')}: its current weight is taken as 0`);
    current = Float64Array.from(derived, (w) => w ?? 0);
  }
  return { data, current, pool: { size: pool, depth: maxDepth, truncated, meanCandidates: candidates / used.length } };
}

/**
 * The fused ranking of each request under `weights`, re-scored from the
 * cached pool exactly as `fitWeights` does (top `k` of each request). For
 * tests and debugging: it should equal the order of a Ranker built with
 * those weights (without rerank, MMR or rules) when the pool holds every
 * candidate.
 * @internal
 * @example
 * const orders = await fusedRankings({ catalog, options }, { q1: { query: { text: q } } }, { text: 0.7, likes: 0.3 }, { pool: 500 });
 * orders.q1; // ['p7', 'p2', …]
 * @throws what `fitWeights` throws for the target and requests; ERR_FUSIONRANK_UNKNOWN_SIGNAL for a weight of no signal
 */
export async function fusedRankings(target: FitTarget, requests: Record<string, RankRequest>, weights: Record<string, number>, options: { pool?: number } = {}): Promise<Record<string, string[]>> {
  const warnings: string[] = [];
  const resolved = await resolveTarget(target, false, warnings);
  const table = requestTable(requests);
  const w = check.object<Record<string, number>>(weights, 'weights', '{ signal: weight }');
  for (const name of Object.keys(w))
    if (!resolved.names.includes(name)) fail(`weights: unknown signal '${name}'; valid signals: ${resolved.names.join(', ')}`, 'ERR_FUSIONRANK_UNKNOWN_SIGNAL');
  const vector = Float64Array.from(resolved.names, (n) => check.number(w[n] ?? 0, `weights.${n}`, -Number.MAX_VALUE, Number.MAX_VALUE));
  const metric: Metric = { name: 'ndcg', measure: 'ndcg', k: Infinity, exponential: false, level: 1 };
  const { data } = cachePool(resolved, table, Object.keys(table), {}, undefined, options.pool, metric, false, warnings);
  const scorer = new Objective([], resolved.policy, metric, resolved.names.length);
  const out: Record<string, string[]> = {};
  for (const [q, qd] of data) put(out, q, scorer.ranking(qd, vector));
  return out;
}

/**
 * Fits the late-fusion weights of a ranker's signals to relevance
 * judgements (qrels) or click logs, on a train split of the requests, and
 * compares the fitted weights with the current ones on the held-out split.
 *
 * - Each request is ranked once under the current weights with `k = pool`
 *   and `explain`; its candidates' normalised scores are cached and every
 *   weight vector is re-scored from them (the fused score, exactly as the
 *   native fusion computes it, including the missing policy and the
 *   cold-start blend). Metrics read the top `depth` of that order, depth
 *   being the request's `k` or the ranker's: what the ranker would return.
 * - `method: 'coordinate-ascent'` (default) maximises `metric` on the train
 *   queries as RankLib does (see {@link FitWeightsOptions}); `'logistic'`
 *   fits a pairwise logistic model over the normalised scores, L2-penalised,
 *   and takes its coefficients clipped at 0. Either way the weights returned
 *   are ≥ 0 and sum to 1 (the fused order does not depend on their scale).
 * - Labels: qrels, or impression logs `{ query, shown, clicks }` (query =
 *   the request's key): a document's label is the sum over its clicks of
 *   θ_1/θ_j (IPS, with `propensities`) or of 1 (naive), and each query's
 *   candidates are restricted to the documents its logs showed (the fitted
 *   ranking reorders the logged lists, as `counterfactual` assumes).
 * - Target: a `Ranker` (its current weights are read back from its
 *   explanations, contribution / normalised score; it must not blend, nor
 *   have candidates with a missing signal, since neither is visible from
 *   outside) or `{ catalog, options }` (anything a Ranker takes; the result
 *   then also holds `options` with the fitted weights).
 *
 * @example
 * // rankerOptions weigh text 0.1, visual 0.1, likes 0.8; the qrels came from 0.6 / 0.3 / 0.1
 * // (test/learn-weights.test.ts: 100 requests, the latest 20 held out)
 * const fit = await fitWeights({ catalog, options: rankerOptions }, requests, qrels, { metric: 'ndcg@10', pool: 300 });
 * fit.weights; // { text: 0.602, visual: 0.298, likes: 0.100 }
 * [fit.test.current, fit.test.fitted]; // [0.372, 1]
 * fit.test.paired; // { delta: 0.628, ci95: [0.576, 0.680], pRandomization: 0.0001, wins: 20, … }
 * const ranker = new Ranker(catalog, fit.options!);
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when target, requests, labels or options have the wrong shape
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there is no request (or no impression log)
 * @throws {RangeError} ERR_FUSIONRANK_MISSING_LABELS when requests have no qrels / no logs (the message names some; `missingLabels: 'skip'` drops them)
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_METRIC / ERR_FUSIONRANK_INVALID_K for a metric that does not parse
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_SPLIT for a bad split: testFraction outside (0, 1), fewer than 2 labelled requests, unknown or overlapping explicit ids, a request without a time under the time split
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE / ERR_FUSIONRANK_INVALID_ARGUMENT for a NaN, infinite or non-positive propensity, or fewer than the longest shown list
 * @throws {RangeError} ERR_FUSIONRANK_UNSUPPORTED_RANKER when the ranker reorders after fusion (rerank, MMR, caps, rules) without `allowPostFusion`, or a Ranker target whose weights cannot be read back
 * @throws whatever `new Ranker` and `ranker.rank` throw for bad options or requests
 */
export async function fitWeights(
  target: FitTarget,
  requests: Record<string, RankRequest>,
  labels: Qrels | readonly ImpressionLog[],
  options: FitWeightsOptions = {},
): Promise<FitWeightsResult> {
  const o = check.options<FitWeightsOptions>(options, 'options');
  const metricInfo = parseMetric(o.metric ?? 'ndcg@10');
  const method = check.oneOf(o.method, 'options.method', METHODS, 'coordinate-ascent');
  const seed = check.integer(o.seed, 'options.seed', 0, MAX_SEED, 42);
  const missingLabels = check.oneOf(o.missingLabels, 'options.missingLabels', ['error', 'skip'] as const, 'error');
  const gain = check.oneOf(o.gain, 'options.gain', ['linear', 'exponential'] as const, 'linear');
  const level = check.number(o.relevanceLevel, 'options.relevanceLevel', Number.MIN_VALUE, Number.MAX_VALUE, 1);
  const clip = check.number(o.clip, 'options.clip', 0, Number.MAX_VALUE, 0);
  const ca: CaSettings = {
    restarts: check.integer(o.restarts, 'options.restarts', 1, 1000, 5),
    maxSteps: check.integer(o.maxSteps, 'options.maxSteps', 1, 64, 25),
    tolerance: check.number(o.tolerance, 'options.tolerance', 0, 1, 0.001),
    maxRounds: check.integer(o.maxRounds, 'options.maxRounds', 1, 100000, 100),
    seed,
  };
  const l2 = check.number(o.l2, 'options.l2', 0, 1e6, 1e-3);
  const maxIterations = check.integer(o.iterations, 'options.iterations', 1, 10000, 100);
  if (o.allowPostFusion !== undefined && typeof o.allowPostFusion !== 'boolean') throw typeError(invalidParameter('options.allowPostFusion', 'a boolean', o.allowPostFusion));
  const allowPostFusion = o.allowPostFusion === true;
  const metric: Metric = { name: metricInfo.name, measure: metricInfo.measure, k: metricInfo.k ?? Infinity, exponential: gain === 'exponential', level };
  const warnings: string[] = [];

  // ---- requests, target, labels
  const table = requestTable(requests);
  const resolved = await resolveTarget(target, allowPostFusion, warnings);
  const { names, policy, rankerOptions } = resolved;
  const S = names.length;
  let queries = Object.keys(table);
  let qrels: Qrels;
  let shownByQuery: Map<string, Set<string>> | undefined;
  let labelKind: FitWeightsResult['labels'] = 'qrels';
  if (Array.isArray(labels)) {
    const logs = readLogs(labels);
    const longest = logs.reduce((n, l) => Math.max(n, l.shown.length), 0);
    let theta: Float64Array | undefined;
    if (o.propensities !== undefined) {
      theta = readPropensities(o.propensities, longest);
      labelKind = 'ips-clicks';
    } else {
      labelKind = 'clicks';
      warnings.push("clicks counted as they are (no propensities): the logging ranker's position bias leaks into the fitted weights");
    }
    qrels = {};
    shownByQuery = new Map();
    for (const log of logs) {
      let shown = shownByQuery.get(log.query);
      if (!shown) shownByQuery.set(log.query, (shown = new Set()));
      if (!Object.hasOwn(qrels, log.query)) put(qrels, log.query, {});
      const docs = qrels[log.query];
      log.shown.forEach((d, j) => {
        shown.add(d);
        if (!log.clicks.has(d)) return;
        const w = theta ? theta[0] / Math.max(theta[j], clip) : 1;
        put(docs, d, (Object.hasOwn(docs, d) ? docs[d] : 0) + w);
      });
    }
  } else {
    qrels = check.scoresByQuery(labels, 'labels', 'label');
    if (o.propensities !== undefined) throw typeError('options.propensities weights clicks, but labels are qrels: pass impression logs { query, shown, clicks }[] as labels, or drop propensities');
  }
  const unlabelled = queries.filter((q) => !Object.hasOwn(qrels, q));
  if (unlabelled.length) {
    const what = shownByQuery ? 'impression logs' : 'qrels';
    if (missingLabels === 'error')
      fail(`${unlabelled.length} of ${queries.length} requests have no ${what}: ${sample(unlabelled)}. Label them, or pass missingLabels: 'skip'`, 'ERR_FUSIONRANK_MISSING_LABELS');
    warnings.push(`${unlabelled.length} requests without ${what} skipped: ${sample(unlabelled)}`);
    const skip = new Set(unlabelled);
    queries = queries.filter((q) => !skip.has(q));
  }

  // ---- split, then rank each request once
  const split = splitQueries(o.split, queries, table, seed);
  const { data, current, pool } = cachePool(resolved, table, [...split.train, ...split.test], qrels, shownByQuery, o.pool, metric, allowPostFusion, warnings);
  if (current.some((w) => w < 0)) warnings.push('current weights below 0 are fitted from 0: fitted weights are ≥ 0');

  // ---- fit
  const train = split.train.map((q) => data.get(q)!);
  const test = split.test.map((q) => data.get(q)!);
  const objective = new Objective(train, policy, metric, S);
  let fitted: Float64Array;
  let iterations: number;
  let history: FitStep[];
  if (S === 1) {
    fitted = Float64Array.of(1);
    iterations = 0;
    history = [];
  } else if (method === 'coordinate-ascent') {
    const r = coordinateAscent(objective, current, ca, names);
    fitted = r.weights;
    iterations = r.evaluations;
    history = r.history;
  } else {
    const r = logisticPairs(train, policy, S, l2, maxIterations, names);
    iterations = r.iterations;
    history = r.history;
    if (r.pairs === 0) warnings.push('no (more relevant, less relevant) pair among the train candidates: the current weights are kept');
    if (r.pairs === 0 || !r.coefficients.some((c) => c > 0)) {
      if (r.pairs > 0) warnings.push('every logistic coefficient is ≤ 0: the current weights are kept');
      fitted = normalized(current);
    } else fitted = normalized(r.coefficients);
  }

  // ---- evaluate: positional runs of the top `depth`, scored by evaluate()
  const runOf = (set: QueryData[], w: Float64Array): Run => {
    const run: Run = {};
    const scorer = new Objective([], policy, metric, S);
    for (const q of set) {
      const order = scorer.ranking(q, w);
      const docs: Record<string, number> = {};
      order.forEach((id, r) => put(docs, id, order.length - r));
      put(run, q.query, docs);
    }
    return run;
  };
  const evaluateOptions = { gain, relevanceLevel: level };
  const qrelsOf = (set: string[]): Qrels => {
    const out: Qrels = {};
    for (const q of set) put(out, q, qrels[q]);
    return out;
  };
  const score = (set: string[], w: Float64Array) => evaluate(qrelsOf(set), runOf(set.map((q) => data.get(q)!), w), metric.name, evaluateOptions);
  const trainCurrent = score(split.train, current);
  const trainFitted = score(split.train, fitted);
  const testCurrent = score(split.test, current);
  const testFitted = score(split.test, fitted);
  const a = testCurrent.perQuery[metric.name];
  const b = testFitted.perQuery[metric.name];
  const comparison = paired(a, b, { permutations: o.permutations, bootstrap: o.bootstrap, seed: o.seed });

  const weights = Object.fromEntries(names.map((n, s) => [n, fitted[s]]));
  const result: FitWeightsResult = {
    weights,
    current: Object.fromEntries(names.map((n, s) => [n, current[s]])),
    metric: metric.name,
    method,
    labels: labelKind,
    train: { queries: split.train.length, current: trainCurrent.mean[metric.name], fitted: trainFitted.mean[metric.name] },
    test: { queries: split.test.length, current: testCurrent.mean[metric.name], fitted: testFitted.mean[metric.name], paired: comparison, perQuery: { current: a, fitted: b } },
    split,
    iterations,
    history,
    pool,
    warnings,
  };
  if (rankerOptions) {
    const signals: Record<string, SignalOptions> = {};
    for (const n of names) signals[n] = { ...rankerOptions.signals[n], weight: weights[n] } as SignalOptions;
    result.options = { ...rankerOptions, signals };
  }
  return result;
}
