/**
 * How much do two rankings of the same queries agree? Rank correlations,
 * rank-biased overlap, top-k overlap and how far items moved. Pure
 * TypeScript; runs become rankings in trec_eval's order (order.ts).
 */
import { FusionrankError, invalidParameter, rangeError, typeError } from '../errors.js';
import * as check from './check.js';
import { rankDocs } from './order.js';
import type { AgreementOptions, AgreementResult, AgreementValues, Run } from './types.js';

const MEASURES = ['kendallTau', 'spearman', 'rbo', 'overlap', 'top1', 'positionsMoved', 'scoreCorrelation'] as const;

/**
 * Agreement between two runs, per query and averaged over the queries both
 * hold. Each query's scores become a ranking (score descending, ties by doc
 * id descending, as trec_eval), cut to its top `k` (default: the whole list).
 *
 * Conventions:
 * - "Shared items" are those both top-k lists hold. `kendallTau` (tau-b),
 *   `spearman` (ranks re-ranked among the shared items) and
 *   `scoreCorrelation` (Pearson of the two runs' scores) are computed over
 *   them. Rankings are strict, so tau-b equals tau-a here. With fewer than
 *   2 shared items (or, for `scoreCorrelation`, a constant score) the value
 *   is NaN, and the mean skips NaN values (NaN only when every query's is).
 * - `overlap` = |A_k ∩ B_k| / k', and `positionsMoved` counts an item absent
 *   from one list at rank k' + 1 there, where k' = min(k, longer list's
 *   length): with the default k, the longer list's length. So identical
 *   lists give overlap 1 even when shorter than k.
 * - `positionsMoved`: mean |rank in A − rank in B| (1-based) over the union
 *   of both top-k lists.
 * - `rbo`: RBO_ext (Webber, Moffat & Zobel 2010, eq. 32), the extrapolated
 *   rank-biased overlap of the two prefixes; lists of different lengths as
 *   the paper's uneven-lists case (the shorter list is complete). 1 for
 *   identical lists, 0 for disjoint ones.
 * - Two empty lists count as identical (overlap, rbo and top1 1, positionsMoved 0);
 *   one empty list against a non-empty one gives overlap, rbo and top1 0.
 *
 * @example
 * const r = agreement(
 *   { q1: { a: 3, b: 2, c: 1 } },
 *   { q1: { a: 3, c: 2, b: 1 } },
 *   { k: 3, p: 0.9 },
 * );
 * r.top1; // 1
 * r.kendallTau; // 1/3
 * r.perQuery.q1.positionsMoved; // 2/3
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a run is not { query: { doc: score } }, or options / p is of the wrong type
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE when a score is NaN or ±Infinity
 * @throws {RangeError|TypeError} ERR_FUSIONRANK_INVALID_K when k is not an integer ≥ 1
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when p is not in (0, 1)
 * @throws {FusionrankError} ERR_FUSIONRANK_NO_COMMON_QUERIES when the runs share no query
 */
export function agreement(runA: Run, runB: Run, options?: AgreementOptions): AgreementResult {
  const a = check.scoresByQuery(runA, 'runA', 'score');
  const b = check.scoresByQuery(runB, 'runB', 'score');
  const o = check.options<AgreementOptions>(options, 'options');
  const k = o.k === undefined ? Infinity : check.integer(o.k, 'options.k', 1, Number.MAX_SAFE_INTEGER, undefined, 'ERR_FUSIONRANK_INVALID_K');
  let p = 0.9;
  if (o.p !== undefined) {
    if (typeof o.p !== 'number') throw typeError(invalidParameter('options.p', 'a number in (0, 1)', o.p));
    if (!(o.p > 0 && o.p < 1)) throw rangeError(invalidParameter('options.p', 'a number in (0, 1)', o.p));
    p = o.p;
  }
  const queries = Object.keys(a).filter((q) => Object.hasOwn(b, q));
  if (queries.length === 0) throw new FusionrankError('runA and runB share no query', 'ERR_FUSIONRANK_NO_COMMON_QUERIES');

  const perQuery: Record<string, AgreementValues> = {};
  // defineProperty: a query named '__proto__' (JSON.parse makes it an own key) stays a key.
  for (const q of queries) Object.defineProperty(perQuery, q, { value: queryAgreement(a[q], b[q], k, p), enumerable: true, writable: true, configurable: true });
  const means = {} as AgreementValues;
  for (const measure of MEASURES) {
    let total = 0;
    let count = 0;
    for (const q of queries) {
      const v = perQuery[q][measure];
      if (!Number.isNaN(v)) {
        total += v;
        count++;
      }
    }
    means[measure] = count === 0 ? NaN : total / count;
  }
  return { queries: queries.length, ...means, perQuery };
}

