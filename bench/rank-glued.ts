/**
 * The glued peer of `bench rank`, run in its own worker thread: the same
 * pipelines a user would write today from the npm peers (usearch JS index
 * with over-fetch + post-filter, TypeScript fusion and MMR, onnxruntime-node
 * for the MLP).
 *
 * It runs in a worker so that its JS-side data (normalised copies of every
 * vector: ~1 GB at 200k items, ~5 GB at 1M) and its allocations live in
 * another V8 heap. Held in the main thread, they made V8 run Mark-Compact
 * collections of 10-57 ms every ~1.3 s during fusionrank's own cases at 1M.
 * The worker starts after fusionrank's cases are measured and is gone
 * before anything else runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parentPort, Worker, workerData } from 'node:worker_threads';

import { CONTENT_TYPES, RARE_TAG, SAMPLE_NOW, sampleItems, type SampleItem } from '../src/cli/sample-catalog.js';
import { workerScript } from '../src/util/worker-script.js';
import { type BenchConfig, type CaseResult, type CaseSpec, optionalPeer, runCases } from './harness.js';
import { ortModel } from './rank-model.js';

export const VISUAL = 512;
export const TEXT = 768;
export const FEATURES = VISUAL + TEXT + 16; // 1296
const FEED_TYPES = new Set([0, 1]); // meme, mixed
const HALF_LIFE = 86_400_000;
/** Signal weights of both sides: visual, text, engagement, recency, quality. */
export const WEIGHTS = [0.35, 0.2, 0.2, 0.15, 0.1];

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


// ---- the worker thread and its handle in the main thread

/** A bench query: the raw (unnormalised) vectors both sides receive. */
export interface BenchQuery {
  visual: Float32Array;
  text: Float32Array;
}

interface PeerInit {
  items: number;
  seed: number;
  cacheDir: string;
  onnxPath: string;
  config: BenchConfig;
  queries: BenchQuery[];
}

type PeerQuery = { op: 'cases' } | { op: 'rare'; queries: number; k: number };
type PeerRequest = PeerQuery & { id: number };
type PeerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string; stack?: string };

export interface PeerReady {
  notes: string[];
  /** Share of items the feed filter passes, and items carrying the rare tag. */
  selectivity: number;
  rarePassing: number;
  /** Whether usearch is installed (the peer's cases and recall need it). */
  hasIndex: boolean;
}

/** The main thread's handle on the glued peer's worker. */
export class GluedPeer {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  #next = 1;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: PeerReply) => {
      const waiter = this.#pending.get(reply.id);
      if (!waiter) return;
      this.#pending.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.value);
      else waiter.reject(Object.assign(new Error(`glued peer: ${reply.message}`), { stack: reply.stack }));
    });
    const fail = (error: Error) => {
      for (const waiter of this.#pending.values()) waiter.reject(error);
      this.#pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the glued peer's worker exited with code ${code}`)));
  }

  /** Starts the worker: regenerates the peer's data and loads (or builds and caches) its indexes. */
  static async start(init: PeerInit): Promise<{ peer: GluedPeer; ready: PeerReady }> {
    const worker = new Worker(workerScript(import.meta.url, 'rank-glued.js', 'bench'), { workerData: { fusionrankRankPeer: init } });
    const peer = new GluedPeer(worker);
    // The worker answers id 0 once its data and indexes are ready.
    const ready = (await new Promise((resolve, reject) => peer.#pending.set(0, { resolve, reject }))) as PeerReady;
    return { peer, ready };
  }

  #call(request: PeerQuery): Promise<unknown> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id });
    });
  }

  /** Measures the glued feed and rerank in the worker (same harness, same queries). */
  cases(): Promise<CaseResult[]> {
    return this.#call({ op: 'cases' }) as Promise<CaseResult[]>;
  }

  /** The glued retrieval's ids for the first `queries` queries under the rare-tag filter. */
  rare(queries: number, k: number): Promise<string[][]> {
    return this.#call({ op: 'rare', queries, k }) as Promise<string[][]>;
  }

  async close(): Promise<void> {
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }
}

