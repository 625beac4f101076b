/**
 * `npx fusionrank bench eval`: the evaluation module's throughput on one
 * core, each next to the floor any implementation pays:
 * - `evaluate` (5 metrics) over 10,000 queries × 1,000 scored documents,
 *   against sorting the same scores (ordering by score is the bulk of the work);
 * - `paired` with 10,000 sign-flip permutations over 10,000 queries, against
 *   a bare loop of the same number of float additions;
 * - `evaluateRanker` over 1,000 requests on the 200k bench catalog, against
 *   the same requests through `ranker.rank` alone (its overhead).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import { SAMPLE_NOW } from '../src/cli/sample-catalog.js';
import { evaluate } from '../src/eval/metrics.js';
import { evaluateRanker } from '../src/eval/ranker-eval.js';
import { paired } from '../src/eval/stats.js';
import type { Qrels, Run } from '../src/eval/types.js';
import { Ranker, type RankRequest } from '../src/scoring/ranker.js';
import { type BenchConfig, rng, runCases, type SuiteReport } from './harness.js';
import { buildOrLoad } from './rank.js';

const METRICS = ['ndcg@10', 'map', 'mrr', 'P@10', 'recall@100'];

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A run and qrels of `queries` × `docs` with ~2 % relevant documents and some tied scores. */
function syntheticRun(queries: number, docs: number, seed: number): { qrels: Qrels; run: Run } {
  const random = rng(seed);
  const qrels: Qrels = {};
  const run: Run = {};
  for (let q = 0; q < queries; q++) {
    const labels: Record<string, number> = {};
    const scores: Record<string, number> = {};
    for (let d = 0; d < docs; d++) {
      const id = `d${d}`;
      scores[id] = Math.round(random() * 1e4) / 1e4;
      if (random() < 0.02) labels[id] = 1 + Math.floor(random() * 3);
    }
    // Some relevant documents are never retrieved (they count in IDCG and recall).
    labels[`unretrieved-${q}`] = 1;
    qrels[`q${q}`] = labels;
    run[`q${q}`] = scores;
  }
  return { qrels, run };
}

