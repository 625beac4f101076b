/**
 * Offline ranking metrics with trec_eval's definitions (usnistgov/trec_eval
 * 9.x, the m_*.c file each follows is named at its formula), plus tie
 * averaging (McSherry & Najork 2008). Pure TypeScript: no native addon.
 *
 * Conventions, as trec_eval unless said otherwise:
 * - A query's ranking is its run scores, descending, ties broken by document
 *   id descending (`order.ts`). A cutoff past the end of the ranking counts the
 *   missing ranks as non-relevant (P@20 of 15 retrieved documents divides by 20).
 * - Unjudged documents and labels ≤ 0 have gain 0 and are never relevant.
 * - Binary metrics count a document relevant when its label ≥ `relevanceLevel`
 *   (default 1, `trec_eval -l`); nDCG uses the label itself as gain (or
 *   2^label − 1) and ignores `relevanceLevel`, as m_ndcg.c does.
 * - R, the number of relevant documents, counts every relevant judged
 *   document of the query, retrieved or not; so does the ideal DCG.
 * - A query whose qrels hold no relevant document scores 0 on every metric,
 *   as in trec_eval, except `recall` / `recall@k`: such a query is left out of
 *   that metric's per-query table and mean (trec_eval would count it as 0).
 * - Means are over the queries in both qrels and run (`queries: 'both'`) or,
 *   like `trec_eval -c`, over every qrels query (`queries: 'qrels'`), a query
 *   missing from the run having an empty ranking.
 *
 * One pass per query: each score is read once and binary-searched among the
 * judged documents' scores, which gives every judged document its rank (or
 * its tied group); every metric is then read off those few ranks, so an
 * unjudged document costs one lookup and one search, and nothing is sorted
 * but the judged documents.
 */
import { FusionrankError, invalidParameter, rangeError, typeError } from '../errors.js';
import * as check from './check.js';
import { compareTrec } from './order.js';
import type { EvaluateOptions, EvaluateResult, MetricName, Qrels, Run } from './types.js';

/** The measures `evaluate` computes. */
export type Measure = 'ndcg' | 'map' | 'mrr' | 'P' | 'recall' | 'hit' | 'rprec' | 'judged';

/** A metric name, parsed: `parseMetric('ndcg_cut_10')` is `{ name: 'ndcg@10', measure: 'ndcg', k: 10 }`. */
export interface ParsedMetric {
  /** Canonical name, e.g. `'ndcg@10'`, `'P@5'`, `'map'`: the key of the metric in `evaluate`'s result. */
  name: string;
  measure: Measure;
  /** The cutoff; absent for a metric over the whole ranking. */
  k?: number;
}

/**
 * Every metric form `evaluate` accepts (k a positive integer). Names are
 * case-insensitive; trec_eval's names are aliases: `P_10`, `ndcg_cut_10`,
 * `map_cut_10`, `recall_10`, `success_10` (hit@10), `recip_rank` (mrr), `Rprec`.
 */
export const METRIC_FORMS: readonly string[] = Object.freeze([
  'ndcg', 'ndcg@k', 'map', 'map@k', 'mrr', 'mrr@k', 'P@k', 'recall', 'recall@k', 'hit@k', 'rprec', 'judged@k',
]);

const TREC_ALIASES = 'P_k, ndcg_cut_k, map_cut_k, recall_k, success_k, recip_rank, Rprec';

// Lower-case measure names: with '@k', without a cutoff, and trec_eval's '_k' forms.
const AT_FORMS = new Map<string, Measure>([
  ['ndcg', 'ndcg'], ['map', 'map'], ['mrr', 'mrr'], ['p', 'P'], ['precision', 'P'],
  ['recall', 'recall'], ['hit', 'hit'], ['success', 'hit'], ['judged', 'judged'],
]);
const PLAIN_FORMS = new Map<string, Measure>([
  ['ndcg', 'ndcg'], ['map', 'map'], ['mrr', 'mrr'], ['recip_rank', 'mrr'], ['recall', 'recall'], ['rprec', 'rprec'],
]);
const TREC_CUT_FORMS = new Map<string, Measure>([
  ['p', 'P'], ['ndcg_cut', 'ndcg'], ['map_cut', 'map'], ['recall', 'recall'], ['success', 'hit'],
]);

