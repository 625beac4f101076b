/**
 * Paired statistics over per-query values: is run B really better than run
 * A? A paired t-test, a randomization (sign-flip) test, a bootstrap interval
 * of the mean difference, and multiple-comparison corrections. Pure
 * TypeScript; the inner loops are written for ~1e8 steps per call.
 */
import { FusionrankError, invalidParameter, rangeError, typeError } from '../errors.js';
import { rng } from '../util/random.js';
import * as check from './check.js';
import { compensatedSum, quantile } from './numeric.js';
import { evaluate, parseMetric } from './metrics.js';
import type { CompareOptions, CompareRow, EvaluateOptions, PairedOptions, PairedResult, Qrels, Run } from './types.js';

/** Two values closer than this share of Σ|d| count as equal in the sign-flip test (float ties). */
const TIE_TOLERANCE = 1e-9;
/** The largest count `permutations` and `bootstrap` accept. */
const MAX_DRAWS = 2 ** 31 - 1;
/** 2^-32: maps a uint32 to [0, 1). */
const INV_2_32 = 2.3283064365386963e-10;

/**
 * Paired comparison of per-query values `a` (baseline) and `b` (the
 * candidate): d = b − a.
 *
 * - Arrays and typed arrays pair by index; any other object is a record that
 *   pairs by query key (both must hold the same keys; they are visited in
 *   sorted key order, so insertion order does not change the result).
 * - `pTTest`: two-sided paired t-test (Student t, n − 1 degrees of freedom).
 *   Degenerate cases: with one query, or when every d is 0, p = 1 (no
 *   evidence); when every d equals the same nonzero value (sd 0, n ≥ 2), p = 0.
 * - `pRandomization`: two-sided sign-flip test on |mean(d)|. When
 *   2^n ≤ `permutations` every sign vector is enumerated and p = count / 2^n
 *   (the identity included); otherwise p = (b + 1)/(B + 1) over B =
 *   `permutations` random sign vectors. Sums within 1e-9·Σ|d| of the observed
 *   one count as ties (as large), so 0.1 + 0.2 − 0.3 ≠ 0 does not matter.
 * - `ci95`: percentile bootstrap (2.5 % and 97.5 % quantiles, linear
 *   interpolation as numpy's default) of mean(d) over `bootstrap` resamples.
 * - `effectSize`: d_z = mean(d) / sd(d) with the sample sd (n − 1); 0 when
 *   every d is 0, ±Infinity when every d is the same nonzero value, NaN for a
 *   single nonzero d (no sd).
 * - Deterministic for a given `seed` (default 42); the interval does not
 *   depend on `permutations`.
 *
 * @example
 * const r = paired([0.2, 0.5, 0.4], [0.3, 0.6, 0.4]);
 * r.delta; // ≈ 0.0667 (mean of 0.1, 0.1, 0)
 * [r.wins, r.ties, r.losses]; // [2, 1, 0]
 * paired({ q1: 0.2, q2: 0.5 }, { q2: 0.6, q1: 0.3 }).n; // 2
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a or b is not an array, typed array or record of numbers, or they are of different kinds
 * @throws {RangeError} ERR_FUSIONRANK_LENGTH_MISMATCH when the arrays differ in length or a query key is in only one record
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there are no values
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a value is NaN or ±Infinity
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when permutations or bootstrap is not an integer in [1, 2^31 − 1], or seed not an integer in [0, 2^32 − 1] (TypeError when not a number)
 */
export function paired(
  a: ArrayLike<number> | Record<string, number>,
  b: ArrayLike<number> | Record<string, number>,
  options?: PairedOptions,
): PairedResult {
  const { permutations, bootstrap, seed } = pairedOptions(options, 'options');
  const [x, y] = pairValues(a, b);
  return pairedCore(x, y, permutations, bootstrap, seed);
}

interface ResolvedPairedOptions {
  permutations: number;
  bootstrap: number;
  seed: number;
}