export async function benchEval(config: BenchConfig): Promise<SuiteReport> {
  const notes: string[] = [];
  const summary: SuiteReport['summary'] = [];
  const queries = config.quick ? 1000 : 10_000;
  const docs = 1000;

  // ---- evaluate
  const { qrels, run } = syntheticRun(queries, docs, config.seed);
  const arrays = Object.values(run).map((scores) => Float64Array.from(Object.values(scores)));
  const evalCases = await runCases(
    'eval',
    [
      { name: `evaluate ${METRICS.length} metrics, ${queries} q × ${docs} docs`, fn: () => evaluate(qrels, run, METRICS) },
      { name: `probe: sort ${queries} × ${docs} scores (Float64Array)`, fn: () => { for (const a of arrays) a.slice().sort(); } },
    ],
    { ...config, timeMs: config.quick ? 200 : Math.max(config.timeMs, 3000) },
  );
  const pairsPerSec = (queries * docs) / (evalCases[0].p50Us / 1e6);
  evalCases[0].extra = { 'M pairs/s': pairsPerSec / 1e6 };
  summary.push({ check: 'evaluate: ≥ 5 M (query, doc) pairs/s, 5 metrics', value: `${(pairsPerSec / 1e6).toFixed(2)} M/s`, pass: pairsPerSec >= 5e6 });
  summary.push({ check: 'evaluate time / sorting the same scores', value: (evalCases[0].p50Us / evalCases[1].p50Us).toFixed(2), pass: true });

  // ---- paired
  const random = rng(config.seed + 1);
  const a = Float64Array.from({ length: queries }, () => random());
  const b = Float64Array.from(a, (x) => Math.min(1, Math.max(0, x + (random() - 0.48) * 0.1)));
  const flips = queries * 10_000;
  const signs = Float64Array.from({ length: queries }, () => (random() < 0.5 ? -1 : 1));
  const pairedCases = await runCases(
    'eval',
    [
      { name: `paired, ${queries} queries, 10,000 permutations + 10,000 bootstrap`, fn: () => paired(a, b, { permutations: 10_000 }) },
      {
        name: `probe: ${flips / 1e6} M multiply-adds in a JS loop`,
        fn: () => {
          let s = 0;
          for (let p = 0; p < 10_000; p++) for (let i = 0; i < queries; i++) s += signs[i] * a[i];
          return s;
        },
      },
    ],
    { ...config, timeMs: config.quick ? 200 : Math.max(config.timeMs, 3000) },
  );
  summary.push({ check: `paired ${queries} × 10,000 permutations ≤ 0.5 s`, value: `${(pairedCases[0].p50Us / 1e6).toFixed(3)} s`, pass: pairedCases[0].p50Us <= 0.5e6 });
  summary.push({ check: 'paired time / the bare multiply-add loop', value: (pairedCases[0].p50Us / pairedCases[1].p50Us).toFixed(2), pass: true });

  // ---- evaluateRanker overhead
  const items = config.sizes.items ?? (config.quick ? 20_000 : 200_000);
  const { catalog } = await buildOrLoad(config, items, notes);
  const ranker = new Ranker(catalog, {
    retrieve: { vector: 'visual', k: 500 },
    filter: { safe: true },
    signals: {
      visual: { kind: 'similarity', vector: 'visual', weight: 0.4 },
      text: { kind: 'similarity', vector: 'text', weight: 0.3 },
      engagement: { kind: 'engagement', fields: ['likes', 'comments'], weight: 0.2 },
      recency: { kind: 'recency', field: 'createdAt', halfLife: '24h', weight: 0.1 },
    },
    k: 20,
  });
  ranker.prepare({ threads: Math.min(8, availableParallelism()) });
  const requestCount = config.quick ? 200 : 1000;
  const rq = rng(config.seed + 2);
  const requests: Record<string, RankRequest> = {};
  const labels: Qrels = {};
  for (let i = 0; i < requestCount; i++) {
    const source = catalog.get(`item-${Math.floor(rq() * items)}`)!;
    const visual = Float32Array.from(source.vectors.visual, (x) => x + (rq() - 0.5) * 0.01);
    requests[`r${i}`] = { query: { visual, ...(source.vectors.text ? { text: source.vectors.text } : {}) }, now: SAMPLE_NOW };
    const judged: Record<string, number> = { [source.id]: 2 };
    for (let j = 0; j < 10; j++) judged[`item-${Math.floor(rq() * items)}`] = 1;
    labels[`r${i}`] = judged;
  }
  const entries = Object.values(requests);
  const plain: number[] = [];
  const looped: number[] = [];
  for (let round = 0; round < (config.quick ? 3 : 7); round++) {
    let t = performance.now();
    for (const request of entries) ranker.rank(request);
    plain.push(performance.now() - t);
    t = performance.now();
    await evaluateRanker(ranker, requests, labels, { metrics: METRICS });
    looped.push(performance.now() - t);
  }
  const overhead = median(looped) / median(plain) - 1;
  const caseOf = (name: string, times: number[]) => {
    const sorted = [...times].sort((x, y) => x - y);
    return { suite: 'eval', name, p50Us: median(times) * 1000, p95Us: sorted[sorted.length - 1] * 1000, p99Us: sorted[sorted.length - 1] * 1000, opsPerSec: 1000 / median(times), samples: times.length };
  };
  const rankerCases = [caseOf(`${requestCount} × ranker.rank (${items} items)`, plain), caseOf(`evaluateRanker, the same ${requestCount} requests, ${METRICS.length} metrics`, looped)];
  summary.push({ check: 'evaluateRanker adds ≤ 10 % to the requests\' time', value: `${(100 * overhead).toFixed(1)} %`, pass: overhead <= 0.1 });
  notes.push(`evaluateRanker rounds alternate with plain rank loops (${plain.length} each); p95/p99 columns of those two rows are the slowest round`);

  return { suite: 'eval', cases: [...evalCases, ...pairedCases, ...rankerCases], summary, notes };
}