function invalidMetric(name: unknown): never {
  const expected = `a metric name of the form ${METRIC_FORMS.join(', ')} (k a positive integer; or trec_eval's ${TREC_ALIASES})`;
  if (typeof name !== 'string') throw typeError(invalidParameter('metric', expected, name), 'ERR_FUSIONRANK_INVALID_METRIC');
  throw rangeError(invalidParameter('metric', expected, name), 'ERR_FUSIONRANK_INVALID_METRIC');
}

function parseK(text: string, name: string): number {
  const k = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(k >= 1 && k <= Number.MAX_SAFE_INTEGER))
    throw rangeError(invalidParameter(`the cutoff k of metric '${name}'`, 'a positive integer', text), 'ERR_FUSIONRANK_INVALID_K');
  return k;
}

/**
 * Parses a metric name into its measure and cutoff, with the canonical name
 * `evaluate` reports it under.
 *
 * @example
 * parseMetric('ndcg@10');     // { name: 'ndcg@10', measure: 'ndcg', k: 10 }
 * parseMetric('P_5');         // { name: 'P@5', measure: 'P', k: 5 }
 * parseMetric('recip_rank');  // { name: 'mrr', measure: 'mrr' }
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_METRIC when the name is none of {@link METRIC_FORMS} (TypeError when not a string)
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_K when k is not a positive integer (`'ndcg@0'`, `'P@2.5'`)
 */
export function parseMetric(name: string): ParsedMetric {
  if (typeof name !== 'string') invalidMetric(name);
  const lower = name.toLowerCase();
  const at = lower.indexOf('@');
  if (at >= 0) {
    const measure = AT_FORMS.get(lower.slice(0, at));
    if (measure === undefined) invalidMetric(name);
    const k = parseK(lower.slice(at + 1), name);
    return { name: `${measure}@${k}`, measure, k };
  }
  const plain = PLAIN_FORMS.get(lower);
  if (plain !== undefined) return { name: plain, measure: plain };
  const cut = /^(p|ndcg_cut|map_cut|recall|success)_(.*)$/.exec(lower);
  if (cut !== null) {
    const measure = TREC_CUT_FORMS.get(cut[1]) as Measure;
    const k = parseK(cut[2], name);
    return { name: `${measure}@${k}`, measure, k };
  }
  return invalidMetric(name);
}

// Measure codes for the per-query loop.
const NDCG = 0, MAP = 1, MRR = 2, PREC = 3, RECALL = 4, HIT = 5, RPREC = 6, JUDGED = 7;
const CODES: Record<Measure, number> = { ndcg: NDCG, map: MAP, mrr: MRR, P: PREC, recall: RECALL, hit: HIT, rprec: RPREC, judged: JUDGED };

// Tables shared by every call, grown on demand: disc[p] = 1/log2(p+1) for rank p ≥ 1,
// discSum[i] = Σ_{p≤i} disc[p], harmonic[i] = Σ_{p≤i} 1/p.
let disc = new Float64Array(0);
let discSum = new Float64Array(0);
let harmonic = new Float64Array(0);

function ensureTables(size: number): void {
  if (disc.length > size) return;
  let length = Math.max(1024, disc.length);
  while (length <= size) length *= 2;
  disc = new Float64Array(length);
  discSum = new Float64Array(length);
  harmonic = new Float64Array(length);
  for (let p = 1; p < length; p++) {
    disc[p] = 1 / Math.log2(p + 1);
    discSum[p] = discSum[p - 1] + disc[p];
    harmonic[p] = harmonic[p - 1] + 1 / p;
  }
}

// Scratch buffers reused across queries.
let keys = new Float64Array(256);

function grow(buffer: Float64Array<ArrayBuffer>, size: number): Float64Array<ArrayBuffer> {
  if (buffer.length >= size) return buffer;
  let length = buffer.length;
  while (length < size) length *= 2;
  return new Float64Array(length);
}

