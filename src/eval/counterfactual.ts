/**
 * Counterfactual (off-policy) estimates from logged impressions: how many
 * clicks would a new ranking of the logged lists get? Position-bias
 * propensities (from randomized logs or by EM), naive / IPS / clipped IPS /
 * SNIPS estimates with bootstrap intervals, and a position-based click-model
 * simulator with its closed-form truth for tests and demos.
 *
 * The model throughout is the position-based model (PBM): a user examines
 * position j with probability θ_j, independently of the item, and clicks an
 * examined item d of query q with probability γ_{q,d} (its attractiveness),
 * so P(click on d at position j) = θ_j · γ_{q,d}.
 */
import { describe, invalidParameter, rangeError, typeError } from '../errors.js';
import { rng } from '../util/random.js';
import * as check from './check.js';
import { compensatedSum, quantile } from './numeric.js';
import { rankDocs } from './order.js';
import type { ImpressionLog, Run } from './types.js';

/** The largest count `bootstrap` and `iterations` accept. */
const MAX_COUNT = 2 ** 31 - 1;
/** EM keeps θ and γ inside (0, 1) so no posterior divides by 0. */
const EM_EPS = 1e-9;
/** Newton steps of the logistic M-step per EM iteration (warm-started). */
const NEWTON_STEPS = 4;
/** Ridge on the logistic coefficients, per impression: keeps the Newton system solvable. */
const RIDGE = 1e-6;

// ---------------------------------------------------------------------------
// Shared reading of the logs

interface ParsedLog {
  query: string;
  shown: readonly string[];
  /** clicked[j] = 1 when the item at position j + 1 was clicked. */
  clicked: Uint8Array;
}

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

function readShown(value: unknown, name: string): string[] {
  if (!Array.isArray(value)) throw typeError(invalidParameter(name, 'an array of document ids', value));
  const seen = new Set<string>();
  for (let j = 0; j < value.length; j++) {
    const d = value[j] as unknown;
    if (typeof d !== 'string') throw typeError(invalidParameter(`${name}[${j}]`, 'a document id (string)', d));
    if (seen.has(d)) throw rangeError(invalidParameter(`${name}[${j}]`, 'an id not already in the list', d), 'ERR_FUSIONRANK_DUPLICATE_DOC');
    seen.add(d);
  }
  return value as string[];
}

/** Validates the logs: clicks must be ids of their own shown list; a doc clicked twice counts once. */
function readLogs(value: unknown, name: string): ParsedLog[] {
  if (!Array.isArray(value)) throw typeError(invalidParameter(name, 'an array of { query, shown, clicks } impression logs', value));
  if (value.length === 0) throw rangeError(invalidParameter(name, 'at least one impression log', value), 'ERR_FUSIONRANK_EMPTY_INPUT');
  return value.map((entry: unknown, i) => {
    const at = `${name}[${i}]`;
    const log = check.object<Record<string, unknown>>(entry, at, 'an impression log { query, shown, clicks }');
    if (typeof log.query !== 'string') throw typeError(invalidParameter(`${at}.query`, 'a query id (string)', log.query));
    const shown = readShown(log.shown, `${at}.shown`);
    if (!Array.isArray(log.clicks)) throw typeError(invalidParameter(`${at}.clicks`, 'an array of clicked document ids', log.clicks));
    const position = new Map<string, number>();
    shown.forEach((d, j) => position.set(d, j));
    const clicked = new Uint8Array(shown.length);
    log.clicks.forEach((d: unknown, c) => {
      if (typeof d !== 'string') throw typeError(invalidParameter(`${at}.clicks[${c}]`, 'a document id (string)', d));
      const j = position.get(d);
      if (j === undefined) throw rangeError(invalidParameter(`${at}.clicks[${c}]`, `an id of ${at}.shown (a click must be on a shown item)`, d));
      clicked[j] = 1;
    });
    return { query: log.query, shown, clicked };
  });
}

function longest(logs: readonly { shown: readonly string[] }[]): number {
  let n = 0;
  for (const log of logs) n = Math.max(n, log.shown.length);
  return n;
}

