/**
 * `npx fusionrank bench rank [--items N]`: end-to-end ranking latency on a
 * generated catalog (visual 512 f16, text 768 f16, eight fields), side by
 * side with the same pipelines glued from the npm peers the way a user would
 * write them today (usearch JS index with over-fetch + post-filter,
 * TypeScript fusion and MMR, onnxruntime-node for the MLP).
 *
 * The catalog (with its HNSW graphs) and the peer's usearch indexes are
 * cached under .bench-cache/ so later runs start in seconds.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

import { Catalog } from '../src/catalog/catalog.js';
import { CONTENT_TYPES, RARE_TAG, SAMPLE_NOW, sampleItems, sampleSchema, type SampleItem } from '../src/cli/sample-catalog.js';
import { packageRoot } from '../src/native.js';
import { Ranker, type RerankModel, type SignalOptions } from '../src/scoring/ranker.js';
import { type BenchConfig, type CaseResult, optionalPeer, rng, runCases, type SuiteReport } from './harness.js';
import { mlpOnnx, ortModel } from './rank-model.js';

const VISUAL = 512;
const TEXT = 768;
const FEATURES = VISUAL + TEXT + 16; // 1296
const FEED_TYPES = new Set([0, 1]); // meme, mixed
const HALF_LIFE = 86_400_000;

interface UsearchIndex {
  add(keys: BigUint64Array, vectors: Float32Array, threads?: number): void;
  search(vector: Float32Array, k: number, threads?: number): { keys: BigUint64Array; distances: Float32Array };
  save(path: string): void;
  view(path: string): void;
  size(): number;
}
interface USearch {
  Index: new (config: object) => UsearchIndex;
}

/** What the glued pipelines keep in JS: normalised vectors and field columns. */
interface PeerData {
  n: number;
  visual: Float32Array;
  text: Float32Array;
  hasText: Uint8Array;
  likes: Float64Array;
  comments: Float64Array;
  quality: Float64Array;
  createdAt: Float64Array;
  type: Uint8Array;
  safe: Uint8Array;
  rare: Uint8Array;
  creator: Int32Array;
}

function normalizeInto(src: Float32Array, dst: Float32Array, offset: number): void {
  let s = 0;
  for (let j = 0; j < src.length; j++) s += src[j] * src[j];
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let j = 0; j < src.length; j++) dst[offset + j] = src[j] * inv;
}

function peerData(n: number): PeerData {
  return {
    n,
    visual: new Float32Array(n * VISUAL),
    text: new Float32Array(n * TEXT),
    hasText: new Uint8Array(n),
    likes: new Float64Array(n),
    comments: new Float64Array(n),
    quality: new Float64Array(n),
    createdAt: new Float64Array(n),
    type: new Uint8Array(n),
    safe: new Uint8Array(n),
    rare: new Uint8Array(n),
    creator: new Int32Array(n),
  };
}

function absorb(peer: PeerData, batch: SampleItem[], first: number): void {
  batch.forEach((item, b) => {
    const i = first + b;
    normalizeInto(item.vectors.visual, peer.visual, i * VISUAL);
    if (item.vectors.text) {
      normalizeInto(item.vectors.text, peer.text, i * TEXT);
      peer.hasText[i] = 1;
    }
    const f = item.fields;
    peer.likes[i] = f.likes;
    peer.comments[i] = f.comments;
    peer.quality[i] = f.quality;
    peer.createdAt[i] = f.createdAt;
    peer.type[i] = CONTENT_TYPES.indexOf(f.contentType as (typeof CONTENT_TYPES)[number]);
    peer.safe[i] = f.safe ? 1 : 0;
    peer.rare[i] = f.tags.includes(RARE_TAG) ? 1 : 0;
    peer.creator[i] = Number(f.creator.slice(8));
  });
}

function dot(a: Float32Array, aOff: number, b: Float32Array, bOff: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += a[aOff + j] * b[bOff + j];
  return s;
}