function pairedOptions(options: unknown, name: string): ResolvedPairedOptions {
  const o = check.options<PairedOptions>(options, name);
  return {
    permutations: check.integer(o.permutations, `${name}.permutations`, 1, MAX_DRAWS, 10000),
    bootstrap: check.integer(o.bootstrap, `${name}.bootstrap`, 1, MAX_DRAWS, 10000),
    seed: check.integer(o.seed, `${name}.seed`, 0, 2 ** 32 - 1, 42),
  };
}

function isPositional(value: object): value is ArrayLike<number> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

function finite(value: unknown, name: string): number {
  if (typeof value !== 'number') throw typeError(invalidParameter(name, 'a finite number', value));
  if (!Number.isFinite(value)) throw rangeError(invalidParameter(name, 'a finite number', value), 'ERR_FUSIONRANK_NON_FINITE');
  return value;
}

/** Reads a and b into two Float64Arrays of paired values. */
function pairValues(a: unknown, b: unknown): [Float64Array, Float64Array] {
  const expected = 'an array, typed array or { query: number } record';
  if (a === null || typeof a !== 'object') throw typeError(invalidParameter('a', expected, a));
  if (b === null || typeof b !== 'object') throw typeError(invalidParameter('b', expected, b));
  const positional = isPositional(a);
  if (positional !== isPositional(b))
    throw typeError(invalidParameter('b', positional ? 'an array or typed array (as a is)' : 'a { query: number } record (as a is)', b));
  if (positional) {
    const xa = a as ArrayLike<number>;
    const xb = b as ArrayLike<number>;
    if (xa.length !== xb.length) throw rangeError(invalidParameter('b', `an array of length ${xa.length} (as a)`, b), 'ERR_FUSIONRANK_LENGTH_MISMATCH');
    if (xa.length === 0) throw rangeError(invalidParameter('a', 'at least one value', a), 'ERR_FUSIONRANK_EMPTY_INPUT');
    const x = new Float64Array(xa.length);
    const y = new Float64Array(xa.length);
    for (let i = 0; i < x.length; i++) {
      x[i] = finite(xa[i], `a[${i}]`);
      y[i] = finite(xb[i], `b[${i}]`);
    }
    return [x, y];
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = Object.keys(ra).sort();
  for (const key of keys)
    if (!Object.hasOwn(rb, key))
      throw rangeError(`b lacks query ${JSON.stringify(key)} that a holds: records pair by query key and must hold the same queries`, 'ERR_FUSIONRANK_LENGTH_MISMATCH');
  const keysB = Object.keys(rb);
  if (keysB.length !== keys.length) {
    const extra = keysB.find((key) => !Object.hasOwn(ra, key));
    throw rangeError(`a lacks query ${JSON.stringify(extra)} that b holds: records pair by query key and must hold the same queries`, 'ERR_FUSIONRANK_LENGTH_MISMATCH');
  }
  if (keys.length === 0) throw rangeError(invalidParameter('a', 'at least one query', a), 'ERR_FUSIONRANK_EMPTY_INPUT');
  const x = new Float64Array(keys.length);
  const y = new Float64Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    x[i] = finite(ra[keys[i]], `a[${JSON.stringify(keys[i])}]`);
    y[i] = finite(rb[keys[i]], `b[${JSON.stringify(keys[i])}]`);
  }
  return [x, y];
}

