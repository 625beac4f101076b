/**
 * Fusion baselines: combine several runs into one, the unsupervised methods
 * of the IR literature with ranx's conventions (ranx is what users compare
 * against), every ranking read in trec_eval's order (`rankDocs`).
 */
import { invalidParameter, rangeError, typeError } from '../errors.js';
import * as check from './check.js';
import { rankDocs } from './order.js';
import type { Run } from './types.js';

/**
 * How the (normalised) runs combine, per query and document d; w_i is run i's
 * weight (default 1), s_i(d) its normalised score, r_i(d) d's rank in run i
 * (1 = first, trec_eval's order: score descending, ties by doc id descending),
 * n(d) the number of runs that hold d for the query:
 *
 * - `'sum'` CombSUM (Fox & Shaw 1993): Σ_i w_i s_i(d), a missing doc adding 0.
 * - `'wsum'` weighted sum: the same formula, named as ranx names it (weights default to 1, so without weights it equals `'sum'`).
 * - `'max'` CombMAX (Fox & Shaw 1993): max over the runs holding d of w_i s_i(d).
 * - `'mnz'` CombMNZ (Fox & Shaw 1993): Σ_i w_i s_i(d) · n(d).
 * - `'mixed'` (Wu & Crestani 2002, as ranx): Σ_i w_i s_i(d) · √n(d).
 * - `'rrf'` Reciprocal Rank Fusion (Cormack et al. 2009): Σ_i w_i / (k + r_i(d)), k default 60.
 * - `'isr'` Inverse Square Rank (Mourão et al. 2015): Σ_i w_i / r_i(d)² · n(d).
 * - `'rbc'` Rank-Biased Centroids (Bailey et al. 2017): Σ_i w_i (1 − φ) φ^(r_i(d) − 1), φ default 0.8.
 * - `'borda'` BordaFuse (Aslam & Montague 2001): Σ_i w_i B_i(d) with c candidates
 *   (the union of the query's documents over the runs that hold the query):
 *   B_i(d) = c − r_i(d) + 1 when run i holds d, else (c − |run i| + 1) / 2
 *   (the unranked share the leftover points equally, as ranx).
 *
 * The rank-based methods (`rrf`, `isr`, `rbc`, `borda`) read only each run's
 * order, which every norm but `'borda'` preserves.
 */
export type FusionMethod = 'sum' | 'max' | 'mnz' | 'wsum' | 'rrf' | 'isr' | 'rbc' | 'borda' | 'mixed';

/**
 * How each run's scores for a query are normalised before fusion (ranx's
 * normalisations; a denominator is floored at 1e-9 as ranx does, so a list
 * of equal scores maps to 0 for `'minmax'`, `'sum'` and `'zmuv'`):
 *
 * - `'none'`: raw scores.
 * - `'minmax'` (default): (s − min) / (max − min).
 * - `'max'`: s / max (a max ≤ 0 divides by 1e-9, as ranx).
 * - `'sum'`: (s − min) / Σ(s − min).
 * - `'zmuv'`: (s − mean) / sd, sd the population standard deviation.
 * - `'rank'`: 1 − (r − 1) / |run|, r the 1-based rank in the run.
 * - `'borda'`: over the c candidates of the query, 1 − (r − 1) / c for a
 *   document the run holds, (1/2) − (|run| − 1) / (2c) for one it lacks, so
 *   after it every run holds every candidate.
 */
export type FusionNorm = 'none' | 'minmax' | 'max' | 'sum' | 'zmuv' | 'rank' | 'borda';

export interface FuseOptions {
  method: FusionMethod;
  /** Normalisation applied to each run per query before fusing (default `'minmax'`, ranx's `fuse` default, for every method). */
  norm?: FusionNorm;
  /** One finite weight per run (in `Object.keys` order for a record of runs); default 1 each. Every method multiplies run i's contribution by w_i. */
  weights?: readonly number[];
  /** RRF's k (default 60), a finite number ≥ 0. */
  k?: number;
  /** RBC's persistence φ (default 0.8), in [0, 1). */
  phi?: number;
}

const METHODS: readonly FusionMethod[] = ['sum', 'max', 'mnz', 'wsum', 'rrf', 'isr', 'rbc', 'borda', 'mixed'];
const NORMS: readonly FusionNorm[] = ['none', 'minmax', 'max', 'sum', 'zmuv', 'rank', 'borda'];
/** ranx's floor for every normalisation denominator. */
const MIN_DENOMINATOR = 1e-9;