async function serve(init: PeerInit): Promise<void> {
  const port = parentPort!;
  const notes: string[] = [];
  const t0 = performance.now();
  const peer = peerData(init.items);
  let first = 0;
  for (const batch of sampleItems({ items: init.items, seed: init.seed })) {
    absorb(peer, batch, first);
    first += batch.length;
  }
  notes.push(`glued peer: data regenerated in its own worker thread in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const feedPass = (row: number) => peer.safe[row] === 1 && FEED_TYPES.has(peer.type[row]);
  let passing = 0, rarePassing = 0;
  for (let i = 0; i < peer.n; i++) (passing += feedPass(i) ? 1 : 0), (rarePassing += peer.rare[i]);
  const selectivity = passing / peer.n;

  const usearch = await optionalPeer<USearch>('usearch');
  const index = usearch ? await peerIndexes(usearch, peer, init.cacheDir, notes) : undefined;
  const ort = await optionalPeer<Parameters<typeof ortModel>[0] & { default?: unknown }>('onnxruntime-node');
  const ortLib = (ort?.default ?? ort) as Parameters<typeof ortModel>[0] | undefined;
  const model = ortLib ? await ortModel(ortLib, readFileSync(init.onnxPath), FEATURES) : undefined;

  const queries = init.queries.map((q) => ({ visual: q.visual, text: q.text, visualN: normalized(q.visual), textN: normalized(q.text) }));
  let qi = 0;
  const nextQuery = () => queries[qi++ % queries.length];

  const cases: CaseSpec[] = [];
  if (index)
    cases.push({
      name: 'feed · glued (usearch + TS)',
      fn: () => {
        const q = nextQuery();
        const rows = gluedRetrieve(index.visual, peer, q.visual, 500, feedPass, selectivity);
        return gluedMmr(peer, gluedFuse(peer, rows, q.visualN, q.textN), 20, 0.7);
      },
    });
  if (index && model)
    cases.push({
      name: 'rerank · glued (usearch + TS + ORT)',
      fn: async () => {
        const q = nextQuery();
        const rows = new Set([...gluedRetrieve(index.visual, peer, q.visual, 500, feedPass, selectivity), ...gluedRetrieve(index.text, peer, q.text, 500, (r) => feedPass(r) && peer.hasText[r] === 1, selectivity)]);
        const fused = gluedFuse(peer, [...rows], q.visualN, q.textN).slice(0, 200);
        const raws = fused.map((c) => [dot(q.visualN, 0, peer.visual, c.row * VISUAL, VISUAL), peer.hasText[c.row] ? dot(q.textN, 0, peer.text, c.row * TEXT, TEXT) : NaN, Math.log1p(peer.likes[c.row] + peer.comments[c.row]), 0.5 ** ((SAMPLE_NOW - peer.createdAt[c.row]) / HALF_LIFE), peer.quality[c.row]]);
        const scores = await model.run(gluedFeatures(peer, fused, raws));
        const reranked = fused.map((c, i) => ({ row: c.row, score: scores[i] })).sort((a, b) => b.score - a.score);
        return gluedMmr(peer, reranked, 20, 0.7);
      },
    });

  port.on('message', async (request: PeerRequest) => {
    try {
      let value: unknown;
      if (request.op === 'cases') value = await runCases('rank', cases, init.config);
      else {
        if (!index) throw new Error('usearch is not installed');
        value = queries.slice(0, request.queries).map((q) => gluedRetrieve(index.visual, peer, q.visual, request.k, (r) => peer.rare[r] === 1, rarePassing / peer.n).map((r) => `item-${r}`));
      }
      port.postMessage({ id: request.id, ok: true, value } satisfies PeerReply);
    } catch (error) {
      const e = error as Error;
      port.postMessage({ id: request.id, ok: false, message: e.message, stack: e.stack } satisfies PeerReply);
    }
  });
  const ready: PeerReady = { notes, selectivity, rarePassing, hasIndex: !!index };
  port.postMessage({ id: 0, ok: true, value: ready } satisfies PeerReply);
}

const init = (workerData as { fusionrankRankPeer?: PeerInit } | null)?.fusionrankRankPeer;
if (parentPort && init)
  serve(init).catch((error: Error) => parentPort!.postMessage({ id: 0, ok: false, message: error.message, stack: error.stack } satisfies PeerReply));