function pairedCore(x: Float64Array, y: Float64Array, permutations: number, bootstrap: number, seed: number): PairedResult {
  const n = x.length;
  const d = new Float64Array(n);
  let wins = 0;
  let ties = 0;
  let losses = 0;
  let allEqual = true;
  for (let i = 0; i < n; i++) {
    d[i] = y[i] - x[i];
    if (y[i] > x[i]) wins++;
    else if (y[i] < x[i]) losses++;
    else ties++;
    if (d[i] !== d[0]) allEqual = false;
  }
  const mean = compensatedSum(d) / n;
  // Exact 0 when every d is the same, so the degenerate cases are decided by data, not rounding.
  let sd = 0;
  if (!allEqual) {
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (d[i] - mean) * (d[i] - mean);
    sd = Math.sqrt(ss / (n - 1));
  }
  let pTTest: number;
  let effectSize: number;
  if (allEqual && d[0] === 0) {
    pTTest = 1;
    effectSize = 0;
  } else if (n === 1) {
    pTTest = 1;
    effectSize = NaN;
  } else if (sd === 0) {
    pTTest = 0;
    effectSize = mean > 0 ? Infinity : -Infinity;
  } else {
    pTTest = studentTwoSided(mean / (sd / Math.sqrt(n)), n - 1);
    effectSize = mean / sd;
  }

  // Separate streams: the interval does not depend on how many permutations ran.
  const seeds = rng(seed);
  const word = (): number => (seeds() * 4294967296) >>> 0;
  const permState = [word(), word(), word(), word()];
  const bootState = [word(), word(), word(), word()];
  // xorshift128 must not start at all zeros (probability 2^-128, but cheap to rule out).
  permState[0] ||= 1;
  bootState[0] ||= 1;
  const pRandomization = n <= 52 && 2 ** n <= permutations ? signFlipExact(d) : signFlipSampled(d, permutations, permState);
  const ci95 = bootstrapCI(d, bootstrap, bootState);

  return { n, meanA: compensatedSum(x) / n, meanB: compensatedSum(y) / n, delta: mean, ci95, pTTest, pRandomization, effectSize, wins, ties, losses };
}

// ---------------------------------------------------------------------------
// Student t via the regularized incomplete beta function

/** ln Γ(z) for z > 0: Lanczos (g = 7, 9 terms), ~1e-15 relative. */
function lnGamma(z: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
    9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - lnGamma(1 - z);
  const w = z - 1;
  let s = c[0];
  for (let i = 1; i < 9; i++) s += c[i] / (w + i);
  const t = w + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (w + 0.5) * Math.log(t) - t + Math.log(s);
}

/**
 * The continued fraction of I_x(a, b) (without its prefactor x^a (1−x)^b / (a B(a, b))),
 * evaluated by the modified Lentz method. Converges fast for x < (a + 1)/(a + b + 2).
 */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const guard = (v: number): number => (Math.abs(v) < tiny ? tiny : v);
  let c = 1;
  let dd = 1 / guard(1 - ((a + b) * x) / (a + 1));
  let h = dd;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    // Even step: m (b − m) x / ((a + 2m − 1)(a + 2m)).
    let coef = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    dd = 1 / guard(1 + coef * dd);
    c = guard(1 + coef / c);
    h *= dd * c;
    // Odd step: −(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
    coef = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    dd = 1 / guard(1 + coef * dd);
    c = guard(1 + coef / c);
    const step = dd * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b), with y = 1 − x passed in full precision. */
function betaRegularized(a: number, b: number, x: number, y: number): number {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const lnx = y < 0.5 ? Math.log1p(-y) : Math.log(x);
  const lny = x < 0.5 ? Math.log1p(-x) : Math.log(y);
  const front = Math.exp(a * lnx + b * lny - (lnGamma(a) + lnGamma(b) - lnGamma(a + b)));
  if (x < (a + 1) / (a + b + 2)) return (front * betaFraction(a, b, x)) / a;
  return 1 - (front * betaFraction(b, a, y)) / b;
}

/** Two-sided p of Student's t with df degrees of freedom: I_{df/(df+t²)}(df/2, 1/2). */
function studentTwoSided(t: number, df: number): number {
  if (!Number.isFinite(t)) return 0;
  const t2 = t * t;
  const p = betaRegularized(df / 2, 0.5, df / (df + t2), t2 / (df + t2));
  return Math.min(1, Math.max(0, p));
}

// ---------------------------------------------------------------------------
// Randomization (sign-flip) test