function normalized(v: Float32Array): Float32Array {
  const out = new Float32Array(v.length);
  normalizeInto(v, out, 0);
  return out;
}

// ---- the glued pipeline, as a user writes it today

interface GluedCandidate {
  row: number;
  raw: number[]; // visual, text, engagement, recency, quality (NaN = missing)
  score: number;
}

const WEIGHTS = [0.35, 0.2, 0.2, 0.15, 0.1];

function gluedRetrieve(index: UsearchIndex, peer: PeerData, q: Float32Array, k: number, pass: (row: number) => boolean, selectivity: number): number[] {
  // Over-fetch so enough survive the post-filter, then filter in JS.
  const fetch = Math.min(peer.n, Math.ceil((k / selectivity) * 1.5));
  const found = index.search(q, fetch, 1);
  const rows: number[] = [];
  for (let i = 0; i < found.keys.length && rows.length < k; i++) {
    const row = Number(found.keys[i]);
    if (pass(row)) rows.push(row);
  }
  return rows;
}

function gluedFuse(peer: PeerData, rows: number[], qv: Float32Array, qt: Float32Array): GluedCandidate[] {
  const candidates = rows.map((row) => ({
    row,
    raw: [
      dot(qv, 0, peer.visual, row * VISUAL, VISUAL),
      peer.hasText[row] ? dot(qt, 0, peer.text, row * TEXT, TEXT) : NaN,
      Math.log1p(peer.likes[row] + peer.comments[row]),
      0.5 ** (Math.max(0, SAMPLE_NOW - peer.createdAt[row]) / HALF_LIFE),
      peer.quality[row],
    ],
    score: 0,
  }));
  for (let s = 0; s < WEIGHTS.length; s++) {
    let lo = Infinity, hi = -Infinity;
    for (const c of candidates) if (!Number.isNaN(c.raw[s])) (lo = Math.min(lo, c.raw[s])), (hi = Math.max(hi, c.raw[s]));
    for (const c of candidates) if (!Number.isNaN(c.raw[s])) c.raw[s] = hi > lo ? (c.raw[s] - lo) / (hi - lo) : 0.5;
  }
  for (const c of candidates) {
    let total = 0, present = 0, sum = 0;
    for (let s = 0; s < WEIGHTS.length; s++) {
      total += WEIGHTS[s];
      if (Number.isNaN(c.raw[s])) continue;
      present += WEIGHTS[s];
      sum += WEIGHTS[s] * c.raw[s];
    }
    c.score = present > 0 ? (sum * total) / present : 0;
  }
  return candidates.sort((a, b) => b.score - a.score);
}

function gluedMmr(peer: PeerData, ranked: Array<{ row: number; score: number }>, k: number, lambda: number): number[] {
  const pool = ranked.slice(0, 3 * k);
  const lo = Math.min(...pool.map((c) => c.score)), hi = Math.max(...pool.map((c) => c.score));
  const maxSim = new Float64Array(pool.length).fill(0);
  const taken = new Uint8Array(pool.length);
  const out: number[] = [];
  while (out.length < k && out.length < pool.length) {
    let best = -1, bestValue = -Infinity;
    for (let i = 0; i < pool.length; i++) {
      if (taken[i]) continue;
      const value = lambda * (hi > lo ? (pool[i].score - lo) / (hi - lo) : 1) - (1 - lambda) * maxSim[i];
      if (value > bestValue) (bestValue = value), (best = i);
    }
    taken[best] = 1;
    out.push(pool[best].row);
    for (let i = 0; i < pool.length; i++)
      if (!taken[i]) maxSim[i] = Math.max(maxSim[i], dot(peer.visual, pool[best].row * VISUAL, peer.visual, pool[i].row * VISUAL, VISUAL));
  }
  return out;
}