/** Reads `count` finite values from `value`; `positive` asks for > 0, else [0, 1] (probabilities). */
function readTheta(value: unknown, name: string, count: number, positive: boolean): Float64Array {
  if (!isArrayLike(value)) throw typeError(invalidParameter(name, 'an array of finite numbers', value));
  if (value.length < count)
    throw rangeError(invalidParameter(name, `at least ${count} values (one per position of the longest shown list)`, value));
  const out = new Float64Array(value.length);
  for (let j = 0; j < value.length; j++) {
    const v = value[j];
    if (typeof v !== 'number') throw typeError(invalidParameter(`${name}[${j}]`, 'a finite number', v));
    if (!Number.isFinite(v)) throw rangeError(invalidParameter(`${name}[${j}]`, 'a finite number', v), 'ERR_FUSIONRANK_NON_FINITE');
    if (positive ? v <= 0 : v < 0 || v > 1) throw rangeError(invalidParameter(`${name}[${j}]`, positive ? 'a number > 0' : 'a probability in [0, 1]', v));
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
// Propensities

export interface PropensityOptions {
  /**
   * `'randomized'`: logs whose order was randomized (RandTop-n: the top n
   * shuffled uniformly per impression, Joachims et al. 2017), so every
   * position sees the same mean attractiveness and θ_j/θ_1 = CTR_j/CTR_1.
   * `'em'`: EM under the PBM on any logs in which items move between
   * positions (Wang et al. 2018).
   */
  method: 'randomized' | 'em';
  /** Positions to estimate (default: the longest shown list); items shown below are ignored. */
  positions?: number;
  /** EM: the most iterations (default 1000). */
  iterations?: number;
  /** EM: stop when no normalised θ_j moves more than this in an iteration (default 1e-6). */
  tolerance?: number;
  /**
   * EM: the features of (query, doc). Given, γ_{q,d} = σ(b + w·x_{q,d}) is
   * fitted by logistic regression in each M-step (regression EM); absent,
   * plain EM keeps one γ per (query, doc).
   */
  features?: (query: string, doc: string) => readonly number[];
}

export interface PropensityEstimate {
  /** θ_j / θ_1 for positions 1..`positions` (theta[0] = position 1 = 1). */
  theta: Float64Array;
  method: 'randomized' | 'em';
  positions: number;
  /** Impressions at each position (logs at least that long). */
  impressions: Float64Array;
  /** Clicks at each position. */
  clicks: Float64Array;
  /** EM iterations run (0 for `'randomized'`). */
  iterations: number;
  /** EM stopped on `tolerance` before `iterations` (true for `'randomized'`). */
  converged: boolean;
  /** EM: log-likelihood of the clicks under the fitted θ and γ (NaN for `'randomized'`). */
  logLikelihood: number;
  /** EM: each logged (query, doc)'s click probability at position 1, θ_1·γ (scale-free, unlike γ alone). */
  attractiveness?: Record<string, Record<string, number>>;
  /** Regression EM: [b, w_1, …, w_m] of γ = σ(b + w·x), in EM's own scale (θ_1 as fitted, not 1). */
  coefficients?: Float64Array;
}

/**
 * Estimates position-bias propensities θ (normalised so θ[0], position 1, is
 * 1; under the PBM only ratios θ_j/θ_1 are identifiable from clicks).
 *
 * - `'randomized'`: θ_j = CTR_j / CTR_1 with CTR_j = clicks at j /
 *   impressions at j. Valid only for logs whose order was randomized
 *   (RandTop-n or a uniform shuffle): it is the intervention estimator of
 *   Joachims et al. (2017). Swap interventions need the pairing of swapped
 *   and unswapped lists, which logs do not record: not supported. A position
 *   without a click gets θ = 0, which `counterfactual` refuses: log more, or
 *   ask for fewer `positions`.
 * - `'em'`: maximum likelihood under the PBM, P(click) = θ_j·γ_{q,d}, by EM
 *   (Wang et al. 2018, "Position Bias Estimation for Unbiased Learning to
 *   Rank in Personal Search"). E-step, per impression without a click:
 *   P(examined | no click) = θ(1 − γ)/(1 − θγ), P(attractive | no click) =
 *   (1 − θ)γ/(1 − θγ) (a click means both). M-step: θ_j = mean over the
 *   impressions at j of P(examined); γ_{q,d} = mean over the impressions of
 *   (q, d) of P(attractive) (plain EM), or, with `features`, the
 *   regression-EM variant: a logistic regression of P(attractive) on the
 *   features (soft labels, a few warm-started Newton steps per M-step, tiny
 *   ridge) where Wang et al. use GBDT. Needs items that move between
 *   positions (a deterministic logger makes θ and γ inseparable). Starts
 *   from θ_j = 0.9·CTR_j / max CTR (kept in [0.01, 0.9]) and γ = 1/2; stops
 *   when no θ_j/θ_1 moves more than `tolerance`, or after `iterations`.
 *
 * @example
 * const logs = [
 *   { query: 'q', shown: ['a', 'b', 'c'], clicks: ['a'] },
 *   { query: 'q', shown: ['c', 'a', 'b'], clicks: ['c', 'a'] },
 * ];
 * estimatePropensities(logs, { method: 'randomized' }).theta; // Float64Array [1, 0.5, 0]
 * estimatePropensities(logs, { method: 'em', iterations: 50 }).theta[0]; // 1
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when logs is not an array of { query, shown, clicks }, options is not an object, or features does not return an array of numbers
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there is no log or no shown item
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a click is not in its shown list (the message names the log), method is unknown, positions (1 to the longest list) / iterations / tolerance are out of range, or (randomized) position 1 has no click
 * @throws {RangeError} ERR_FUSIONRANK_DUPLICATE_DOC when a shown list holds an id twice
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a feature is NaN or ±Infinity
 * @throws {RangeError} ERR_FUSIONRANK_LENGTH_MISMATCH when feature vectors differ in length
 */
export function estimatePropensities(logs: readonly ImpressionLog[], options: PropensityOptions): PropensityEstimate {
  const parsed = readLogs(logs, 'logs');
  const o = check.object<Partial<PropensityOptions>>(options, 'options', 'an options object');
  const method = check.oneOf(o.method, 'options.method', ['randomized', 'em'] as const);
  const maxLength = longest(parsed);
  if (maxLength === 0) throw rangeError(invalidParameter('logs', 'at least one shown item', logs), 'ERR_FUSIONRANK_EMPTY_INPUT');
  const positions = check.integer(o.positions, 'options.positions', 1, maxLength, maxLength);
  const iterations = check.integer(o.iterations, 'options.iterations', 1, MAX_COUNT, 1000);
  const tolerance = check.number(o.tolerance, 'options.tolerance', 0, 1, 1e-6);
  if (o.features !== undefined && typeof o.features !== 'function')
    throw typeError(invalidParameter('options.features', 'a function (query, doc) => number[]', o.features));

  const impressions = new Float64Array(positions);
  const clicks = new Float64Array(positions);
  for (const log of parsed)
    for (let j = 0; j < Math.min(positions, log.shown.length); j++) {
      impressions[j]++;
      clicks[j] += log.clicked[j];
    }

  if (method === 'randomized') {
    if (clicks[0] === 0) throw rangeError(invalidParameter('logs', 'a click at position 1 (θ_j/θ_1 = CTR_j/CTR_1 needs CTR_1 > 0)', logs));
    const ctr1 = clicks[0] / impressions[0];
    const theta = new Float64Array(positions);
    for (let j = 0; j < positions; j++) theta[j] = clicks[j] / impressions[j] / ctr1;
    return { theta, method, positions, impressions, clicks, iterations: 0, converged: true, logLikelihood: NaN };
  }
  return em(parsed, positions, iterations, tolerance, impressions, clicks, o.features);
}

function em(
  logs: readonly ParsedLog[],
  positions: number,
  maxIterations: number,
  tolerance: number,
  impressions: Float64Array,
  clicks: Float64Array,
  features: ((query: string, doc: string) => readonly number[]) | undefined,
): PropensityEstimate {
  // Flatten the impressions: position, (query, doc) pair, click.
  const pairIndex = new Map<string, Map<string, number>>();
  const pairs: [string, string][] = [];
  const pos: number[] = [];
  const pairOf: number[] = [];
  const click: number[] = [];
  for (const log of logs) {
    let docs = pairIndex.get(log.query);
    if (!docs) pairIndex.set(log.query, (docs = new Map()));
    for (let j = 0; j < Math.min(positions, log.shown.length); j++) {
      const d = log.shown[j];
      let p = docs.get(d);
      if (p === undefined) {
        p = pairs.length;
        docs.set(d, p);
        pairs.push([log.query, d]);
      }
      pos.push(j);
      pairOf.push(p);
      click.push(log.clicked[j]);
    }
  }
  const m = pos.length;
  const nPairs = pairs.length;
  const pairCount = new Float64Array(nPairs);
  for (let i = 0; i < m; i++) pairCount[pairOf[i]]++;

  const design = features ? designMatrix(pairs, features) : null;
  const dim = design ? design.length / Math.max(1, nPairs) : 0;
  const coefficients = design ? new Float64Array(dim) : undefined;

  // Start: θ from CTRs (clipped into (0, 1)), γ = 1/2.
  const theta = new Float64Array(positions);
  let maxCtr = 0;
  for (let j = 0; j < positions; j++) if (impressions[j] > 0) maxCtr = Math.max(maxCtr, clicks[j] / impressions[j]);
  for (let j = 0; j < positions; j++) {
    const ctr = impressions[j] > 0 && maxCtr > 0 ? clicks[j] / impressions[j] / maxCtr : 0.5;
    theta[j] = clamp(0.9 * ctr, 0.01, 0.9);
  }
  const gamma = new Float64Array(nPairs).fill(0.5);

  const thetaSum = new Float64Array(positions);
  const gammaSum = new Float64Array(nPairs);
  const previous = new Float64Array(positions);
  let iterations = 0;
  let converged = false;
  while (iterations < maxIterations) {
    iterations++;
    thetaSum.fill(0);
    gammaSum.fill(0);
    for (let i = 0; i < m; i++) {
      const j = pos[i];
      const p = pairOf[i];
      if (click[i]) {
        thetaSum[j] += 1;
        gammaSum[p] += 1;
      } else {
        const t = theta[j];
        const g = gamma[p];
        const none = 1 - t * g;
        thetaSum[j] += (t * (1 - g)) / none;
        gammaSum[p] += ((1 - t) * g) / none;
      }
    }
    for (let j = 0; j < positions; j++) previous[j] = theta[j] / theta[0];
    for (let j = 0; j < positions; j++) if (impressions[j] > 0) theta[j] = clamp(thetaSum[j] / impressions[j], EM_EPS, 1 - EM_EPS);
    if (design) fitLogistic(design, dim, gammaSum, pairCount, coefficients!, gamma, m);
    else for (let p = 0; p < nPairs; p++) gamma[p] = clamp(gammaSum[p] / pairCount[p], EM_EPS, 1 - EM_EPS);
    let moved = 0;
    for (let j = 0; j < positions; j++) moved = Math.max(moved, Math.abs(theta[j] / theta[0] - previous[j]));
    if (moved < tolerance) {
      converged = true;
      break;
    }
  }

  let logLikelihood = 0;
  for (let i = 0; i < m; i++) {
    const c = theta[pos[i]] * gamma[pairOf[i]];
    logLikelihood += click[i] ? Math.log(c) : Math.log1p(-c);
  }
  const attractiveness: Record<string, Record<string, number>> = {};
  pairs.forEach(([q, d], p) => {
    if (!Object.hasOwn(attractiveness, q)) put(attractiveness, q, {});
    put(attractiveness[q], d, theta[0] * gamma[p]);
  });
  const normalised = new Float64Array(positions);
  for (let j = 0; j < positions; j++) normalised[j] = impressions[j] > 0 ? theta[j] / theta[0] : NaN;
  const result: PropensityEstimate = { theta: normalised, method: 'em', positions, impressions, clicks, iterations, converged, logLikelihood, attractiveness };
  if (coefficients) result.coefficients = coefficients;
  return result;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

/** Row-major [1, x_1, …, x_m] per pair; all vectors the same length. */
function designMatrix(pairs: readonly [string, string][], features: (query: string, doc: string) => readonly number[]): Float64Array {
  let width = -1;
  let out = new Float64Array(0);
  pairs.forEach(([q, d], p) => {
    const x = features(q, d) as unknown;
    const name = `options.features(${describe(q)}, ${describe(d)})`;
    if (!isArrayLike(x)) throw typeError(invalidParameter(name, 'an array of finite numbers', x));
    if (width < 0) {
      width = x.length;
      out = new Float64Array(pairs.length * (width + 1));
    } else if (x.length !== width)
      throw rangeError(invalidParameter(name, `${width} features (as the first pair's)`, x), 'ERR_FUSIONRANK_LENGTH_MISMATCH');
    const row = p * (width + 1);
    out[row] = 1;
    for (let f = 0; f < width; f++) {
      const v = x[f];
      if (typeof v !== 'number') throw typeError(invalidParameter(`${name}[${f}]`, 'a finite number', v));
      if (!Number.isFinite(v)) throw rangeError(invalidParameter(`${name}[${f}]`, 'a finite number', v), 'ERR_FUSIONRANK_NON_FINITE');
      out[row + 1 + f] = v;
    }
  });
  return out;
}

/**
 * The regression M-step: maximise Σ_p s_p log σ(w·x_p) + (n_p − s_p) log(1 − σ(w·x_p))
 * (s_p the expected attractive impressions of pair p out of n_p) by Newton steps
 * from the previous w; writes γ_p = σ(w·x_p).
 */
function fitLogistic(
  design: Float64Array,
  dim: number,
  targets: Float64Array,
  counts: Float64Array,
  w: Float64Array,
  gamma: Float64Array,
  total: number,
): void {
  const nPairs = counts.length;
  const grad = new Float64Array(dim);
  const hess = new Float64Array(dim * dim);
  for (let step = 0; step < NEWTON_STEPS; step++) {
    grad.fill(0);
    hess.fill(0);
    for (let p = 0; p < nPairs; p++) {
      const row = p * dim;
      let z = 0;
      for (let f = 0; f < dim; f++) z += w[f] * design[row + f];
      const s = 1 / (1 + Math.exp(-z));
      const r = targets[p] - counts[p] * s;
      const h = counts[p] * s * (1 - s);
      for (let f = 0; f < dim; f++) {
        grad[f] += r * design[row + f];
        for (let g = 0; g <= f; g++) hess[f * dim + g] += h * design[row + f] * design[row + g];
      }
    }
    for (let f = 0; f < dim; f++) {
      grad[f] -= RIDGE * total * w[f];
      hess[f * dim + f] += RIDGE * total;
      for (let g = 0; g < f; g++) hess[g * dim + f] = hess[f * dim + g];
    }
    const delta = solve(hess, grad, dim);
    for (let f = 0; f < dim; f++) w[f] += delta[f];
  }
  for (let p = 0; p < nPairs; p++) {
    let z = 0;
    for (let f = 0; f < dim; f++) z += w[f] * design[p * dim + f];
    gamma[p] = clamp(1 / (1 + Math.exp(-z)), EM_EPS, 1 - EM_EPS);
  }
}

/** Solves A x = b (A symmetric positive definite, small) by Gaussian elimination with partial pivoting. */
function solve(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const x = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let pivot = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]) > Math.abs(m[pivot * n + c])) pivot = r;
    if (pivot !== c) {
      for (let k = 0; k < n; k++) [m[c * n + k], m[pivot * n + k]] = [m[pivot * n + k], m[c * n + k]];
      [x[c], x[pivot]] = [x[pivot], x[c]];
    }
    const d = m[c * n + c];
    if (d === 0) continue;
    for (let r = c + 1; r < n; r++) {
      const f = m[r * n + c] / d;
      if (f === 0) continue;
      for (let k = c; k < n; k++) m[r * n + k] -= f * m[c * n + k];
      x[r] -= f * x[c];
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    let s = x[c];
    for (let k = c + 1; k < n; k++) s -= m[c * n + k] * x[k];
    const d = m[c * n + c];
    x[c] = d === 0 ? 0 : s / d;
  }
  return x;
}