/** Exact two-sided p over all 2^n sign vectors (n ≤ 52), in two halves so each sum has few rounding steps. */
function signFlipExact(d: Float64Array): number {
  const n = d.length;
  const n1 = n >> 1;
  const half = (from: number, bits: number): Float64Array => {
    // table[m] = Σ of the half with the items in mask m negated; built from m without its lowest bit.
    const table = new Float64Array(2 ** bits);
    for (let i = 0; i < bits; i++) table[0] += d[from + i];
    for (let m = 1; m < table.length; m++) {
      const low = 31 - Math.clz32(m & -m);
      table[m] = table[m & (m - 1)] - 2 * d[from + low];
    }
    return table;
  };
  const lo = half(0, n1);
  const hi = half(n1, n - n1);
  let scale = 0;
  for (let i = 0; i < n; i++) scale += Math.abs(d[i]);
  const threshold = Math.abs(lo[0] + hi[0]) - TIE_TOLERANCE * scale;
  let count = 0;
  for (let h = 0; h < hi.length; h++) {
    const base = hi[h];
    for (let l = 0; l < lo.length; l++) if (Math.abs(base + lo[l]) >= threshold) count++;
  }
  return count / (lo.length * hi.length);
}

/**
 * Sampled two-sided p, (b + 1)/(B + 1). Items are grouped by four: a table
 * holds each group's 16 signed sums, so one random nibble picks a group's
 * signs with one load, and one 32-bit word serves 32 items.
 */
function signFlipSampled(d: Float64Array, permutations: number, state: number[]): number {
  const n = d.length;
  const words = Math.ceil(n / 32);
  const table = new Float64Array(words * 128); // padding groups stay 0
  let scale = 0;
  for (let g = 0; g * 4 < n; g++) {
    for (let m = 0; m < 16; m++) {
      let s = 0;
      for (let j = 0; j < 4; j++) {
        const i = g * 4 + j;
        if (i < n) s += (m >> j) & 1 ? -d[i] : d[i];
      }
      table[g * 16 + m] = s;
    }
  }
  for (let i = 0; i < n; i++) scale += Math.abs(d[i]);
  // The observed sum the same way (nibble 0 everywhere), so the identity ties exactly.
  let observed = 0;
  for (let w = 0; w < words; w++) {
    const t = w << 7;
    observed += table[t] + table[t + 16] + table[t + 32] + table[t + 48] + table[t + 64] + table[t + 80] + table[t + 96] + table[t + 112];
  }
  const threshold = Math.abs(observed) - TIE_TOLERANCE * scale;

  let [s0, s1, s2, s3] = state;
  let extreme = 0;
  for (let p = 0; p < permutations; p++) {
    let s = 0;
    for (let w = 0; w < words; w++) {
      // xorshift128 (Marsaglia 2003), inlined.
      let t = s0 ^ (s0 << 11);
      s0 = s1;
      s1 = s2;
      s2 = s3;
      s3 = s3 ^ (s3 >>> 19) ^ t ^ (t >>> 8);
      const r = s3;
      t = w << 7;
      s +=
        table[t + (r & 15)] +
        table[t + 16 + ((r >>> 4) & 15)] +
        table[t + 32 + ((r >>> 8) & 15)] +
        table[t + 48 + ((r >>> 12) & 15)] +
        table[t + 64 + ((r >>> 16) & 15)] +
        table[t + 80 + ((r >>> 20) & 15)] +
        table[t + 96 + ((r >>> 24) & 15)] +
        table[t + 112 + (r >>> 28)];
    }
    if (Math.abs(s) >= threshold) extreme++;
  }
  return (extreme + 1) / (permutations + 1);
}

// ---------------------------------------------------------------------------
// Bootstrap

