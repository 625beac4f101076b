/**
 * The Ranker in the evaluation loop: run requests, score the rankings, and
 * take the ranker apart (one signal or one modality at a time) to see what
 * each part is worth. Types only from the ranking side at import time, so
 * `fusionrank/eval` still loads without the native addon; `ablate` imports
 * the Ranker when it is called (it needs a Catalog, hence the addon, anyway).
 */
import { invalidParameter, rangeError, typeError } from '../errors.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Ranker, RankerOptions, RankRequest, RankResult, SignalOptions } from '../scoring/ranker.js';
import * as check from './check.js';
import { agreement } from './agreement.js';
import { evaluate } from './metrics.js';
import { paired } from './stats.js';
import type { AgreementResult, EvaluateOptions, EvaluateResult, MetricName, PairedOptions, PairedResult, Qrels, Run } from './types.js';

/**
 * A slice of the evaluation: the queries it keeps (a function of the query
 * id and its request, e.g. new users) or the items it keeps (a function of
 * the item id, e.g. items without text; qrels and rankings are both
 * restricted to them).
 */
export type Slice = { queries: (query: string, request: RankRequest) => boolean } | { items: (id: string) => boolean };

export interface EvaluateRankerOptions extends EvaluateOptions {
  metrics: MetricName[];
  /** Named slices, each evaluated on its own. */
  slices?: Record<string, Slice>;
  /** Requests in flight at once through `rankAsync` (default 1: synchronous `rank`, one core). */
  concurrency?: number;
  /** Ask the ranker for explanations (kept in `results`). Default false. */
  explain?: boolean;
}

export interface RankerEvaluation extends EvaluateResult {
  /**
   * The rankings as a run. Scores are positional (list length − position),
   * so every metric sees the ranker's order exactly, whatever MMR, caps or
   * rules did to the scores.
   */
  run: Run;
  /** The ranker's own scores per query and item. */
  scores: Run;
  /** Each request's result, by query. */
  results: Record<string, RankResult>;
  /** Per slice: its metrics and how many queries it kept. */
  slices: Record<string, EvaluateResult & { queries: number }>;
  /** Milliseconds spent ranking and evaluating (wall). */
  timings: { rankMs: number; evaluateMs: number };
}

function requestsOf(value: unknown, name: string): Array<[string, RankRequest]> {
  const requests = check.object<Record<string, RankRequest>>(value, name, 'an object of { query: RankRequest }');
  const entries = Object.entries(requests);
  if (entries.length === 0) throw rangeError(`${name} holds no request`, 'ERR_FUSIONRANK_EMPTY_INPUT');
  return entries;
}

function slicesOf(value: unknown): Array<[string, Slice]> {
  if (value === undefined) return [];
  const slices = check.object<Record<string, Slice>>(value, 'options.slices', '{ name: { queries: (query, request) => boolean } | { items: (id) => boolean } }');
  return Object.entries(slices).map(([name, slice]) => {
    const s = check.object<Record<string, unknown>>(slice, `options.slices.${name}`, '{ queries: (query, request) => boolean } or { items: (id) => boolean }');
    if (typeof s.queries !== 'function' && typeof s.items !== 'function')
      throw typeError(invalidParameter(`options.slices.${name}`, '{ queries: (query, request) => boolean } or { items: (id) => boolean }', slice));
    return [name, slice];
  });
}

/** Runs every request, in order or `concurrency` at a time; positional and raw-score runs. */
async function runRequests(ranker: Ranker, requests: Array<[string, RankRequest]>, concurrency: number, explain: boolean) {
  const run: Run = {};
  const scores: Run = {};
  const results: Record<string, RankResult> = {};
  const record = (query: string, result: RankResult) => {
    const positional: Record<string, number> = {};
    const raw: Record<string, number> = {};
    const n = result.items.length;
    result.items.forEach((item, i) => {
      positional[item.id] = n - i;
      raw[item.id] = item.score;
    });
    run[query] = positional;
    scores[query] = raw;
    results[query] = result;
  };
  const requestOf = (query: string, request: RankRequest): RankRequest => {
    if (request === null || typeof request !== 'object') throw typeError(invalidParameter(`requests[${JSON.stringify(query)}]`, 'a RankRequest object', request));
    return explain ? { ...request, explain: true } : request;
  };
  if (concurrency === 1) {
    for (const [query, request] of requests) record(query, ranker.rank(requestOf(query, request)));
    return { run, scores, results };
  }
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const [query, request] = requests[next++];
      record(query, await ranker.rankAsync(requestOf(query, request)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker));
  return { run, scores, results };
}