// ---------------------------------------------------------------------------
// Counterfactual estimates

/** A new ranking of the logged lists: a Run whose scores order each log's shown items, or a function of the log. */
export type CounterfactualRanking = Run | ((log: ImpressionLog) => readonly string[]);

export interface CounterfactualOptions {
  /**
   * θ_j, j = 1..n: the examination propensity of each position (index 0 =
   * position 1), as `estimatePropensities` returns (θ_1 = 1) or absolute;
   * one per position of the longest shown list, each finite and > 0.
   * Pass the whole `estimatePropensities(…, { method: 'randomized' })`
   * result to carry the propensities' sampling error into `ci95` (each
   * bootstrap resample also redraws the clicks at each position of the
   * randomized logs, Binomial(impressions_j, CTR_j), and recomputes θ);
   * plain numbers or an EM estimate are taken as exact.
   */
  propensities: ArrayLike<number> | PropensityEstimate;
  /** The cutoff of clicks@k and clickDcg@k (default 10). */
  k?: number;
  /** Clipped IPS divides by max(θ_log, clip), in the units of `propensities` (default 0.1: weights ≤ 10·θ_1 with θ_1 = 1). */
  clip?: number;
  /** Bootstrap resamples of the log entries for `ci95` (default 1000). */
  bootstrap?: number;
  /** Seed of the resamples (default 42): the same seed gives the same intervals. */
  seed?: number;
}