/** First index in values[0, n) (ascending) whose value is ≥ x. */
function lowerBound(values: Float64Array, n: number, x: number): number {
  let lo = 0, hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid] >= x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * One query's judged and retrieved documents as rank groups, by rank: a group
 * is `size` documents at ranks start+1 … start+size, holding `rel` relevant
 * documents, `judged` judged ones and the gains `gain`. Under trec ties every
 * judged document is its own group of size 1; under averaged ties a group is
 * every document of one score, and each metric takes its expectation over
 * the group's orderings.
 */
interface Groups {
  count: number;
  start: Float64Array;
  size: Float64Array;
  rel: Float64Array;
  judged: Float64Array;
  gain: Float64Array;
}

function makeGroups(capacity: number): Groups {
  return {
    count: 0,
    start: new Float64Array(capacity),
    size: new Float64Array(capacity),
    rel: new Float64Array(capacity),
    judged: new Float64Array(capacity),
    gain: new Float64Array(capacity),
  };
}

let docs = makeGroups(256); // per judged retrieved document, in qrels order
let groups = makeGroups(256); // by rank

function ensureGroups(size: number): void {
  if (docs.start.length >= size) return;
  let length = docs.start.length;
  while (length < size) length *= 2;
  docs = makeGroups(length);
  groups = makeGroups(length);
}

/** DCG at cutoff k (m_ndcg.c, m_ndcg_cut.c: gain / log2(rank + 1)); a tied group contributes its mean gain at each of its ranks. */
function dcgAt(g: Groups, k: number): number {
  let dcg = 0;
  for (let i = 0; i < g.count; i++) {
    const start = g.start[i];
    if (start >= k) break;
    const size = g.size[i];
    if (size === 1) dcg += g.gain[i] * disc[start + 1];
    else if (g.gain[i] !== 0) dcg += (g.gain[i] / size) * (discSum[Math.min(start + size, k)] - discSum[start]);
  }
  return dcg;
}

/** Ideal DCG at cutoff k from the query's positive gains, sorted descending in ideal[0, count). */
function idealDcgAt(ideal: Float64Array, count: number, k: number): number {
  const end = Math.min(count, k);
  let dcg = 0;
  for (let i = 0; i < end; i++) dcg += ideal[i] * disc[i + 1];
  return dcg;
}

/**
 * Σ over relevant ranks p ≤ k of precision at p (m_map.c, m_map_cut.c divide it by R).
 * For a tied group at ranks start+1 … start+size holding r relevant documents
 * after `before` relevant ones, a rank start+j is relevant with probability r/size
 * and, given that, has 1 + before + (j−1)(r−1)/(size−1) relevant documents at or above it
 * in expectation; summed over j with the harmonic table.
 */
function precisionSumAt(g: Groups, k: number): number {
  let sum = 0;
  let before = 0;
  for (let i = 0; i < g.count; i++) {
    const start = g.start[i];
    if (start >= k) break;
    const r = g.rel[i];
    if (r === 0) continue;
    const size = g.size[i];
    if (size === 1) sum += (before + 1) / (start + 1);
    else {
      const m = Math.min(size, k - start);
      const h = harmonic[start + m] - harmonic[start]; // Σ_{j≤m} 1/(start+j)
      sum += (r / size) * (before + 1) * h;
      // Σ_{j≤m} (j−1)/(start+j) = m − (start+1)·h
      if (r > 1) sum += ((r * (r - 1)) / (size * (size - 1))) * (m - (start + 1) * h);
    }
    before += r;
  }
  return sum;
}

/** Reciprocal rank of the first relevant document within the top k, 0 when none (m_recip_rank.c). */
function reciprocalRankAt(g: Groups, k: number): number {
  for (let i = 0; i < g.count; i++) {
    const start = g.start[i];
    if (start >= k) return 0;
    const r = g.rel[i];
    if (r === 0) continue;
    const size = g.size[i];
    if (size === 1) return 1 / (start + 1);
    // The first relevant document of a shuffled group sits at offset j with
    // probability r/(size−j+1) · Π_{i<j} (size−r−i+1)/(size−i+1).
    const last = Math.min(size - r + 1, k - start);
    let noneYet = 1;
    let expected = 0;
    for (let j = 1; j <= last; j++) {
      expected += (noneYet * r) / (size - j + 1) / (start + j);
      noneYet *= (size - r - j + 1) / (size - j + 1);
    }
    return expected;
  }
  return 0;
}