/**
 * Fuses runs into one run, query by query, over the union of the documents of
 * the runs that hold the query (a run without the query takes no part in it;
 * a run holding the query with no document takes part, e.g. as a voter that
 * ranks nothing in Borda). The result holds every query of any run, each
 * query's documents inserted best first; its scores are the fused values of
 * {@link FusionMethod} after the {@link FusionNorm}.
 *
 * Differences from ranx: one run is enough (ranx asks for two), runs need not
 * hold the same queries, ties are broken by doc id descending (trec_eval's
 * order), and `weights` apply to every method (ranx's `wsum`, `mixed`,
 * weighted BordaFuse and weighted RRF read them; with the default weights of 1
 * every method equals ranx's unweighted one).
 *
 * @example
 * const bm25 = { q1: { a: 12.1, b: 9.3, c: 4.0 } };
 * const dense = { q1: { b: 0.91, c: 0.88, d: 0.42 } };
 * fuse([bm25, dense], { method: 'rrf' }).q1;
 * // { b: 1/62 + 1/61, c: 1/63 + 1/62, a: 1/61, d: 1/63 }
 * fuse({ bm25, dense }, { method: 'wsum', norm: 'minmax', weights: [0.3, 0.7] });
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when runs is not an array or record of runs, a run is not `{ query: { doc: number } }`, or options is not an object
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when method or norm is unknown, k is negative, or phi is outside [0, 1)
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there is no run
 * @throws {RangeError} ERR_FUSIONRANK_LENGTH_MISMATCH when weights does not hold one weight per run
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a score, weight, k or phi is NaN or ±Infinity
 */
export function fuse(runs: readonly Run[] | Record<string, Run>, options: FuseOptions): Run {
  const list = readRuns(runs);
  const o = check.object<Partial<FuseOptions>>(options, 'options', 'an options object');
  const method = check.oneOf(o.method, 'options.method', METHODS);
  const norm = check.oneOf(o.norm, 'options.norm', NORMS, 'minmax');
  const weights = readWeights(o.weights, list.length);
  const k = check.number(o.k, 'options.k', 0, Number.MAX_VALUE, 60);
  const phi = check.number(o.phi, 'options.phi', 0, 1, 0.8);
  if (phi === 1) throw rangeError(invalidParameter('options.phi', 'a number in [0, 1)', phi));

  const out: Run = {};
  for (const query of queriesOf(list)) {
    const members: number[] = [];
    for (let i = 0; i < list.length; i++) if (Object.hasOwn(list[i], query)) members.push(i);
    const candidates = candidatesOf(members.map((i) => list[i][query]));
    const normed = members.map((i) => normalise(list[i][query], norm, candidates));
    const fused = combine(
      normed,
      members.map((i) => weights[i]),
      method,
      candidates.length,
      k,
      phi,
    );
    const ranked: Record<string, number> = {};
    for (const doc of rankDocs(fused)) put(ranked, doc, fused[doc]);
    put(out, query, ranked);
  }
  return out;
}