export interface Estimate {
  /** The estimate: a mean over the log entries. */
  estimate: number;
  /** Percentile bootstrap 95 % interval (2.5 % and 97.5 % quantiles, linear interpolation) over resampled log entries. */
  ci95: [number, number];
}

export interface CounterfactualEstimates {
  /** Clicks as relevance labels, no correction. */
  naive: Estimate;
  /** Inverse propensity scoring. */
  ips: Estimate;
  /** IPS with θ_log replaced by max(θ_log, clip). */
  clippedIps: Estimate;
  /** Self-normalised IPS: IPS / mean importance weight of the logged clicks. */
  snips: Estimate;
}

export interface CounterfactualResult {
  /** Log entries evaluated. */
  logs: number;
  k: number;
  clip: number;
  /** clicks@k: expected clicks in the new top k, per log entry (see `expectedClicks`). */
  clicks: CounterfactualEstimates;
  /** clickDcg@k: Σ 1/log2(1 + rank_new) over the attractive items in the new top k, per log entry (see `expectedClickDcg`). */
  clickDcg: CounterfactualEstimates;
  /** Logged clicks per log entry. */
  loggedClicks: number;
  /** SNIPS's normaliser: the mean over logged clicks of θ(rank_new)/θ(rank_log) (1 when there is no click). */
  meanImportanceWeight: number;
  /** `'resampled'`: `ci95` includes the propensities' sampling error (a randomized PropensityEstimate was given); `'ignored'`: θ taken as exact. */
  propensityError: 'resampled' | 'ignored';
}