function queryAgreement(scoresA: Record<string, number>, scoresB: Record<string, number>, k: number, p: number): AgreementValues {
  const listA = rankDocs(scoresA);
  const listB = rankDocs(scoresB);
  if (listA.length > k) listA.length = k;
  if (listB.length > k) listB.length = k;
  const depth = Math.max(listA.length, listB.length); // k', the effective k
  const rankA = new Map<string, number>();
  const rankB = new Map<string, number>();
  listA.forEach((doc, i) => rankA.set(doc, i));
  listB.forEach((doc, i) => rankB.set(doc, i));
  const shared = listA.filter((doc) => rankB.has(doc)); // in A's order

  let moved = 0;
  for (const doc of listA) moved += Math.abs(rankA.get(doc)! - (rankB.get(doc) ?? depth));
  let union = listA.length;
  for (const doc of listB)
    if (!rankA.has(doc)) {
      moved += depth - rankB.get(doc)!;
      union++;
    }

  const m = shared.length;
  // B's positions of the shared items, taken in A's order: A's order is 0..m−1.
  const positionsB = Int32Array.from(shared, (doc) => rankB.get(doc)!);
  return {
    kendallTau: m < 2 ? NaN : kendallTauStrict(positionsB),
    spearman: m < 2 ? NaN : spearmanStrict(positionsB),
    rbo: rboExtrapolated(listA, listB, p),
    overlap: depth === 0 ? 1 : m / depth,
    top1: depth === 0 ? 1 : listA.length > 0 && listB.length > 0 && listA[0] === listB[0] ? 1 : 0,
    positionsMoved: union === 0 ? 0 : moved / union,
    scoreCorrelation: m < 2 ? NaN : pearson(shared.map((doc) => scoresA[doc]), shared.map((doc) => scoresB[doc])),
  };
}

/** Kendall's tau between 0..m−1 and `seq` (distinct values): 1 − 4·inversions / (m(m − 1)), inversions by merge sort. */
function kendallTauStrict(seq: Int32Array): number {
  const m = seq.length;
  let src = Int32Array.from(seq);
  let dst = new Int32Array(m);
  let inversions = 0;
  for (let width = 1; width < m; width *= 2) {
    for (let lo = 0; lo < m; lo += 2 * width) {
      const mid = Math.min(lo + width, m);
      const hi = Math.min(lo + 2 * width, m);
      let i = lo;
      let j = mid;
      let out = lo;
      while (i < mid && j < hi) {
        if (src[i] <= src[j]) dst[out++] = src[i++];
        else {
          inversions += mid - i; // src[j] precedes every remaining left item
          dst[out++] = src[j++];
        }
      }
      while (i < mid) dst[out++] = src[i++];
      while (j < hi) dst[out++] = src[j++];
    }
    [src, dst] = [dst, src];
  }
  return 1 - (4 * inversions) / (m * (m - 1));
}

/** Spearman's rho between 0..m−1 and the ranks of `seq` (distinct values): 1 − 6Σd² / (m(m² − 1)). */
function spearmanStrict(seq: Int32Array): number {
  const m = seq.length;
  const order = Array.from({ length: m }, (_, i) => i).sort((i, j) => seq[i] - seq[j]);
  let squares = 0;
  for (let rank = 0; rank < m; rank++) squares += (order[rank] - rank) ** 2;
  return 1 - (6 * squares) / (m * (m * m - 1));
}

/** Pearson correlation; NaN when either side is constant. */
function pearson(x: number[], y: number[]): number {
  const m = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < m; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= m;
  my /= m;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < m; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  if (sxx === 0 || syy === 0) return NaN;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/**
 * RBO_ext of two prefixes (Webber, Moffat & Zobel 2010, eq. 32). With L the
 * longer list (length l) and S the shorter (length s), X_d the overlap at
 * depth d (beyond s: of L's first d items with all of S):
 * (1−p)/p · [Σ_{d≤l} X_d/d · p^d + Σ_{s<d≤l} X_s(d−s)/(s·d) · p^d] + [(X_l − X_s)/l + X_s/s] · p^l.
 */
function rboExtrapolated(listA: string[], listB: string[], p: number): number {
  const [long, short] = listA.length >= listB.length ? [listA, listB] : [listB, listA];
  const l = long.length;
  const s = short.length;
  if (l === 0) return 1;
  if (s === 0) return 0;
  const seenLong = new Set<string>();
  const seenShort = new Set<string>();
  let overlap = 0;
  let overlapAtS = 0;
  let total = 0;
  let pd = 1;
  for (let d = 1; d <= l; d++) {
    pd *= p;
    const x = long[d - 1];
    if (d <= s) {
      const y = short[d - 1];
      if (x === y) overlap++;
      else {
        if (seenShort.has(x)) overlap++;
        if (seenLong.has(y)) overlap++;
      }
      seenLong.add(x);
      seenShort.add(y);
      if (d === s) overlapAtS = overlap;
    } else {
      if (seenShort.has(x)) overlap++;
      total += ((overlapAtS * (d - s)) / (s * d)) * pd;
    }
    total += (overlap / d) * pd;
  }
  return ((1 - p) / p) * total + ((overlap - overlapAtS) / l + overlapAtS / s) * pd;
}