function restrictItems(table: Record<string, Record<string, number>>, keep: (id: string) => boolean): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const [query, docs] of Object.entries(table)) {
    const kept: Record<string, number> = {};
    let any = false;
    for (const [doc, value] of Object.entries(docs))
      if (keep(doc)) {
        kept[doc] = value;
        any = true;
      }
    if (any) out[query] = kept;
  }
  return out;
}

/**
 * Runs each request through the ranker and evaluates the rankings against
 * the qrels, overall and per slice.
 *
 * Each request's results become `run[query]` with positional scores, so the
 * metrics see exactly the order the ranker returned. The evaluation follows
 * `evaluate` (trec_eval semantics unless the options say otherwise).
 *
 * @example
 * const { mean, slices } = await evaluateRanker(ranker, { u1: { query: { fromHistory: ['p1', 'p9'] } } }, { u1: { p4: 1 } }, {
 *   metrics: ['ndcg@10', 'recall@20'],
 *   slices: { noText: { items: (id) => !catalog.get(id)?.vectors.text } },
 * });
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when a request, slice or option has the wrong shape
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT when there is no request
 * @throws whatever `ranker.rank` throws for a bad request, and `evaluate`'s errors (bad metric, no common query)
 */
export async function evaluateRanker(ranker: Ranker, requests: Record<string, RankRequest>, qrels: Qrels, options: EvaluateRankerOptions): Promise<RankerEvaluation> {
  if (ranker === null || typeof ranker !== 'object' || typeof (ranker as Ranker).rank !== 'function') throw typeError(invalidParameter('ranker', 'a Ranker', ranker));
  const entries = requestsOf(requests, 'requests');
  const o = check.object<EvaluateRankerOptions>(options, 'options', "{ metrics: ['ndcg@10'] }");
  const concurrency = check.integer(o.concurrency, 'options.concurrency', 1, 1024, 1);
  const slices = slicesOf(o.slices);
  const { metrics, slices: _slices, concurrency: _concurrency, explain, ...evaluateOptions } = o;

  const rankStart = performance.now();
  const { run, scores, results } = await runRequests(ranker, entries, concurrency, explain === true);
  const rankMs = performance.now() - rankStart;

  const evaluateStart = performance.now();
  const overall = evaluate(qrels, run, metrics, evaluateOptions);
  const sliceResults: RankerEvaluation['slices'] = {};
  for (const [name, slice] of slices) {
    let sliceQrels = qrels;
    let sliceRun = run;
    if ('queries' in slice && typeof slice.queries === 'function') {
      const keep = new Set(entries.filter(([query, request]) => slice.queries(query, request)).map(([query]) => query));
      sliceRun = Object.fromEntries(Object.entries(run).filter(([query]) => keep.has(query)));
      sliceQrels = Object.fromEntries(Object.entries(qrels).filter(([query]) => keep.has(query)));
    } else {
      const keep = (slice as { items: (id: string) => boolean }).items;
      sliceRun = restrictItems(run, keep);
      sliceQrels = restrictItems(qrels, keep);
    }
    const common = Object.keys(sliceRun).filter((q) => Object.hasOwn(sliceQrels, q)).length;
    // An empty slice is reported as such rather than failing the whole evaluation.
    sliceResults[name] = common === 0 ? { mean: {}, perQuery: {}, queries: 0 } : { ...evaluate(sliceQrels, sliceRun, metrics, evaluateOptions), queries: common };
  }
  const evaluateMs = performance.now() - evaluateStart;
  return { ...overall, run, scores, results, slices: sliceResults, timings: { rankMs, evaluateMs } };
}

export interface AblateOptions extends EvaluateOptions, PairedOptions {
  metrics: MetricName[];
  /** Signals to remove one at a time (default: every signal with a non-zero weight, when there are at least two). */
  signals?: string[];
  /** Query vectors to treat as missing one at a time (default: none). */
  vectors?: string[];
  /** Agreement depth (default: the whole lists). */
  k?: number;
}