/**
 * The new order of each log's shown items under `ranking`, as
 * `counterfactual` reads it: with a Run, the shown items the run scores for
 * the log's query in trec_eval's order (score descending, ties by doc id
 * descending), then the unscored ones in logged order (a query absent from
 * the run keeps the logged order); with a function, the ids it returns (a
 * subset of the shown items, no repeats), then the rest in logged order.
 *
 * @example
 * applyRanking([{ query: 'q', shown: ['a', 'b', 'c'], clicks: [] }], { q: { c: 2, a: 1 } });
 * // [{ query: 'q', shown: ['c', 'a', 'b'] }]
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when logs or ranking is malformed
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there is no log
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a click or a ranked id is not in its shown list (the message names the log)
 * @throws {RangeError} ERR_FUSIONRANK_DUPLICATE_DOC when a shown list or a ranking function's result repeats an id
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a run score is NaN or ±Infinity
 */
export function applyRanking(logs: readonly ImpressionLog[], ranking: CounterfactualRanking): { query: string; shown: string[] }[] {
  const parsed = readLogs(logs, 'logs');
  const order = rankingReader(ranking);
  return parsed.map((log, i) => ({ query: log.query, shown: order(logs[i], log, i) }));
}

function rankingReader(ranking: unknown): (original: ImpressionLog, log: ParsedLog, i: number) => string[] {
  if (typeof ranking === 'function') {
    const fn = ranking as (log: ImpressionLog) => readonly string[];
    return (original, log, i) => {
      const ids = fn(original) as unknown;
      const name = `ranking(logs[${i}])`;
      if (!Array.isArray(ids)) throw typeError(invalidParameter(name, 'an array of ids of the shown list', ids));
      const shown = new Set(log.shown);
      const seen = new Set<string>();
      ids.forEach((d: unknown, j) => {
        if (typeof d !== 'string' || !shown.has(d))
          throw (typeof d === 'string' ? rangeError : typeError)(invalidParameter(`${name}[${j}]`, `an id of logs[${i}].shown`, d));
        if (seen.has(d)) throw rangeError(invalidParameter(`${name}[${j}]`, 'an id not already in the list', d), 'ERR_FUSIONRANK_DUPLICATE_DOC');
        seen.add(d);
      });
      return [...(ids as string[]), ...log.shown.filter((d) => !seen.has(d))];
    };
  }
  const run = check.scoresByQuery(ranking, 'ranking', 'score');
  return (_, log) => {
    if (!Object.hasOwn(run, log.query)) return [...log.shown];
    const scores = run[log.query];
    const scored = Object.create(null) as Record<string, number>;
    const rest: string[] = [];
    for (const d of log.shown) {
      if (Object.hasOwn(scores, d)) scored[d] = scores[d];
      else rest.push(d);
    }
    return [...rankDocs(scored), ...rest];
  };
}