function gluedFeatures(peer: PeerData, candidates: GluedCandidate[], rawCopies: number[][]): Float32Array {
  const x = new Float32Array(candidates.length * FEATURES);
  candidates.forEach((c, i) => {
    const o = i * FEATURES;
    x.set(peer.visual.subarray(c.row * VISUAL, (c.row + 1) * VISUAL), o);
    if (peer.hasText[c.row]) x.set(peer.text.subarray(c.row * TEXT, (c.row + 1) * TEXT), o + VISUAL);
    let p = o + VISUAL + TEXT;
    x[p++] = peer.hasText[c.row];
    for (let s = 0; s < 5; s++) x[p++] = Number.isNaN(c.raw[s]) ? 0 : c.raw[s];
    for (let s = 0; s < 5; s++) x[p++] = Number.isNaN(rawCopies[i][s]) ? 0 : rawCopies[i][s];
    x[p++] = peer.likes[c.row];
    x[p++] = peer.comments[c.row];
    x[p++] = peer.quality[c.row];
    x[p++] = peer.createdAt[c.row];
    x[p++] = peer.safe[c.row];
  });
  return x;
}

// ---- setup

async function buildOrLoad(config: BenchConfig, items: number, notes: string[]): Promise<{ catalog: Catalog; peer: PeerData; cacheDir: string }> {
  const cacheDir = join(packageRoot, '.bench-cache', `rank-${items}-${config.seed}-v1`);
  const catalogDir = join(cacheDir, 'catalog');
  const peer = peerData(items);
  const threads = Math.min(8, availableParallelism());
  let catalog: Catalog | undefined;
  const t0 = performance.now();
  if (existsSync(join(catalogDir, 'manifest.json'))) {
    catalog = await Catalog.load(catalogDir, { mmap: true });
    let first = 0;
    for (const batch of sampleItems({ items, seed: config.seed })) {
      absorb(peer, batch, first);
      first += batch.length;
    }
    notes.push(`catalog loaded from ${catalogDir} (graphs memory-mapped) and peer data regenerated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  } else {
    catalog = new Catalog(sampleSchema());
    let first = 0;
    for (const batch of sampleItems({ items, seed: config.seed })) {
      catalog.upsert(batch);
      absorb(peer, batch, first);
      first += batch.length;
    }
    const t1 = performance.now();
    catalog.buildIndex('visual', { threads });
    catalog.buildIndex('text', { threads });
    const t2 = performance.now();
    mkdirSync(cacheDir, { recursive: true });
    await catalog.save(catalogDir);
    notes.push(`catalog generated in ${((t1 - t0) / 1000).toFixed(1)} s; HNSW graphs built in ${((t2 - t1) / 1000).toFixed(1)} s (${threads} threads); cached at ${catalogDir}`);
  }
  return { catalog, peer, cacheDir };
}

async function peerIndexes(usearch: USearch, peer: PeerData, cacheDir: string, notes: string[]): Promise<{ visual: UsearchIndex; text: UsearchIndex }> {
  const make = (name: 'visual' | 'text', dim: number) => {
    const index = new usearch.Index({ dimensions: dim, metric: 'cos', quantization: 'f16', connectivity: 16, expansion_add: 128, expansion_search: 64 });
    const path = join(cacheDir, `peer-${name}.usearch`);
    if (existsSync(path)) {
      // Memory-mapped: at 1M items, loading both indexes would add 2.8 GB to
      // a process that already holds ~12 GB (first touches page in from disk).
      index.view(path);
      return index;
    }
    const t = performance.now();
    const data = name === 'visual' ? peer.visual : peer.text;
    const rows: number[] = [];
    for (let i = 0; i < peer.n; i++) if (name === 'visual' || peer.hasText[i]) rows.push(i);
    const batch = 10_000;
    for (let b = 0; b < rows.length; b += batch) {
      const part = rows.slice(b, b + batch);
      const vectors = new Float32Array(part.length * dim);
      part.forEach((row, i) => vectors.set(data.subarray(row * dim, (row + 1) * dim), i * dim));
      index.add(BigUint64Array.from(part.map(BigInt)), vectors, Math.min(8, availableParallelism()));
    }
    index.save(path);
    notes.push(`peer usearch ${name} index built in ${((performance.now() - t) / 1000).toFixed(1)} s and cached`);
    return index;
  };
  return { visual: make('visual', VISUAL), text: make('text', TEXT) };
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
  const { catalog, peer, cacheDir } = await buildOrLoad(config, items, notes);

  // Queries: a noisy copy of a random item's vectors (a "more like this" feed).
  const random = rng(config.seed + 1);
  const queries = Array.from({ length: 64 }, () => {
    const row = Math.floor(random() * peer.n);
    const v = Float32Array.from(peer.visual.subarray(row * VISUAL, (row + 1) * VISUAL), (x) => x + (random() - 0.5) * 0.05);
    const t = Float32Array.from({ length: TEXT }, (_, j) => (peer.hasText[row] ? peer.text[row * TEXT + j] : 0) + (random() - 0.5) * 0.05);
    return { visual: v, text: t, visualN: normalized(v), textN: normalized(t) };
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
  const feedPass = (row: number) => peer.safe[row] === 1 && FEED_TYPES.has(peer.type[row]);
  let passing = 0;
  for (let i = 0; i < peer.n; i++) passing += feedPass(i) ? 1 : 0;
  const selectivity = passing / peer.n;
  notes.push(`${items} items; the feed filter passes ${(100 * selectivity).toFixed(1)} %`);

  const feed = new Ranker(catalog, { retrieve: { vector: 'visual', k: 500 }, filter, signals, diversity: { mmr: { vector: 'visual', lambda: 0.7 } }, k: 20 });
  feed.prepare({ threads: Math.min(8, availableParallelism()) });

  // Rerank model: fusionrank's FusionMlp when this build has it, else onnxruntime-node for both sides.
  const onnxBytes = mlpOnnx([FEATURES, 128, 32, 1], config.seed);
  writeFileSync(join(cacheDir, 'rerank-mlp.onnx'), onnxBytes);
  const ort = await optionalPeer<Parameters<typeof ortModel>[0] & { default?: unknown }>('onnxruntime-node');
  const ortLib = (ort?.default ?? ort) as Parameters<typeof ortModel>[0] | undefined;
  const peerModel = ortLib ? await ortModel(ortLib, onnxBytes, FEATURES) : undefined;
  const index = (await import('../src/index.js')) as Record<string, unknown>;
  const fusionMlp = index.FusionMlp as { fromOnnx(bytes: Uint8Array): RerankModel } | undefined;
  const ourModel: RerankModel | undefined = fusionMlp ? fusionMlp.fromOnnx(onnxBytes) : peerModel;
  notes.push(fusionMlp ? 'rerank: fusionrank runs the MLP natively (FusionMlp); the glued pipeline runs it in onnxruntime-node' : 'rerank: FusionMlp is not in this build, so both pipelines run the MLP in onnxruntime-node (fusionrank through rankAsync + predictAsync)');

  const features = [
    { vector: 'visual' }, { vector: 'text' }, { present: 'text' },
    ...Object.keys(signals).map((signal) => ({ signal })),
    ...Object.keys(signals).map((signal) => ({ signal, raw: true })),
    { field: 'likes' }, { field: 'comments' }, { field: 'quality' }, { field: 'createdAt' }, { field: 'safe' },
  ];
  const shop = ourModel
    ? new Ranker(catalog, {
        retrieve: [{ vector: 'visual', k: 500 }, { vector: 'text', k: 500 }],
        filter,
        signals,
        rerank: { model: ourModel, top: 200, features, mode: 'replace' },
        diversity: { mmr: { vector: 'visual', lambda: 0.7 } },
        k: 20,
      })
    : undefined;
  shop?.prepare({ threads: Math.min(8, availableParallelism()) });

  const usearch = await optionalPeer<USearch>('usearch');
  const peerIdx = usearch ? await peerIndexes(usearch, peer, cacheDir, notes) : undefined;

  const cases = [
    {
      name: 'feed · fusionrank (rank)',
      fn: () => {
        const q = nextQuery();
        return feed.rank({ query: { visual: q.visual, text: q.text }, now: SAMPLE_NOW });
      },
    },
    ...(peerIdx
      ? [{
          name: 'feed · glued (usearch + TS)',
          fn: () => {
            const q = nextQuery();
            const rows = gluedRetrieve(peerIdx.visual, peer, q.visual, 500, feedPass, selectivity);
            return gluedMmr(peer, gluedFuse(peer, rows, q.visualN, q.textN), 20, 0.7);
          },
        }]
      : []),
    ...(shop && ourModel
      ? [{
          name: `rerank · fusionrank (${fusionMlp ? 'rank' : 'rankAsync'})`,
          fn: async () => {
            const q = nextQuery();
            return fusionMlp ? shop.rank({ query: { visual: q.visual, text: q.text }, now: SAMPLE_NOW }) : shop.rankAsync({ query: { visual: q.visual, text: q.text }, now: SAMPLE_NOW });
          },
        }]
      : []),
    ...(peerIdx && peerModel
      ? [{
          name: 'rerank · glued (usearch + TS + ORT)',
          fn: async () => {
            const q = nextQuery();
            const rows = new Set([...gluedRetrieve(peerIdx.visual, peer, q.visual, 500, feedPass, selectivity), ...gluedRetrieve(peerIdx.text, peer, q.text, 500, (r) => feedPass(r) && peer.hasText[r] === 1, selectivity)]);
            const fused = gluedFuse(peer, [...rows], q.visualN, q.textN).slice(0, 200);
            const raws = fused.map((c) => [dot(q.visualN, 0, peer.visual, c.row * VISUAL, VISUAL), peer.hasText[c.row] ? dot(q.textN, 0, peer.text, c.row * TEXT, TEXT) : NaN, Math.log1p(peer.likes[c.row] + peer.comments[c.row]), 0.5 ** ((SAMPLE_NOW - peer.createdAt[c.row]) / HALF_LIFE), peer.quality[c.row]]);
            const scores = await peerModel.run(gluedFeatures(peer, fused, raws));
            const reranked = fused.map((c, i) => ({ row: c.row, score: scores[i] })).sort((a, b) => b.score - a.score);
            return gluedMmr(peer, reranked, 20, 0.7);
          },
        }]
      : []),
  ];
  const results: CaseResult[] = await runCases('rank', cases, config);

  const byName = (prefix: string) => results.find((r) => r.name.startsWith(prefix));
  const feedOurs = byName('feed · fusionrank'), feedGlued = byName('feed · glued');
  const rerankOurs = byName('rerank · fusionrank'), rerankGlued = byName('rerank · glued');
  if (feedOurs) summary.push({ check: 'feed p95 ≤ 1 ms', value: `${(feedOurs.p95Us / 1000).toFixed(3)} ms`, pass: feedOurs.p95Us <= 1000 });
  if (feedOurs && feedGlued) summary.push({ check: 'feed p95 ≤ 0.5 × glued', value: `${(feedOurs.p95Us / feedGlued.p95Us).toFixed(2)} ×`, pass: feedOurs.p95Us <= 0.5 * feedGlued.p95Us });
  if (rerankOurs) summary.push({ check: 'rerank p95 ≤ 3 ms', value: `${(rerankOurs.p95Us / 1000).toFixed(3)} ms`, pass: rerankOurs.p95Us <= 3000 });
  if (rerankOurs && rerankGlued) summary.push({ check: 'rerank p95 ≤ 0.5 × glued', value: `${(rerankOurs.p95Us / rerankGlued.p95Us).toFixed(2)} ×`, pass: rerankOurs.p95Us <= 0.5 * rerankGlued.p95Us });

  // ---- the feed's retrieval quality: its 500 candidates against exact filtered search
  {
    const simOnly = { visual: { kind: 'similarity' as const, vector: 'visual', weight: 1 } };
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
  const simOnly = { visual: { kind: 'similarity' as const, vector: 'visual', weight: 1 } };
  const auto = new Ranker(catalog, { retrieve: { vector: 'visual', k: 100 }, filter: rareFilter, signals: simOnly, normalize: 'none', k: 100 });
  const forcedGraph = new Ranker(catalog, { retrieve: { vector: 'visual', k: 100, ef: 400 }, exactBelow: 0, filter: rareFilter, signals: simOnly, normalize: 'none', k: 100 });
  const exact = new Ranker(catalog, { retrieve: { vector: 'visual', k: 100, exact: true }, filter: rareFilter, signals: simOnly, normalize: 'none', k: 100 });
  let rarePassing = 0;
  for (let i = 0; i < peer.n; i++) rarePassing += peer.rare[i];
  const recall = (ranker: Ranker | 'glued') => {
    let hits = 0, total = 0, minReturned = Infinity;
    for (let t = 0; t < 20; t++) {
      const q = queries[t];
      const truth = new Set(exact.rank({ query: { visual: q.visual } }).items.map((i) => i.id));
      const got = ranker === 'glued'
        ? gluedRetrieve(peerIdx!.visual, peer, q.visual, 100, (r) => peer.rare[r] === 1, rarePassing / peer.n).map((r) => `item-${r}`)
        : ranker.rank({ query: { visual: q.visual } }).items.map((i) => i.id);
      minReturned = Math.min(minReturned, got.length);
      for (const id of got) if (truth.has(id)) hits++;
      total += truth.size;
    }
    return { recall: hits / total, minReturned };
  };
  const autoRecall = recall(auto);
  summary.push({ check: `1 % filter (${rarePassing} items) recall@100 ≥ 0.95 (automatic: exact fallback)`, value: autoRecall.recall.toFixed(3), pass: autoRecall.recall >= 0.95 && autoRecall.minReturned >= 100 });
  const graphRecall = recall(forcedGraph);
  summary.push({ check: '1 % filter recall@100, graph forced (ef 400, filter in search)', value: graphRecall.recall.toFixed(3), pass: graphRecall.minReturned >= 100 });
  if (peerIdx) {
    const gluedRecall = recall('glued');
    summary.push({ check: '1 % filter recall@100, glued (over-fetch ×150 + post-filter)', value: `${gluedRecall.recall.toFixed(3)} (min returned ${gluedRecall.minReturned})`, pass: gluedRecall.minReturned >= 100 });
  }
  const autoCase = await runCases('rank', [{ name: '1 % filter · fusionrank (k 100)', fn: () => auto.rank({ query: { visual: nextQuery().visual } }) }], config);
  results.push(...autoCase);

  // ---- rankAsync under 200 concurrent requests: event-loop delay
  // The floor first: the same histogram on an idle loop (its samples include
  // the 1 ms timer interval itself).
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((resolve) => setTimeout(resolve, config.quick ? 200 : 1000));
  idle.disable();
  const histogram = monitorEventLoopDelay({ resolution: 1 });
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
  const loopP99 = histogram.percentile(99) / 1e6;
  summary.push({ check: 'rankAsync × 200 concurrent: event-loop delay p99 < 2 ms', value: `${loopP99.toFixed(2)} ms (idle loop p99 ${(idle.percentile(99) / 1e6).toFixed(2)} ms; max ${(histogram.max / 1e6).toFixed(2)} ms; ${((rounds * 200) / (elapsed / 1000)).toFixed(0)} req/s; request p50 ${percentile(latencies, 0.5).toFixed(1)} ms; main-thread busy ${((elu.active / (rounds * 200)) * 1000).toFixed(0)} µs per request)`, pass: loopP99 < 2 });
  notes.push(`libuv pool: UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}; ${availableParallelism()} cores visible`);
  return { suite: 'rank', cases: results, summary, notes };
}