/** Percentile bootstrap 95 % interval of mean(d): `resamples` means, their 2.5 % and 97.5 % quantiles. */
function bootstrapCI(d: Float64Array, resamples: number, state: number[]): [number, number] {
  const n = d.length;
  const means = new Float64Array(resamples);
  let [s0, s1, s2, s3] = state;
  for (let b = 0; b < resamples; b++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      const t = s0 ^ (s0 << 11);
      s0 = s1;
      s1 = s2;
      s2 = s3;
      s3 = s3 ^ (s3 >>> 19) ^ t ^ (t >>> 8);
      // floor(u32 · n / 2^32): exact in doubles for n < 2^21, bias ≤ n / 2^32.
      s += d[((s3 >>> 0) * n * INV_2_32) | 0];
    }
    means[b] = s / n;
  }
  means.sort();
  return [quantile(means, 0.025), quantile(means, 0.975)];
}

// ---------------------------------------------------------------------------
// Multiple comparisons

/**
 * Adjusts p-values for multiple comparisons, in the input's order.
 * `'holm'`: Holm's step-down (sorted ascending, the i-th smallest times
 * m − i + 1, made monotone, capped at 1), which controls the family-wise
 * error like Bonferroni but rejects at least as much; `'bonferroni'`: m·p
 * capped at 1; `'none'`: a copy.
 *
 * @example
 * adjustPValues([0.01, 0.04, 0.03], 'holm'); // ≈ [0.03, 0.06, 0.06]
 * adjustPValues([0.01, 0.04], 'bonferroni'); // [0.02, 0.08]
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when p is not an array of numbers or method is not a string
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a p-value is outside [0, 1] or method is unknown
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a p-value is NaN
 */
export function adjustPValues(p: readonly number[], method: 'holm' | 'bonferroni' | 'none'): number[] {
  if (!Array.isArray(p)) throw typeError(invalidParameter('p', 'an array of p-values', p));
  const m = check.oneOf(method, 'method', ['holm', 'bonferroni', 'none'] as const);
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    if (typeof v !== 'number') throw typeError(invalidParameter(`p[${i}]`, 'a p-value in [0, 1]', v));
    if (Number.isNaN(v)) throw rangeError(invalidParameter(`p[${i}]`, 'a p-value in [0, 1]', v), 'ERR_FUSIONRANK_NON_FINITE');
    if (v < 0 || v > 1) throw rangeError(invalidParameter(`p[${i}]`, 'a p-value in [0, 1]', v));
  }
  const count = p.length;
  if (m === 'none') return p.slice();
  if (m === 'bonferroni') return p.map((v) => Math.min(1, v * count));
  const order = p.map((_, i) => i).sort((i, j) => p[i] - p[j] || i - j);
  const out = new Array<number>(count);
  let running = 0;
  for (let rank = 0; rank < count; rank++) {
    const i = order[rank];
    running = Math.max(running, Math.min(1, (count - rank) * p[i]));
    out[i] = running;
  }
  return out;
}

// ---------------------------------------------------------------------------
// compare

const EVALUATE_KEYS = ['gain', 'ties', 'queries', 'relevanceLevel'] as const;

/**
 * Evaluates every run, then compares each non-baseline run with the baseline
 * on each metric: one row per run × metric (runs in the order of `runs`,
 * metrics in the order given, each under its canonical name as `evaluate`
 * reports it: `'P_10'` is `'P@10'`, a metric named twice gives one row) with
 * {@link paired}'s fields over the queries both evaluations scored for that
 * metric (a = baseline, b = the run, paired by query key), and
 * `pAdjusted`: the `test` p-value (`'randomization'` by default, or `'t'`)
 * adjusted over all rows by `correction` (`'holm'` by default; see
 * {@link adjustPValues}). Every row uses the same seed. Evaluation options
 * (`gain`, `ties`, `queries`, `relevanceLevel`) go to `evaluate`.
 *
 * @example
 * const rows = compare(qrels, { bm25, hybrid, rerank }, { baseline: 'bm25', metrics: ['ndcg@10', 'map'] });
 * for (const r of rows) console.log(r.run, r.metric, r.delta.toFixed(3), r.pAdjusted < 0.05 ? 'significant' : '');
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when runs or options is not an object, or metrics is not a name or an array of names
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there are fewer than two runs or no metrics
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when baseline is not one of the run names (the message lists them), or correction / test is unknown
 * @throws {FusionrankError} ERR_FUSIONRANK_NO_COMMON_QUERIES when a run and the baseline share no evaluated query for a metric (e.g. recall where no query has a relevant document)
 * @throws whatever {@link paired}'s options and `evaluate` throw (e.g. ERR_FUSIONRANK_INVALID_METRIC)
 */