/**
 * Counterfactual estimates of how a new ranking of the logged lists would do,
 * from the logged clicks, under the position-based model (PBM). Each log
 * entry i shows items at logged ranks rank_log(d); the new ranking re-orders
 * the same items (see {@link applyRanking}) to ranks rank_new(d); θ are the
 * `propensities`; C_i the logged clicks.
 *
 * Under the PBM, E[clicks_new@k] = Σ_{d: rank_new(d) ≤ k} θ(rank_new(d))·γ_d
 * and a logged click has E[c_d] = θ(rank_log(d))·γ_d, so per log entry:
 *
 * - clicks@k
 *   - naive: |{d ∈ C_i : rank_new(d) ≤ k}|, the logged clicks that land in the
 *     new top k (clicks as relevance labels, the usual "replay" metric).
 *     Biased: it credits the new ranking with the examination of the old one.
 *   - IPS: Σ_{d ∈ C_i, rank_new(d) ≤ k} θ(rank_new(d)) / θ(rank_log(d)),
 *     unbiased when the propensities are right and all > 0; invariant to
 *     their scale.
 *   - clipped IPS: θ(rank_log(d)) replaced by max(θ(rank_log(d)), clip): less
 *     variance, biased downwards where θ < clip; clip = 0 gives IPS.
 * - clickDcg@k (DCG with an item's attractiveness as its gain; truth
 *   Σ_{rank_new(d) ≤ k} γ_d / log2(1 + rank_new(d)))
 *   - naive: Σ_{d ∈ C_i, rank_new(d) ≤ k} 1/log2(1 + rank_new(d)) (DCG with
 *     the clicks as binary labels).
 *   - IPS: Σ_{d ∈ C_i, rank_new(d) ≤ k} 1/(log2(1 + rank_new(d)) · θ(rank_log(d))).
 *     Scales with 1/θ: with θ_1 = 1 (as `estimatePropensities` gives) it
 *     estimates the DCG whose gain is θ_1·γ, the click probability at
 *     position 1; with absolute θ, the DCG of γ.
 *   - clipped IPS: θ(rank_log(d)) replaced by max(θ(rank_log(d)), clip).
 * - SNIPS (both metrics): IPS divided by the mean importance weight
 *   w̄ = (Σ_i Σ_{d ∈ C_i} θ(rank_new(d))/θ(rank_log(d))) / Σ_i |C_i|, the
 *   self-normalised form of Swaminathan & Joachims (2015) with the PBM's
 *   importance weight of a click (the ratio of its examination probabilities
 *   under the new and the logged ranking, every position counted). w̄ = 1,
 *   so SNIPS = IPS, when the new ranking is the logged one; it is scale-free
 *   in θ and damps estimates driven by a few heavily up-weighted clicks. Unlike
 *   SNIPS for stochastic policies it is not consistent: the PBM leaves
 *   examination unobserved, so no importance weight with known mean 1 exists
 *   (E[w̄] is the ratio of the new to the logged total expected clicks, so
 *   SNIPS of clicks over the whole list returns the logged click volume).
 *   Prefer IPS for an unbiased estimate; read SNIPS as a low-variance,
 *   volume-preserving view. No logged click: w̄ = 1.
 *
 * Each estimate is the mean over log entries; `ci95` is a percentile
 * bootstrap over log entries (each resample draws as many entries with
 * replacement; SNIPS recomputes w̄ per resample). θ estimated from a few
 * thousand randomized impressions is itself noisy, and an interval that
 * ignores it covers the truth less often than 95 %: pass the randomized
 * PropensityEstimate itself, not its `theta`, and each resample redraws θ too.
 *
 * @example
 * const logs = [
 *   { query: 'q', shown: ['a', 'b', 'c'], clicks: ['b'] },
 *   { query: 'q', shown: ['a', 'b', 'c'], clicks: ['a', 'c'] },
 * ];
 * const r = counterfactual(logs, { q: { c: 3, b: 2, a: 1 } }, { propensities: [1, 0.5, 0.25], k: 1 });
 * r.clicks.naive.estimate; // 0.5 (c lands at rank 1 once)
 * r.clicks.ips.estimate; // 2: one click on c, weight θ_1/θ_3 = 4, over 2 logs
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when logs, ranking, options or propensities are malformed
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there is no log
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a click or ranked id is not in its shown list (the message names the log), a propensity is ≤ 0, propensities are fewer than the longest shown list, or clip / bootstrap / seed are out of range
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a propensity, run score or clip is NaN or ±Infinity
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_K when k is not an integer ≥ 1
 * @throws {RangeError} ERR_FUSIONRANK_DUPLICATE_DOC when a shown list or a ranking function's result repeats an id
 */
export function counterfactual(logs: readonly ImpressionLog[], ranking: CounterfactualRanking, options: CounterfactualOptions): CounterfactualResult {
  const parsed = readLogs(logs, 'logs');
  const o = check.object<Partial<CounterfactualOptions>>(options, 'options', 'an options object');
  const k = check.integer(o.k, 'options.k', 1, MAX_COUNT, 10, 'ERR_FUSIONRANK_INVALID_K');
  const given = o.propensities as unknown;
  const fromEstimate = typeof given === 'object' && given !== null && !isArrayLike(given) && 'theta' in given;
  const theta = readTheta(fromEstimate ? (given as PropensityEstimate).theta : given, 'options.propensities', longest(parsed), true);
  const clip = check.number(o.clip, 'options.clip', 0, Number.MAX_VALUE, 0.1);
  const bootstrap = check.integer(o.bootstrap, 'options.bootstrap', 1, MAX_COUNT, 1000);
  const seed = check.integer(o.seed, 'options.seed', 0, 2 ** 32 - 1, 42);
  const order = rankingReader(ranking);

  // A click's terms depend only on its (logged rank, new rank) pair: each log
  // entry keeps its pairs, an estimate is a function of the pair counts and θ.
  const n = parsed.length;
  const width = Math.max(1, longest(parsed));
  const offsets = new Uint32Array(n + 1);
  const pairs: number[] = [];
  parsed.forEach((log, i) => {
    const newRank = new Map<string, number>();
    order(logs[i], log, i).forEach((d, r) => newRank.set(d, r));
    for (let j = 0; j < log.shown.length; j++) if (log.clicked[j]) pairs.push(j * width + newRank.get(log.shown[j])!);
    offsets[i + 1] = pairs.length;
  });
  const counts = new Float64Array(width * width);
  for (const pair of pairs) counts[pair]++;
  const point = estimates(counts, width, theta, k, clip, n);

  const draws = point.map(() => new Float64Array(bootstrap));
  const random = rng(seed);
  const redraw = fromEstimate ? thetaSampler(given as PropensityEstimate, theta, rng(seed ^ 0x9e3779b9)) : undefined;
  for (let b = 0; b < bootstrap; b++) {
    counts.fill(0);
    for (let t = 0; t < n; t++) {
      const i = Math.floor(random() * n);
      for (let p = offsets[i]; p < offsets[i + 1]; p++) counts[pairs[p]]++;
    }
    estimates(counts, width, redraw ? redraw() : theta, k, clip, n).forEach((v, e) => (draws[e][b] = v));
  }
  const interval = (e: number): Estimate => {
    const sorted = draws[e].sort();
    return { estimate: point[e], ci95: [quantile(sorted, 0.025), quantile(sorted, 0.975)] };
  };
  counts.fill(0);
  for (const pair of pairs) counts[pair]++;
  let weight = 0;
  for (let j = 0; j < width; j++) for (let r = 0; r < width; r++) weight += (counts[j * width + r] * theta[r]) / theta[j];
  return {
    logs: n,
    k,
    clip,
    clicks: { naive: interval(0), ips: interval(1), clippedIps: interval(2), snips: interval(3) },
    clickDcg: { naive: interval(4), ips: interval(5), clippedIps: interval(6), snips: interval(7) },
    loggedClicks: pairs.length / n,
    meanImportanceWeight: pairs.length > 0 ? weight / pairs.length : 1,
    propensityError: redraw ? 'resampled' : 'ignored',
  };
}

