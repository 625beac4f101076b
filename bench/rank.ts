/**
 * `npx fusionrank bench rank [--items N]`: end-to-end ranking latency on a
 * generated catalog (visual 512 f16, text 768 f16, eight fields), side by
 * side with the same pipelines glued from the npm peers the way a user would
 * write them today (usearch JS index with over-fetch + post-filter,
 * TypeScript fusion and MMR, onnxruntime-node for the MLP).
 *
 * fusionrank's cases run first, in a process that holds nothing else. The
 * glued peer then runs in its own worker thread (./rank-glued.ts), on the
 * same queries, so neither side's heap and collections land in the other's
 * figures. The catalog (with its HNSW graphs) and the peer's usearch indexes
 * are cached under .bench-cache/ so later runs start in seconds.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

import { capabilities } from '../src/capabilities.js';
import { Catalog } from '../src/catalog/catalog.js';
import { RARE_TAG, SAMPLE_NOW, sampleItems, sampleSchema } from '../src/cli/sample-catalog.js';
import { packageRoot } from '../src/native.js';
import { FusionMlp, type Precision } from '../src/rerank/fusion-mlp.js';
import { Ranker, type RankResult, type SignalOptions } from '../src/scoring/ranker.js';
import { type BenchConfig, type CaseResult, loopDelayMs, rng, runCases, type SuiteReport } from './harness.js';
import { mlpOnnx } from './rank-model.js';
import { type BenchQuery, FEATURES, GluedPeer, TEXT, VISUAL, WEIGHTS } from './rank-glued.js';

// ---- setup

export async function buildOrLoad(config: BenchConfig, items: number, notes: string[]): Promise<{ catalog: Catalog; cacheDir: string }> {
  const cacheDir = join(packageRoot, '.bench-cache', `rank-${items}-${config.seed}-v1`);
  const catalogDir = join(cacheDir, 'catalog');
  const threads = Math.min(8, availableParallelism());
  const t0 = performance.now();
  if (existsSync(join(catalogDir, 'manifest.json'))) {
    const catalog = await Catalog.load(catalogDir, { mmap: true });
    notes.push(`catalog loaded from ${catalogDir} (graphs memory-mapped) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return { catalog, cacheDir };
  }
  const catalog = new Catalog(sampleSchema());
  for (const batch of sampleItems({ items, seed: config.seed })) catalog.upsert(batch);
  const t1 = performance.now();
  catalog.buildIndex('visual', { threads });
  catalog.buildIndex('text', { threads });
  const t2 = performance.now();
  mkdirSync(cacheDir, { recursive: true });
  await catalog.save(catalogDir);
  notes.push(`catalog generated in ${((t1 - t0) / 1000).toFixed(1)} s; HNSW graphs built in ${((t2 - t1) / 1000).toFixed(1)} s (${threads} threads); cached at ${catalogDir}`);
  return { catalog, cacheDir };
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const idx = (sorted.length - 1) * p;
  const lo = Math.floor(idx), hi = Math.ceil(idx);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (idx - lo);
}

export async function benchRank(config: BenchConfig): Promise<SuiteReport> {
  const notes: string[] = [];
  const summary: SuiteReport['summary'] = [];
  const items = config.sizes.items ?? (config.quick ? 20_000 : 200_000);
  const { catalog, cacheDir } = await buildOrLoad(config, items, notes);

  // Queries: a noisy copy of a random item's (unit) vectors, the noise about
  // 1 % of their norm (a "more like this" feed).
  const random = rng(config.seed + 1);
  const noise = () => (random() - 0.5) * 0.0015;
  const queries: BenchQuery[] = Array.from({ length: 64 }, () => {
    const stored = catalog.get(`item-${Math.floor(random() * items)}`)!;
    const visual = Float32Array.from(stored.vectors.visual, (x) => x + noise());
    const text = Float32Array.from({ length: TEXT }, (_, j) => (stored.vectors.text ? stored.vectors.text[j] : 0) + noise());
    return { visual, text };
  });
  let qi = 0;
  const nextQuery = () => queries[qi++ % queries.length];

  const signals: Record<string, SignalOptions> = {
    visual: { kind: 'similarity', vector: 'visual', weight: WEIGHTS[0] },
    text: { kind: 'similarity', vector: 'text', weight: WEIGHTS[1] },
    engagement: { kind: 'engagement', fields: ['likes', 'comments'], transform: 'log', weight: WEIGHTS[2] },
    recency: { kind: 'recency', field: 'createdAt', halfLife: '24h', weight: WEIGHTS[3] },
    quality: { kind: 'field', field: 'quality', weight: WEIGHTS[4] },
  };
  const filter = { safe: true, contentType: { in: ['meme', 'mixed'] } };

  const feed = new Ranker(catalog, { retrieve: { vector: 'visual', k: 500 }, filter, signals, diversity: { mmr: { vector: 'visual', lambda: 0.7 } }, k: 20 });
  feed.prepare({ threads: Math.min(8, availableParallelism()) });

  // Rerank model: fusionrank runs it natively (FusionMlp); the glued peer in onnxruntime-node.
  const onnxBytes = mlpOnnx([FEATURES, 128, 32, 1], config.seed);
  const onnxPath = join(cacheDir, 'rerank-mlp.onnx');
  writeFileSync(onnxPath, onnxBytes);
  const features = [
    { vector: 'visual' }, { vector: 'text' }, { present: 'text' },
    ...Object.keys(signals).map((signal) => ({ signal })),
    ...Object.keys(signals).map((signal) => ({ signal, raw: true })),
    { field: 'likes' }, { field: 'comments' }, { field: 'quality' }, { field: 'createdAt' }, { field: 'safe' },
  ];
  const shopWith = (precision: Precision, itemCache = false) => {
    const shop = new Ranker(catalog, {
      retrieve: [{ vector: 'visual', k: 500 }, { vector: 'text', k: 500 }],
      filter,
      signals,
      rerank: { model: FusionMlp.fromOnnx(onnxBytes, { precision }), top: 200, features, mode: 'replace', itemCache },
      diversity: { mmr: { vector: 'visual', lambda: 0.7 } },
      k: 20,
    });
    const t = performance.now();
    shop.prepare({ threads: Math.min(8, availableParallelism()) });
    if (itemCache) notes.push(`rerank item cache: ${(shop.itemCache!.bytes / 2 ** 20).toFixed(0)} MiB, built in ${((performance.now() - t) / 1000).toFixed(2)} s (${Math.min(8, availableParallelism())} threads)`);
    return shop;
  };
  // [case name, label in the stage notes, ranker]
  const shops: Array<[string, string, Ranker]> = [['rerank · fusionrank (rank)', 'rerank f32 MLP', shopWith('f32')]];
  // The same shop with the MLP's dense layers in bfloat16, where the CPU has it.
  if (capabilities().bf16) shops.push(['rerank · fusionrank bf16 MLP (rank)', 'rerank bf16 MLP', shopWith('bf16')]);
  // And with the first layer's item part precomputed per item (f32).
  shops.push(['rerank · fusionrank item cache (rank)', 'rerank item cache', shopWith('f32', true)]);

  // Per-stage timings of fusionrank's cases, for the notes: where the time goes.
  const stages = new Map<string, Array<RankResult['timings']>>();
  const timed = (name: string, res: RankResult) => {
    let list = stages.get(name);
    if (!list) stages.set(name, (list = []));
    list.push(res.timings);
    return res;
  };
  const ours = await runCases('rank', [
    { name: 'feed · fusionrank (rank)', fn: () => { const q = nextQuery(); return timed('feed', feed.rank({ query: { visual: q.visual, text: q.text }, now: SAMPLE_NOW })); } },
    ...shops.map(([name, label, shop]) => ({
      name,
      fn: () => {
        const q = nextQuery();
        return timed(label, shop.rank({ query: { visual: q.visual, text: q.text }, now: SAMPLE_NOW }));
      },
    })),
  ], config);
  for (const [name, list] of stages) {
    const p50 = (key: keyof RankResult['timings']) => percentile(list.map((t) => t[key]).sort((a, b) => a - b), 0.5).toFixed(0);
    notes.push(`stages p50 (µs), ${name}: retrieve ${p50('retrieveUs')} · score ${p50('scoreUs')}${name === 'feed' ? '' : ` · rerank ${p50('rerankUs')}`} · diversify ${p50('diversifyUs')} · total ${p50('totalUs')}`);
  }

  // ---- the feed's retrieval quality: its 500 candidates against exact filtered search
  const simOnly = { visual: { kind: 'similarity' as const, vector: 'visual', weight: 1 } };
  {
    const graph = new Ranker(catalog, { retrieve: { vector: 'visual', k: 500 }, filter, signals: simOnly, normalize: 'none', k: 500 });
    const exact = new Ranker(catalog, { retrieve: { vector: 'visual', k: 500, exact: true }, filter, signals: simOnly, normalize: 'none', k: 500 });
    let hits = 0, total = 0;
    for (let t = 0; t < 20; t++) {
      const q = queries[t];
      const truth = new Set(exact.rank({ query: { visual: q.visual } }).items.map((i) => i.id));
      for (const item of graph.rank({ query: { visual: q.visual } }).items) if (truth.has(item.id)) hits++;
      total += truth.size;
    }
    summary.push({ check: 'feed retrieval recall@500 vs exact filtered (ef = k = 500)', value: (hits / total).toFixed(3), pass: true });
  }

  // ---- 1 % filter: no starvation, recall@100 against exact filtered search
  const rareFilter = { tags: { any: [RARE_TAG] } };
  const auto = new Ranker(catalog, { retrieve: { vector: 'visual', k: 100 }, filter: rareFilter, signals: simOnly, normalize: 'none', k: 100 });
  const forcedGraph = new Ranker(catalog, { retrieve: { vector: 'visual', k: 100, ef: 400 }, exactBelow: 0, filter: rareFilter, signals: simOnly, normalize: 'none', k: 100 });
  const exact = new Ranker(catalog, { retrieve: { vector: 'visual', k: 100, exact: true }, filter: rareFilter, signals: simOnly, normalize: 'none', k: 100 });
  const truths = queries.slice(0, 20).map((q) => new Set(exact.rank({ query: { visual: q.visual } }).items.map((i) => i.id)));
  const recall = (got: string[][]) => {
    let hits = 0, total = 0, minReturned = Infinity;
    got.forEach((ids, t) => {
      minReturned = Math.min(minReturned, ids.length);
      for (const id of ids) if (truths[t].has(id)) hits++;
      total += truths[t].size;
    });
    return { recall: hits / total, minReturned };
  };
  const rankedIds = (ranker: Ranker) => queries.slice(0, 20).map((q) => ranker.rank({ query: { visual: q.visual } }).items.map((i) => i.id));
  const autoRecall = recall(rankedIds(auto));
  const graphRecall = recall(rankedIds(forcedGraph));
  const rareCase = await runCases('rank', [{ name: '1 % filter · fusionrank (k 100)', fn: () => auto.rank({ query: { visual: nextQuery().visual } }) }], config);

  // ---- rankAsync under 200 concurrent requests: event-loop delay
  // The floor first: the same histogram on an idle loop. Its samples are the
  // times between 1 ms timer callbacks; the delay is what exceeds the 1 ms.
  const resolution = 1;
  const idle = monitorEventLoopDelay({ resolution });
  idle.enable();
  await new Promise((resolve) => setTimeout(resolve, config.quick ? 200 : 1000));
  idle.disable();
  const histogram = monitorEventLoopDelay({ resolution });
  const rounds = config.quick ? 3 : 10;
  const latencies: number[] = [];
  histogram.enable();
  const eluBefore = performance.eventLoopUtilization();
  const started = performance.now();
  for (let r = 0; r < rounds; r++) {
    await Promise.all(Array.from({ length: 200 }, async () => {
      const q = nextQuery();
      const t = performance.now();
      await feed.rankAsync({ query: { visual: q.visual, text: q.text }, now: SAMPLE_NOW });
      latencies.push(performance.now() - t);
    }));
  }
  const elapsed = performance.now() - started;
  const elu = performance.eventLoopUtilization(eluBefore);
  histogram.disable();
  latencies.sort((a, b) => a - b);
  const loopP99 = loopDelayMs(histogram, resolution, 99);
  const ms = (ns: number) => (ns / 1e6).toFixed(2);
  const loopCheck = { check: 'rankAsync × 200 concurrent: event-loop delay p99 < 2 ms', value: `${loopP99.toFixed(2)} ms`, pass: loopP99 < 2 };
  notes.push(
    `rankAsync × 200: event-loop delay p99 ${loopP99.toFixed(2)} ms beyond the 1 ms timer (timer intervals p99 ${ms(histogram.percentile(99))} ms, max ${ms(histogram.max)} ms); ` +
      `idle loop delay p99 ${loopDelayMs(idle, resolution, 99).toFixed(2)} ms; ${((rounds * 200) / (elapsed / 1000)).toFixed(0)} req/s; request p50 ${percentile(latencies, 0.5).toFixed(1)} ms; ` +
      `main-thread busy ${((elu.active / (rounds * 200)) * 1000).toFixed(0)} µs per request`,
  );

  // ---- the glued peer, in its own worker thread, on the same queries
  const t0 = performance.now();
  const { peer, ready } = await GluedPeer.start({ items, seed: config.seed, cacheDir, onnxPath, config, queries });
  let theirs: CaseResult[] = [];
  let gluedRare: string[][] | undefined;
  try {
    notes.push(...ready.notes, `glued peer ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    notes.push(`${items} items; the feed filter passes ${(100 * ready.selectivity).toFixed(1)} %`);
    theirs = await peer.cases();
    if (ready.hasIndex) gluedRare = await peer.rare(20, 100);
  } finally {
    await peer.close();
  }

  const results: CaseResult[] = [];
  for (const prefix of ['feed · ', 'rerank · ']) results.push(...[...ours, ...theirs].filter((r) => r.name.startsWith(prefix)));
  results.push(...rareCase);
  const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix));
  const feedOurs = byName('feed · fusionrank'), feedGlued = byName('feed · glued');
  const rerankOurs = byName('rerank · fusionrank ('), rerankGlued = byName('rerank · glued');
  const rerankBf16 = byName('rerank · fusionrank bf16');
  const rerankCached = byName('rerank · fusionrank item cache');
  const targets: SuiteReport['summary'] = [];
  if (feedOurs) targets.push({ check: 'feed p95 ≤ 1 ms', value: `${(feedOurs.p95Us / 1000).toFixed(3)} ms`, pass: feedOurs.p95Us <= 1000 });
  if (feedOurs && feedGlued) targets.push({ check: 'feed p95 ≤ 0.5 × glued', value: `${(feedOurs.p95Us / feedGlued.p95Us).toFixed(2)} ×`, pass: feedOurs.p95Us <= 0.5 * feedGlued.p95Us });
  if (rerankOurs) targets.push({ check: 'rerank p95 ≤ 3 ms', value: `${(rerankOurs.p95Us / 1000).toFixed(3)} ms`, pass: rerankOurs.p95Us <= 3000 });
  if (rerankOurs && rerankGlued) targets.push({ check: 'rerank p95 ≤ 0.5 × glued', value: `${(rerankOurs.p95Us / rerankGlued.p95Us).toFixed(2)} ×`, pass: rerankOurs.p95Us <= 0.5 * rerankGlued.p95Us });
  if (rerankBf16) targets.push({ check: 'rerank p95 ≤ 3 ms, MLP in bf16 (precision: bf16)', value: `${(rerankBf16.p95Us / 1000).toFixed(3)} ms`, pass: rerankBf16.p95Us <= 3000 });
  if (rerankCached) targets.push({ check: 'rerank p95 ≤ 3 ms, item cache (rerank.itemCache)', value: `${(rerankCached.p95Us / 1000).toFixed(3)} ms`, pass: rerankCached.p95Us <= 3000 });
  summary.unshift(...targets);
  summary.push({ check: `1 % filter (${ready.rarePassing} items) recall@100 ≥ 0.95 (automatic: exact fallback)`, value: autoRecall.recall.toFixed(3), pass: autoRecall.recall >= 0.95 && autoRecall.minReturned >= 100 });
  summary.push({ check: '1 % filter recall@100, graph forced (ef 400, filter in search)', value: graphRecall.recall.toFixed(3), pass: graphRecall.minReturned >= 100 });
  if (gluedRare) {
    const gluedRecall = recall(gluedRare);
    summary.push({ check: '1 % filter recall@100, glued (over-fetch ×150 + post-filter)', value: `${gluedRecall.recall.toFixed(3)} (min returned ${gluedRecall.minReturned})`, pass: gluedRecall.minReturned >= 100 });
  }
  summary.push(loopCheck);
  notes.push('rerank: fusionrank runs the MLP natively (FusionMlp); the glued pipeline runs it in onnxruntime-node');
  notes.push(`libuv pool: UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; ${availableParallelism()} cores visible`);
  return { suite: 'rank', cases: results, summary, notes };
}