export function compare(qrels: Qrels, runs: Record<string, Run>, options: CompareOptions): CompareRow[] {
  const o = check.object<CompareOptions>(options, 'options', "{ metrics: ['ndcg@10'] }");
  const table = check.object<Record<string, Run>>(runs, 'runs', 'an object of { name: run }');
  const names = Object.keys(table);
  if (names.length < 2) throw rangeError(invalidParameter('runs', 'at least two runs', runs), 'ERR_FUSIONRANK_EMPTY_INPUT');
  let baseline = names[0];
  if (o.baseline !== undefined) {
    if (typeof o.baseline !== 'string') throw typeError(invalidParameter('options.baseline', 'a run name', o.baseline));
    if (!Object.hasOwn(table, o.baseline))
      throw rangeError(`${invalidParameter('options.baseline', 'the name of a run', o.baseline)}; runs: ${names.map((n) => JSON.stringify(n)).join(', ')}`);
    baseline = o.baseline;
  }
  const metricList: readonly unknown[] = typeof o.metrics === 'string' ? [o.metrics] : o.metrics;
  if (!Array.isArray(metricList)) throw typeError(invalidParameter('options.metrics', "an array of metric names such as ['ndcg@10']", o.metrics));
  if (metricList.length === 0) throw rangeError(invalidParameter('options.metrics', 'at least one metric name', o.metrics), 'ERR_FUSIONRANK_EMPTY_INPUT');
  // Rows are keyed as evaluate reports them: canonical names, each once.
  const metrics = [...new Set(metricList.map((m) => parseMetric(m as string).name))];
  const correction = check.oneOf(o.correction, 'options.correction', ['holm', 'bonferroni', 'none'] as const, 'holm');
  const test = check.oneOf(o.test, 'options.test', ['randomization', 't'] as const, 'randomization');
  const { permutations, bootstrap, seed } = pairedOptions({ permutations: o.permutations, bootstrap: o.bootstrap, seed: o.seed }, 'options');
  const evaluateOptions: EvaluateOptions = {};
  for (const key of EVALUATE_KEYS) if (o[key] !== undefined) (evaluateOptions as Record<string, unknown>)[key] = o[key];

  const perQuery = new Map<string, Record<string, Record<string, number>>>();
  for (const name of names) perQuery.set(name, evaluate(qrels, table[name], metrics, evaluateOptions).perQuery);

  const base = perQuery.get(baseline)!;
  const rows: Omit<CompareRow, 'pAdjusted'>[] = [];
  for (const name of names) {
    if (name === baseline) continue;
    const values = perQuery.get(name)!;
    for (const metric of metrics) {
      const a = base[metric] ?? {};
      const b = values[metric] ?? {};
      const shared = Object.keys(a)
        .filter((q) => Object.hasOwn(b, q))
        .sort();
      if (shared.length === 0)
        throw new FusionrankError(`Run ${JSON.stringify(name)} and baseline ${JSON.stringify(baseline)} share no evaluated query for ${metric}`, 'ERR_FUSIONRANK_NO_COMMON_QUERIES');
      const x = Float64Array.from(shared, (q) => a[q]);
      const y = Float64Array.from(shared, (q) => b[q]);
      rows.push({ run: name, metric, baseline, ...pairedCore(x, y, permutations, bootstrap, seed) });
    }
  }
  const adjusted = adjustPValues(
    rows.map((r) => (test === 't' ? r.pTTest : r.pRandomization)),
    correction,
  );
  return rows.map((r, i) => ({ ...r, pAdjusted: adjusted[i] }));
}