/** Relevant (or, with `judged`, judged) documents expected in the top k: a group cut by k contributes pro rata (m_P.c, m_recall.c, m_Rprec.c). */
function countAt(g: Groups, k: number, counts: Float64Array): number {
  let count = 0;
  for (let i = 0; i < g.count; i++) {
    const start = g.start[i];
    if (start >= k) break;
    const c = counts[i];
    if (c === 0) continue;
    const size = g.size[i];
    count += size === 1 ? c : (c * Math.min(size, k - start)) / size;
  }
  return count;
}

/** 1 when a relevant document is in the top k (m_success.c); for a group cut by k, 1 − P(its top part holds none). */
function hitAt(g: Groups, k: number): number {
  for (let i = 0; i < g.count; i++) {
    const start = g.start[i];
    if (start >= k) return 0;
    const r = g.rel[i];
    if (r === 0) continue;
    const size = g.size[i];
    const m = Math.min(size, k - start);
    if (m === size) return 1;
    let none = 1;
    for (let j = 0; j < m && none > 0; j++) none *= (size - r - j) / (size - j);
    return 1 - none;
  }
  return 0;
}

interface Plan {
  names: string[];
  codes: number[];
  ks: number[];
}

function plan(metrics: unknown): Plan {
  let list: readonly unknown[];
  if (typeof metrics === 'string') list = [metrics];
  else if (Array.isArray(metrics)) list = metrics;
  else throw typeError(invalidParameter('metrics', 'a metric name or an array of metric names', metrics));
  if (list.length === 0) throw rangeError(invalidParameter('metrics', 'at least one metric name', metrics), 'ERR_FUSIONRANK_EMPTY_INPUT');
  const result: Plan = { names: [], codes: [], ks: [] };
  const seen = new Set<string>();
  for (const item of list) {
    const parsed = parseMetric(item as string);
    if (seen.has(parsed.name)) continue;
    seen.add(parsed.name);
    result.names.push(parsed.name);
    result.codes.push(CODES[parsed.measure]);
    result.ks.push(parsed.k ?? Infinity);
  }
  return result;
}

function setOwn(target: Record<string, number>, key: string, value: number): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}

function hasOwn(table: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(table, key);
}

/** Throws, with check.ts's message, unless `run` is `{ query: { doc: finite number } }`. */
function failRun(run: unknown): never {
  check.scoresByQuery(run, 'run', 'score');
  throw new FusionrankError('run failed validation', 'ERR_FUSIONRANK_INTERNAL'); // not reached
}

/** The shape of `run`; its scores are checked by the pass that reads them. */
function checkRunShape(run: unknown): Run {
  if (run === null || typeof run !== 'object' || Array.isArray(run)) failRun(run);
  for (const docs of Object.values(run)) if (docs === null || typeof docs !== 'object' || Array.isArray(docs)) failRun(run);
  return run as Run;
}

interface QueryContext {
  exponential: boolean;
  average: boolean;
  level: number;
}

let ideal = new Float64Array(256);
let docScore = new Float64Array(256); // score of each judged retrieved document
let distinct = new Float64Array(256); // their distinct scores, ascending
let above = new Float64Array(257); // per distinct score: documents scoring higher (a histogram first)
let equal = new Float64Array(256); // per distinct score: documents scoring the same
let tieBefore = new Float64Array(256); // per judged document: equal-score documents ranked before it
let firstDoc = new Int32Array(256); // per distinct score: a judged document of that score, then nextDoc
let nextDoc = new Int32Array(256);
// trec ties, per distinct score: the first id seen with it, then every id once a second one comes.
let firstTied: string[] = [];
let tiedIds: (string[] | undefined)[] = [];

function growInt(buffer: Int32Array<ArrayBuffer>, size: number): Int32Array<ArrayBuffer> {
  if (buffer.length >= size) return buffer;
  let length = buffer.length;
  while (length < size) length *= 2;
  return new Int32Array(length);
}