/**
 * naive, IPS, clipped, SNIPS of clicks@k, then of clickDcg@k, per log entry,
 * from the counts of clicks at each (logged rank j, new rank r): counts[j·width + r].
 */
function estimates(counts: Float64Array, width: number, theta: Float64Array, k: number, clip: number, n: number): number[] {
  const out = [0, 0, 0, 0, 0, 0, 0, 0];
  let weight = 0;
  let clicks = 0;
  for (let j = 0; j < width; j++) {
    const clipped = Math.max(theta[j], clip);
    for (let r = 0; r < width; r++) {
      const c = counts[j * width + r];
      if (c === 0) continue;
      const ratio = theta[r] / theta[j];
      clicks += c;
      weight += c * ratio;
      if (r >= k) continue;
      const discount = 1 / Math.log2(r + 2);
      out[0] += c;
      out[1] += c * ratio;
      out[2] += (c * theta[r]) / clipped;
      out[4] += c * discount;
      out[5] += (c * discount) / theta[j];
      out[6] += (c * discount) / clipped;
    }
  }
  const w = clicks > 0 ? weight / clicks : 1;
  out[3] = out[1] / w;
  out[7] = out[5] / w;
  return out.map((v) => v / n);
}

/**
 * With a `'randomized'` PropensityEstimate, a parametric bootstrap of θ: the
 * clicks at each position redrawn as Binomial(impressions_j, CTR_j) and θ_j =
 * CTR*_j / CTR*_1 recomputed, so the intervals carry the propensities' own
 * sampling error. Otherwise (plain numbers, or EM) θ stays fixed: undefined.
 */
function thetaSampler(e: PropensityEstimate, theta: Float64Array, random: () => number): (() => Float64Array) | undefined {
  if (e.method !== 'randomized' || !(e.impressions instanceof Float64Array) || !(e.clicks instanceof Float64Array)) return undefined;
  const impressions = e.impressions;
  const clicks = e.clicks;
  const m = Math.min(impressions.length, clicks.length, theta.length);
  const out = new Float64Array(theta);
  return () => {
    let first = 0;
    for (let j = 0; j < m; j++) {
      const ctr = impressions[j] > 0 ? binomial(impressions[j], clicks[j] / impressions[j], random) / impressions[j] : 0;
      if (j === 0) first = ctr;
      // A redraw with no click at position 1 (or at j) cannot give a ratio: keep the point estimate there.
      out[j] = j === 0 ? 1 : first > 0 && ctr > 0 ? ctr / first : theta[j];
    }
    return out;
  };
}

/** A Binomial(n, p) draw: Bernoulli trials for small n, Poisson for rare events, normal approximation when n·p·(1−p) ≥ 25. */
function binomial(n: number, p: number, random: () => number): number {
  if (p <= 0) return 0;
  if (p >= 1) return n;
  const variance = n * p * (1 - p);
  if (variance < 25 && n <= 2000) {
    let x = 0;
    for (let t = 0; t < n; t++) if (random() < p) x++;
    return x;
  }
  if (variance < 25) {
    // Rare clicks over many impressions: Poisson(n·p) by inversion.
    const mean = n * p;
    let x = 0;
    let term = Math.exp(-mean);
    let cdf = term;
    const u = random();
    while (u > cdf && x < n) {
      x++;
      term *= mean / x;
      cdf += term;
    }
    return x;
  }
  // Box–Muller.
  const u = 1 - random();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  return Math.min(n, Math.max(0, Math.round(n * p + z * Math.sqrt(variance))));
}

// ---------------------------------------------------------------------------
// Click-model simulator and its closed-form truth

export interface SimulateOptions {
  /** θ_j: the probability that position j + 1 is examined, in [0, 1]; one per position of the longest list. */
  theta: ArrayLike<number>;
  /** γ_{q,d}: the probability that an examined item is clicked, in [0, 1]. */
  attractiveness: (query: string, doc: string) => number;
  /** Seed (default 42): the same seed gives the same clicks. */
  seed?: number;
}

function readAttractiveness(fn: unknown, name: string): (query: string, doc: string) => number {
  if (typeof fn !== 'function') throw typeError(invalidParameter(name, 'a function (query, doc) => probability', fn));
  return (query, doc) => {
    const g = (fn as (q: string, d: string) => unknown)(query, doc);
    const at = `${name}(${describe(query)}, ${describe(doc)})`;
    if (typeof g !== 'number') throw typeError(invalidParameter(at, 'a probability in [0, 1]', g));
    if (!Number.isFinite(g)) throw rangeError(invalidParameter(at, 'a probability in [0, 1]', g), 'ERR_FUSIONRANK_NON_FINITE');
    if (g < 0 || g > 1) throw rangeError(invalidParameter(at, 'a probability in [0, 1]', g));
    return g;
  };
}

function readLists(value: unknown, name: string): { query: string; shown: string[] }[] {
  if (!Array.isArray(value)) throw typeError(invalidParameter(name, 'an array of { query, shown } lists', value));
  return value.map((entry: unknown, i) => {
    const list = check.object<Record<string, unknown>>(entry, `${name}[${i}]`, 'a list { query, shown }');
    if (typeof list.query !== 'string') throw typeError(invalidParameter(`${name}[${i}].query`, 'a query id (string)', list.query));
    return { query: list.query, shown: readShown(list.shown, `${name}[${i}].shown`) };
  });
}