export interface AblationVariant {
  /** `'-visual'` (signal removed) or `'no visual query'` (modality missing). */
  name: string;
  kind: 'signal' | 'vector';
  /** The signal or vector taken out. */
  removed: string;
  mean: Record<MetricName, number>;
  /** Per metric: the variant (b) against the full ranker (a). */
  paired: Record<MetricName, PairedResult>;
  /** The variant's rankings against the full ranker's (scoreCorrelation over the ranker's own scores). */
  agreement: AgreementResult;
}

export interface Ablation {
  full: RankerEvaluation;
  variants: AblationVariant[];
  /** Each signal's share of Σ|contribution| over every returned item of the full ranker (from explain). */
  contributionShare: Record<string, number>;
}

/** Options with one signal's weight at 0 and the others scaled to keep the total weight. */
function withoutSignal(options: RankerOptions, name: string): RankerOptions {
  const signals = options.signals;
  const removed = Math.abs(signals[name].weight);
  const total = Object.values(signals).reduce((sum, s) => sum + Math.abs(s.weight), 0);
  const scale = total - removed > 0 ? total / (total - removed) : 1;
  const next: Record<string, SignalOptions> = {};
  for (const [n, s] of Object.entries(signals)) next[n] = { ...s, weight: n === name ? 0 : s.weight * scale } as SignalOptions;
  return { ...options, signals: next };
}

/**
 * The requests as they would arrive without one query vector: the vector is
 * dropped, and a `fromHistory` query is spelled out per vector (the history's
 * mean, as the ranker computes it) so that the dropped one stays dropped.
 */
function withoutQueryVector(catalog: Catalog, options: RankerOptions, requests: Array<[string, RankRequest]>, vector: string, queryVectors: string[]): Record<string, RankRequest> {
  const decay = options.userVectors?.decay ?? 1;
  const out: Record<string, RankRequest> = {};
  for (const [query, request] of requests) {
    const q = { ...(request.query ?? {}) };
    const history = q.fromHistory;
    delete q.fromHistory;
    if (history) {
      for (const name of queryVectors) {
        if (name === vector || q[name] !== undefined) continue;
        const user = catalog.userVector(history, { vector: name, decay });
        if (user) q[name] = user;
      }
    }
    delete q[vector];
    out[query] = { ...request, query: q };
  }
  return out;
}

function pearson(x: number[], y: number[]): number {
  const n = x.length;
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
    syy += (y[i] - my) ** 2;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : NaN;
}

/** Mean over queries of the Pearson correlation of the ranker's own scores on shared items. */
function rawScoreCorrelation(a: Run, b: Run): number {
  let sum = 0;
  let count = 0;
  for (const query of Object.keys(a)) {
    const other = b[query];
    if (!other) continue;
    const x: number[] = [];
    const y: number[] = [];
    for (const [doc, score] of Object.entries(a[query]))
      if (Object.hasOwn(other, doc)) {
        x.push(score);
        y.push(other[doc]);
      }
    const r = pearson(x, y);
    if (!Number.isNaN(r)) {
      sum += r;
      count++;
    }
  }
  return count ? sum / count : NaN;
}

/**
 * Takes the ranker apart: the same requests with one signal removed (its
 * weight 0, the others scaled to keep the total) or one modality missing
 * from the queries (its query vector dropped: retrievers on it find nothing
 * and its similarity signals are missing for every item, so the ranker's
 * `missing` policy applies). Per variant: the metrics, the paired statistics
 * of each against the full ranker, and the agreement of the rankings; plus
 * each signal's share of |contribution| in the full ranker's explanations.
 *
 * A small Δ with a tiny p is not a real effect by itself: look at the
 * effect size, how many queries moved (wins/ties/losses), and the agreement
 * (a variant whose rankings agree 0.99 with the full ranker changes little
 * for users, whatever the p-value says).
 *
 * @example
 * const { variants, contributionShare } = await ablate(catalog, rankerOptions, requests, qrels, { metrics: ['ndcg@10'], vectors: ['visual'] });
 * for (const v of variants) console.log(v.name, v.paired['ndcg@10'].delta, v.agreement.rbo);
 * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_SIGNAL / ERR_FUSIONRANK_UNKNOWN_VECTOR for a name not in the options or catalog
 * @throws whatever `new Ranker`, `evaluateRanker`, `paired` and `agreement` throw
 */