/** A null-prototype table: any id, `__proto__` included, is a plain key. */
function table(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

/** Sets an own property even for the key `__proto__` (which plain assignment would not). */
function put<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function readRuns(runs: unknown): Record<string, Record<string, number>>[] {
  if (runs === null || typeof runs !== 'object') throw typeError(invalidParameter('runs', 'an array or record of runs', runs));
  const names = Array.isArray(runs) ? null : Object.keys(runs);
  const values: unknown[] = Array.isArray(runs) ? runs : names!.map((n) => (runs as Record<string, unknown>)[n]);
  if (values.length === 0) throw rangeError(invalidParameter('runs', 'at least one run', runs), 'ERR_FUSIONRANK_EMPTY_INPUT');
  return values.map((run, i) => check.scoresByQuery(run, names ? `runs[${JSON.stringify(names[i])}]` : `runs[${i}]`, 'score'));
}

function readWeights(value: unknown, runs: number): Float64Array {
  const weights = new Float64Array(runs).fill(1);
  if (value === undefined) return weights;
  if (!Array.isArray(value) && !(ArrayBuffer.isView(value) && !(value instanceof DataView)))
    throw typeError(invalidParameter('options.weights', 'an array of finite numbers', value));
  const w = value as ArrayLike<unknown>;
  if (w.length !== runs) throw rangeError(invalidParameter('options.weights', `an array of ${runs} weights (one per run)`, value), 'ERR_FUSIONRANK_LENGTH_MISMATCH');
  for (let i = 0; i < runs; i++) {
    const v = w[i];
    if (typeof v !== 'number') throw typeError(invalidParameter(`options.weights[${i}]`, 'a finite number', v));
    if (!Number.isFinite(v)) throw rangeError(invalidParameter(`options.weights[${i}]`, 'a finite number', v), 'ERR_FUSIONRANK_NON_FINITE');
    weights[i] = v;
  }
  return weights;
}

/** Every query of any run, in order of first appearance. */
function queriesOf(runs: Record<string, Record<string, number>>[]): string[] {
  const seen = new Set<string>();
  for (const run of runs) for (const q of Object.keys(run)) seen.add(q);
  return [...seen];
}

function candidatesOf(lists: Record<string, number>[]): string[] {
  const seen = new Set<string>();
  for (const scores of lists) for (const d of Object.keys(scores)) seen.add(d);
  return [...seen];
}

function normalise(scores: Record<string, number>, norm: FusionNorm, candidates: readonly string[]): Record<string, number> {
  const docs = Object.keys(scores);
  const out = table();
  if (norm === 'none') {
    for (const d of docs) out[d] = scores[d];
    return out;
  }
  if (norm === 'rank' || norm === 'borda') {
    const ranked = rankDocs(scores);
    const n = norm === 'rank' ? ranked.length : candidates.length;
    ranked.forEach((d, i) => (out[d] = 1 - i / n));
    if (norm === 'borda') {
      const unranked = 0.5 - (ranked.length - 1) / (2 * n);
      for (const d of candidates) if (!Object.hasOwn(out, d)) out[d] = unranked;
    }
    return out;
  }
  if (docs.length === 0) return out;
  let min = Infinity;
  let max = -Infinity;
  let total = 0;
  for (const d of docs) {
    const s = scores[d];
    if (s < min) min = s;
    if (s > max) max = s;
    total += s;
  }
  if (norm === 'minmax') {
    const den = Math.max(max - min, MIN_DENOMINATOR);
    for (const d of docs) out[d] = (scores[d] - min) / den;
  } else if (norm === 'max') {
    const den = Math.max(max, MIN_DENOMINATOR);
    for (const d of docs) out[d] = scores[d] / den;
  } else if (norm === 'sum') {
    let shifted = 0;
    for (const d of docs) shifted += scores[d] - min;
    const den = Math.max(shifted, MIN_DENOMINATOR);
    for (const d of docs) out[d] = (scores[d] - min) / den;
  } else {
    const mean = total / docs.length;
    let ss = 0;
    for (const d of docs) ss += (scores[d] - mean) ** 2;
    const den = Math.max(Math.sqrt(ss / docs.length), MIN_DENOMINATOR);
    for (const d of docs) out[d] = (scores[d] - mean) / den;
  }
  return out;
}

function combine(
  lists: Record<string, number>[],
  weights: ArrayLike<number>,
  method: FusionMethod,
  candidates: number,
  k: number,
  phi: number,
): Record<string, number> {
  const sum = new Map<string, number>();
  const count = new Map<string, number>();
  const add = (d: string, v: number): void => {
    sum.set(d, (sum.get(d) ?? 0) + v);
    count.set(d, (count.get(d) ?? 0) + 1);
  };
  if (method === 'max') {
    const best = new Map<string, number>();
    lists.forEach((scores, i) => {
      for (const d of Object.keys(scores)) {
        const v = weights[i] * scores[d];
        const prev = best.get(d);
        if (prev === undefined || v > prev) best.set(d, v);
      }
    });
    const out = table();
    for (const [d, v] of best) out[d] = v;
    return out;
  }
  if (method === 'borda') {
    // Every voter gives every candidate points, the unranked sharing the leftovers.
    const all = new Set<string>();
    for (const scores of lists) for (const d of Object.keys(scores)) all.add(d);
    lists.forEach((scores, i) => {
      const ranked = rankDocs(scores);
      const held = new Set(ranked);
      ranked.forEach((d, r) => add(d, weights[i] * (candidates - r)));
      const unranked = (candidates - ranked.length + 1) / 2;
      for (const d of all) if (!held.has(d)) add(d, weights[i] * unranked);
    });
    const out = table();
    for (const [d, v] of sum) out[d] = v;
    return out;
  }
  lists.forEach((scores, i) => {
    if (method === 'rrf' || method === 'isr' || method === 'rbc') {
      rankDocs(scores).forEach((d, r0) => {
        const r = r0 + 1;
        const v = method === 'rrf' ? 1 / (k + r) : method === 'isr' ? 1 / (r * r) : (1 - phi) * phi ** r0;
        add(d, weights[i] * v);
      });
    } else {
      for (const d of Object.keys(scores)) add(d, weights[i] * scores[d]);
    }
  });
  const out = table();
  for (const [d, s] of sum) {
    const n = count.get(d)!;
    out[d] = method === 'mnz' || method === 'isr' ? s * n : method === 'mixed' ? s * Math.sqrt(n) : s;
  }
  return out;
}