/**
 * Simulates clicks on the given lists under the position-based model: the
 * item at position j (1-based) is clicked iff the position is examined
 * (probability θ_j) and the item attracts (probability γ_{q,d}), the two
 * independent, every item independent of the others. Two uniform draws per
 * shown item, in list order, from `rng(seed)`.
 *
 * @example
 * const logs = simulateClicks([{ query: 'q', shown: ['a', 'b'] }], { theta: [1, 0.5], attractiveness: () => 0.3, seed: 7 });
 * // [{ query: 'q', shown: ['a', 'b'], clicks: [...] }]
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when lists, theta or attractiveness is malformed
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a θ or γ is outside [0, 1], theta is shorter than the longest list, or seed is out of range
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a θ or γ is NaN or ±Infinity
 * @throws {RangeError} ERR_FUSIONRANK_DUPLICATE_DOC when a list repeats an id
 */
export function simulateClicks(lists: readonly { query: string; shown: readonly string[] }[], options: SimulateOptions): ImpressionLog[] {
  const parsed = readLists(lists, 'lists');
  const o = check.object<Partial<SimulateOptions>>(options, 'options', 'an options object');
  const theta = readTheta(o.theta, 'options.theta', longest(parsed), false);
  const gamma = readAttractiveness(o.attractiveness, 'options.attractiveness');
  const random = rng(check.integer(o.seed, 'options.seed', 0, 2 ** 32 - 1, 42));
  return parsed.map(({ query, shown }) => {
    const clicks: string[] = [];
    shown.forEach((d, j) => {
      const examined = random() < theta[j];
      const attracted = random() < gamma(query, d);
      if (examined && attracted) clicks.push(d);
    });
    return { query, shown: [...shown], clicks };
  });
}

/**
 * The truth under a planted position-based model, in closed form: the
 * expected clicks@k of the lists as given (e.g. the new ranking's, from
 * {@link applyRanking}), mean over the lists of Σ_{r ≤ k} θ_r·γ(item at r),
 * θ the planted examination probabilities (absolute, not normalised), γ the
 * planted attractiveness. It is what `counterfactual`'s IPS clicks@k
 * estimates.
 *
 * @example
 * expectedClicks([{ query: 'q', shown: ['a', 'b'] }], [1, 0.5], (q, d) => (d === 'a' ? 0.2 : 0.8), 2);
 * // 0.2 + 0.5·0.8 = 0.6
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when lists, theta or attractiveness is malformed
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a θ or γ is outside [0, 1] or theta is shorter than min(k, longest list)
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a θ or γ is NaN or ±Infinity
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_K when k is not an integer ≥ 1
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there is no list
 * @throws {RangeError} ERR_FUSIONRANK_DUPLICATE_DOC when a list repeats an id
 */
export function expectedClicks(
  lists: readonly { query: string; shown: readonly string[] }[],
  theta: ArrayLike<number>,
  attractiveness: (query: string, doc: string) => number,
  k = 10,
): number {
  return truth(lists, theta, attractiveness, k, (t, g) => t * g);
}

/**
 * The clickDcg@k truth under a planted position-based model, in closed form:
 * mean over the lists of Σ_{r ≤ k} γ(item at r) / log2(1 + r), the DCG whose
 * gain is the attractiveness. `counterfactual`'s IPS clickDcg@k estimates it
 * when given the absolute θ (and θ_1 times it when given θ/θ_1). `theta` is
 * only checked, as in {@link expectedClicks}: the DCG does not depend on it.
 *
 * @example
 * expectedClickDcg([{ query: 'q', shown: ['a', 'b'] }], [1, 0.5], (q, d) => (d === 'a' ? 0.2 : 0.8), 2);
 * // 0.2 + 0.8/log2(3)
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when lists, theta or attractiveness is malformed
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a θ or γ is outside [0, 1] or theta is shorter than min(k, longest list)
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a θ or γ is NaN or ±Infinity
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_K when k is not an integer ≥ 1
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there is no list
 * @throws {RangeError} ERR_FUSIONRANK_DUPLICATE_DOC when a list repeats an id
 */
export function expectedClickDcg(
  lists: readonly { query: string; shown: readonly string[] }[],
  theta: ArrayLike<number>,
  attractiveness: (query: string, doc: string) => number,
  k = 10,
): number {
  return truth(lists, theta, attractiveness, k, (_, g, r) => g / Math.log2(r + 2));
}

function truth(
  lists: unknown,
  theta: unknown,
  attractiveness: unknown,
  k: unknown,
  gain: (theta: number, gamma: number, rank0: number) => number,
): number {
  const parsed = readLists(lists, 'lists');
  if (parsed.length === 0) throw rangeError(invalidParameter('lists', 'at least one list', lists), 'ERR_FUSIONRANK_EMPTY_INPUT');
  const cutoff = check.integer(k, 'k', 1, MAX_COUNT, 10, 'ERR_FUSIONRANK_INVALID_K');
  const t = readTheta(theta, 'theta', Math.min(cutoff, longest(parsed)), false);
  const gamma = readAttractiveness(attractiveness, 'attractiveness');
  const perList = new Float64Array(parsed.length);
  parsed.forEach(({ query, shown }, i) => {
    for (let r = 0; r < Math.min(cutoff, shown.length); r++) perList[i] += gain(t[r], gamma(query, shown[r]), r);
  });
  return compensatedSum(perList) / parsed.length;
}