export async function ablate(catalog: Catalog, rankerOptions: RankerOptions, requests: Record<string, RankRequest>, qrels: Qrels, options: AblateOptions): Promise<Ablation> {
  const o = check.object<AblateOptions>(options, 'options', "{ metrics: ['ndcg@10'] }");
  const ro = check.object<RankerOptions>(rankerOptions, 'rankerOptions', '{ signals: { ... } }');
  const entries = requestsOf(requests, 'requests');
  const { Ranker: RankerClass } = await import('../scoring/ranker.js');
  const { metrics, signals: signalList, vectors: vectorList, k, permutations, bootstrap, seed, ...evaluateOptions } = o;
  const pairedOptions = { permutations, bootstrap, seed };

  const full = await evaluateRanker(new RankerClass(catalog, ro), requests, qrels, { metrics, ...evaluateOptions, explain: true });
  const signalNames = Object.keys(ro.signals);
  const weighted = signalNames.filter((n) => ro.signals[n].weight !== 0);
  const removeSignals = signalList ?? (weighted.length >= 2 ? weighted : []);
  for (const name of removeSignals)
    if (!signalNames.includes(name)) throw rangeError(`options.signals: unknown signal '${name}'; valid signals: ${signalNames.join(', ')}`, 'ERR_FUSIONRANK_UNKNOWN_SIGNAL');
  const vectorNames = Object.keys(catalog.schema.vectors);
  for (const name of vectorList ?? [])
    if (!vectorNames.includes(name)) throw rangeError(`options.vectors: unknown vector '${name}'; valid vectors: ${vectorNames.join(', ')}`, 'ERR_FUSIONRANK_UNKNOWN_VECTOR');

  // Query vectors the full ranker reads: those of its signals and retrievers.
  const queryVectors = new Set<string>();
  for (const s of Object.values(ro.signals)) if ('vector' in s) queryVectors.add(s.vector);
  const retrieve = ro.retrieve;
  if (Array.isArray(retrieve)) for (const r of retrieve) queryVectors.add(r.vector);
  else if (retrieve && 'vector' in retrieve) queryVectors.add((retrieve as { vector: string }).vector);

  const variant = async (name: string, kind: 'signal' | 'vector', removed: string, ranker: Ranker, variantRequests: Record<string, RankRequest>): Promise<AblationVariant> => {
    const result = await evaluateRanker(ranker, variantRequests, qrels, { metrics, ...evaluateOptions });
    const pairedByMetric: Record<string, PairedResult> = {};
    for (const metric of Object.keys(full.perQuery)) {
      // Over the queries both evaluations scored for this metric.
      const a = full.perQuery[metric];
      const b = result.perQuery[metric] ?? {};
      const shared = Object.keys(a).filter((q) => Object.hasOwn(b, q));
      pairedByMetric[metric] = paired(
        shared.map((q) => a[q]),
        shared.map((q) => b[q]),
        pairedOptions,
      );
    }
    const agree = agreement(full.run, result.run, k === undefined ? {} : { k });
    return { name, kind, removed, mean: result.mean, paired: pairedByMetric, agreement: { ...agree, scoreCorrelation: rawScoreCorrelation(full.scores, result.scores) } };
  };

  const variants: AblationVariant[] = [];
  for (const name of removeSignals) {
    if (weighted.length === 1 && weighted[0] === name) continue; // nothing would be left to rank by
    variants.push(await variant(`-${name}`, 'signal', name, new RankerClass(catalog, withoutSignal(ro, name)), requests));
  }
  for (const name of vectorList ?? []) {
    variants.push(await variant(`no ${name} query`, 'vector', name, new RankerClass(catalog, ro), withoutQueryVector(catalog, ro, entries, name, [...queryVectors])));
  }

  const totals: Record<string, number> = Object.fromEntries(signalNames.map((n) => [n, 0]));
  let total = 0;
  for (const result of Object.values(full.results))
    for (const item of result.items)
      for (const [name, explanation] of Object.entries(item.signals ?? {})) {
        const c = Math.abs(explanation.contribution);
        if (!Number.isFinite(c)) continue;
        totals[name] += c;
        total += c;
      }
  const contributionShare = Object.fromEntries(signalNames.map((n) => [n, total > 0 ? totals[n] / total : 0]));
  return { full, variants, contributionShare };
}