/**
 * Fills `groups` (by rank) for one query and returns R; `out.idealCount`
 * receives the number of positive gains, sorted descending into `ideal`.
 * Reads each score once: a judged document's rank is 1 + the number of
 * documents scoring higher (+ those of equal score and larger id, trec ties),
 * counted by binary search of every score among the judged documents' scores.
 * Calls `fail` (which throws) on a score that is not a finite number.
 */
function rankQuery(labels: Record<string, number>, scores: Record<string, number> | undefined, ctx: QueryContext, out: { idealCount: number }, fail: () => never): number {
  const ids = Object.keys(labels);
  const judgedCount = ids.length;
  ensureGroups(judgedCount);
  ideal = grow(ideal, judgedCount);
  docScore = grow(docScore, judgedCount);
  tieBefore = grow(tieBefore, judgedCount);
  nextDoc = growInt(nextDoc, judgedCount);

  let relevant = 0;
  let idealCount = 0;
  let retrieved = 0;
  const docIds: string[] = [];
  for (let i = 0; i < judgedCount; i++) {
    const id = ids[i];
    const label = labels[id];
    const gain = label > 0 ? (ctx.exponential ? 2 ** label - 1 : label) : 0;
    const rel = label >= ctx.level ? 1 : 0;
    relevant += rel;
    if (gain > 0) ideal[idealCount++] = gain;
    if (scores === undefined) continue;
    const score = scores[id];
    if (typeof score !== 'number' || !hasOwn(scores, id)) continue;
    if (score - score !== 0) fail();
    const d = retrieved++;
    docScore[d] = score + 0; // +0 folds −0 into 0: they tie, as in compareTrec
    docs.rel[d] = rel;
    docs.gain[d] = gain;
    docIds[d] = id;
  }

  // Distinct judged scores, ascending, each with its judged documents.
  distinct = grow(distinct, retrieved);
  for (let d = 0; d < retrieved; d++) distinct[d] = docScore[d];
  distinct.subarray(0, retrieved).sort();
  let m = 0;
  for (let d = 0; d < retrieved; d++) if (m === 0 || distinct[m - 1] !== distinct[d]) distinct[m++] = distinct[d];
  above = grow(above, m + 1);
  equal = grow(equal, m);
  firstDoc = growInt(firstDoc, m);
  above.fill(0, 0, m + 1);
  equal.fill(0, 0, m);
  firstDoc.fill(-1, 0, m);
  tiedIds.length = 0; // drops lists a failed call may have left
  for (let d = retrieved - 1; d >= 0; d--) {
    const u = lowerBound(distinct, m, docScore[d]);
    docs.start[d] = u; // the distinct index, for now
    nextDoc[d] = firstDoc[u];
    firstDoc[u] = d;
    tieBefore[d] = 0;
  }

  // One pass over the scores: a score above exactly p distinct judged scores
  // adds to histogram bin p; one equal to distinct[p] also to equal[p].
  let n = 0;
  if (scores !== undefined) {
    const lowest = m > 0 ? distinct[0] : Infinity;
    const trecTies = !ctx.average;
    for (const id of Object.keys(scores)) {
      const v = scores[id];
      if (typeof v !== 'number' || v - v !== 0) fail();
      n++;
      if (v < lowest) continue; // below every judged document
      let lo = 0, hi = m;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (distinct[mid] < v) lo = mid + 1;
        else hi = mid;
      }
      above[lo]++;
      if (lo < m && distinct[lo] === v) {
        if (++equal[lo] === 1) firstTied[lo] = id;
        else if (trecTies) {
          const list = tiedIds[lo];
          if (list === undefined) tiedIds[lo] = [firstTied[lo], id];
          else list.push(id);
        }
      }
    }
    // trec ties: larger ids first (order.ts); place each judged document among its score's ids.
    if (trecTies)
      for (let u = 0; u < m; u++) {
        const list = tiedIds[u];
        if (list === undefined) continue;
        tiedIds[u] = undefined;
        const score = distinct[u];
        list.sort((a, b) => compareTrec(a, score, b, score));
        for (let d = firstDoc[u]; d >= 0; d = nextDoc[d]) {
          const id = docIds[d];
          let lo = 0, hi = list.length;
          while (lo < hi) {
            const mid = (lo + hi) >>> 1;
            if (compareTrec(list[mid], score, id, score) < 0) lo = mid + 1;
            else hi = mid;
          }
          tieBefore[d] = lo;
        }
      }
  }
  // above[u] := documents scoring higher than distinct[u] = Σ_{p>u} histogram[p].
  let higher = 0;
  for (let u = m; u >= 0; u--) {
    const bin = above[u];
    above[u] = higher;
    higher += bin;
  }
  ensureTables(Math.max(n, judgedCount) + 1);

  for (let d = 0; d < retrieved; d++) {
    const u = docs.start[d];
    if (ctx.average) {
      docs.start[d] = above[u];
      docs.size[d] = equal[u];
    } else {
      docs.start[d] = above[u] + tieBefore[d];
      docs.size[d] = 1;
    }
  }

  // Order by rank: sort keys start·J + index natively, then merge equal starts (averaged ties).
  keys = grow(keys, retrieved);
  const width = Math.max(judgedCount, 1);
  for (let d = 0; d < retrieved; d++) keys[d] = docs.start[d] * width + d;
  keys.subarray(0, retrieved).sort();
  let count = 0;
  for (let i = 0; i < retrieved; i++) {
    const d = keys[i] % width;
    const start = docs.start[d];
    if (ctx.average && count > 0 && groups.start[count - 1] === start) {
      groups.rel[count - 1] += docs.rel[d];
      groups.judged[count - 1] += 1;
      groups.gain[count - 1] += docs.gain[d];
      continue;
    }
    groups.start[count] = start;
    groups.size[count] = docs.size[d];
    groups.rel[count] = docs.rel[d];
    groups.judged[count] = 1;
    groups.gain[count] = docs.gain[d];
    count++;
  }
  groups.count = count;

  ideal.subarray(0, idealCount).sort().reverse();
  out.idealCount = idealCount;
  return relevant;
}

/**
 * Evaluates a run against relevance judgments with trec_eval's definitions.
 *
 * Metrics: `ndcg`, `ndcg@k`, `map`, `map@k`, `mrr`, `mrr@k`, `P@k`, `recall`,
 * `recall@k`, `hit@k`, `rprec`, `judged@k` (the share of the top k with a qrels
 * entry, any label), names case-insensitive, trec_eval's names (`P_10`,
 * `ndcg_cut_10`, `map_cut_10`, `recall_10`, `success_10`, `recip_rank`,
 * `Rprec`) accepted as aliases. Results are keyed by canonical name
 * ({@link parseMetric}): `'P_10'` is reported as `'P@10'`; a metric named
 * twice is computed once.
 *
 * Queries without a relevant document score 0 (as trec_eval), except for
 * `recall` and `recall@k`, which leave them out of perQuery and of the mean;
 * a mean over no query is NaN.
 *
 * @example
 * const qrels = { q1: { a: 2, b: 0, c: 1 } };
 * const run = { q1: { a: 0.9, b: 0.8, c: 0.1, d: 0.5 } };
 * const { mean, perQuery } = evaluate(qrels, run, ['ndcg@10', 'map', 'P@2']);
 * mean['P@2'];             // 0.5
 * perQuery.map.q1;         // (1/1 + 2/4) / 2 = 0.75
 * evaluate(qrels, run, 'ndcg', { gain: 'exponential', ties: 'average' });
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_METRIC for a metric name that does not parse (the message lists the valid forms)
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_K when a cutoff is not a positive integer
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when `metrics` is an empty array
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE for a NaN or infinite score, label or relevanceLevel
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when qrels or run is not `{ query: { doc: number } }`
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT for an unknown option value (`gain`, `ties`, `queries`) or relevanceLevel ≤ 0
 * @throws {FusionrankError} ERR_FUSIONRANK_NO_COMMON_QUERIES when qrels and run share no query
 */
export function evaluate(qrels: Qrels, run: Run, metrics: MetricName | readonly MetricName[], options?: EvaluateOptions): EvaluateResult {
  const opts = check.options<EvaluateOptions>(options, 'options');
  const gain = check.oneOf(opts.gain, 'options.gain', ['linear', 'exponential'] as const, 'linear');
  const ties = check.oneOf(opts.ties, 'options.ties', ['trec', 'average'] as const, 'trec');
  const queries = check.oneOf(opts.queries, 'options.queries', ['both', 'qrels'] as const, 'both');
  const level = check.number(opts.relevanceLevel, 'options.relevanceLevel', -Number.MAX_VALUE, Number.MAX_VALUE, 1);
  // A level ≤ 0 would make unjudged-as-0 and judged-as-0 documents differ in kind; trec_eval's -l is ≥ 1 in practice.
  if (!(level > 0)) throw rangeError(invalidParameter('options.relevanceLevel', 'a positive number', level));
  const { names, codes, ks } = plan(metrics);

  const labelsByQuery = check.scoresByQuery(qrels, 'qrels', 'label');
  const scoresByQuery = checkRunShape(run);
  const fail = () => failRun(run);

  const all = Object.keys(labelsByQuery);
  let common = 0;
  for (const q of all) if (hasOwn(scoresByQuery, q)) common++;
  if (common === 0) {
    const sample = (table: object) => Object.keys(table).slice(0, 3).map((q) => JSON.stringify(q)).join(', ') || 'none';
    throw new FusionrankError(
      `qrels and run have no query in common (qrels has ${all.length} queries: ${sample(labelsByQuery)}…; run has ${Object.keys(scoresByQuery).length}: ${sample(scoresByQuery)}…)`,
      'ERR_FUSIONRANK_NO_COMMON_QUERIES',
    );
  }
  const evaluated = queries === 'qrels' ? all : all.filter((q) => hasOwn(scoresByQuery, q));
  // Scores of queries that are not evaluated are checked too, like check.scoresByQuery would.
  for (const q of Object.keys(scoresByQuery)) {
    if (hasOwn(labelsByQuery, q)) continue;
    const docs = scoresByQuery[q];
    for (const id of Object.keys(docs)) {
      const v = docs[id];
      if (typeof v !== 'number' || v - v !== 0) fail();
    }
  }

  const ctx: QueryContext = { exponential: gain === 'exponential', average: ties === 'average', level };
  const perQuery: Record<MetricName, Record<string, number>> = {};
  const sums = new Float64Array(names.length);
  const counts = new Float64Array(names.length);
  const tables = names.map(() => ({}) as Record<string, number>);
  const out = { idealCount: 0 };

  for (const q of evaluated) {
    const scores = hasOwn(scoresByQuery, q) ? scoresByQuery[q] : undefined;
    const R = rankQuery(labelsByQuery[q], scores, ctx, out, fail);
    for (let m = 0; m < names.length; m++) {
      const k = ks[m];
      let value: number;
      switch (codes[m]) {
        case NDCG: {
          const idcg = idealDcgAt(ideal, out.idealCount, k);
          value = idcg > 0 ? dcgAt(groups, k) / idcg : 0;
          break;
        }
        case MAP:
          value = R > 0 ? precisionSumAt(groups, k) / R : 0;
          break;
        case MRR:
          value = reciprocalRankAt(groups, k);
          break;
        case PREC:
          value = countAt(groups, k, groups.rel) / k;
          break;
        case RECALL:
          if (R === 0) continue; // left out: see the module comment
          value = countAt(groups, k, groups.rel) / R;
          break;
        case HIT:
          value = hitAt(groups, k);
          break;
        case RPREC:
          value = R > 0 ? countAt(groups, R, groups.rel) / R : 0;
          break;
        default: // JUDGED
          value = countAt(groups, k, groups.judged) / k;
      }
      setOwn(tables[m], q, value);
      sums[m] += value;
      counts[m]++;
    }
  }

  const mean: Record<MetricName, number> = {};
  for (let m = 0; m < names.length; m++) {
    mean[names[m]] = counts[m] > 0 ? sums[m] / counts[m] : NaN;
    perQuery[names[m]] = tables[m];
  }
  return { mean, perQuery };
}
