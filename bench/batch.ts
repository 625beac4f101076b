/**
 * `npx fusionrank bench batch`: the batch paths side by side with what they
 * replace and with the physical-limit probe, in one run:
 *
 * - `topKMany` 1,000 queries x 100,000 rows x 768 f32, top-100, on one and two
 *   threads, against the FMA-throughput probe (GFLOP/s ratio) and a loop of
 *   single `topK` calls (throughput ratio);
 * - `rankMany` against a loop of `rank()` on the same requests;
 * - with a usable GPU (the CUDA package), `topKMany` on the device and the
 *   host-to-device bandwidth probe (scripts/gpu-check.mjs has the full GPU
 *   table); without one, a note says so.
 *
 * Cases of a second or more run a fixed number of times (medians), not
 * under tinybench's time budget.
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';

import { Catalog } from '../src/catalog/catalog.js';
import { native } from '../src/native.js';
import { VectorStore } from '../src/retrieval/vector-store.js';
import { Ranker } from '../src/scoring/ranker.js';
import { type BenchConfig, type CaseResult, type SuiteReport, randomVectors, rng } from './harness.js';

async function timed(name: string, runs: number, fn: () => unknown | Promise<unknown>, extra?: CaseResult['extra']): Promise<CaseResult> {
  await fn(); // warm-up: page faults, first-touch of the score buffers
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    samples.push((performance.now() - t) * 1000);
  }
  samples.sort((a, b) => a - b);
  const at = (p: number) => samples[Math.min(samples.length - 1, Math.round((samples.length - 1) * p))];
  const mean = samples.reduce((s, x) => s + x, 0) / samples.length;
  return { suite: 'batch', name, p50Us: at(0.5), p95Us: at(0.95), p99Us: at(0.99), opsPerSec: 1e6 / mean, samples: samples.length, extra };
}

export async function benchBatch(config: BenchConfig): Promise<SuiteReport> {
  const random = rng(config.seed);
  const notes: string[] = [];
  const summary: SuiteReport['summary'] = [];
  const dim = 768;
  const rows = config.sizes.batchRows ?? (config.quick ? 20_000 : 100_000);
  const nq = config.sizes.batchQueries ?? (config.quick ? 100 : 1000);
  const k = 100;
  const runs = config.quick ? 1 : 5;
  const store = new VectorStore({ dim });
  for (let r = 0; r < rows; r += 20_000) store.add(randomVectors(Math.min(20_000, rows - r), dim, random));
  const queries = randomVectors(nq, dim, random);
  const label = `${nq}×${rows / 1000}k×${dim} f32 top-${k}`;
  const flops = 2 * nq * rows * dim;

  const fmaIterations = 20_000_000;
  const cases: CaseResult[] = [];
  cases.push(await timed('probe: FMA throughput (1 core)', runs * 2, () => native.probeFma(fmaIterations)));
  const peak = (native.probeFma(1).flops * fmaIterations) / (cases[0].p50Us * 1e3);
  cases[0].extra = { 'GFLOP/s': peak };

  const one = await timed(`topKMany ${label}, 1 thread`, runs, () => store.topKMany(queries, k, { threads: 1 }));
  const two = await timed(`topKMany ${label}, 2 threads`, runs, () => store.topKMany(queries, k, { threads: 2 }));
  // A loop of single topK calls: timed over a slice of the queries, scaled.
  const loopQueries = Math.min(nq, config.quick ? 10 : 40);
  const loop = await timed(`loop of topK, ${loopQueries} of the queries (scaled to ${nq})`, runs, () => {
    for (let q = 0; q < loopQueries; q++) store.topK(queries.subarray(q * dim, (q + 1) * dim), k);
  });
  const loopFull = (loop.p50Us * nq) / loopQueries;
  for (const c of [one, two]) c.extra = { 'GFLOP/s': flops / (c.p50Us * 1e3), 'queries/s': nq / (c.p50Us / 1e6) };
  loop.extra = { 'queries/s': nq / (loopFull / 1e6) };
  cases.push(one, two, loop);
  summary.push({ metric: 'topKMany 1 thread GFLOP/s / FMA probe', value: flops / (one.p50Us * 1e3) / peak, target: '≥ 0.8', met: flops / (one.p50Us * 1e3) / peak >= 0.8 });
  summary.push({ metric: 'topKMany 1 thread / loop of single topK (throughput)', value: loopFull / one.p50Us, target: '≥ 20', met: loopFull / one.p50Us >= 20 });
  const cores = availableParallelism();
  summary.push({ metric: `topKMany 2 threads / 1 thread (${cores} cores here)`, value: one.p50Us / two.p50Us, target: '≥ 1.8', met: one.p50Us / two.p50Us >= 1.8 });
  notes.push(`topKMany: ${label}; the FMA probe runs independent FMA chains on one core; flops counted as 2·q·rows·dim.`);

  // rankMany against a loop of rank() on one catalog.
  const items = config.quick ? 5_000 : 50_000;
  const cdim = 64;
  const catalog = new Catalog({ vectors: { v: { dim: cdim } }, fields: { likes: 'number' } });
  const vectors = randomVectors(items, cdim, random);
  const ids = Array.from({ length: items }, (_, i) => `i${i}`);
  catalog.upsert(ids.map((id, i) => ({ id, vectors: { v: vectors.subarray(i * cdim, (i + 1) * cdim) }, fields: { likes: i % 100 } })));
  const ranker = new Ranker(catalog, {
    retrieve: { exact: true, k: 200 },
    signals: { sim: { kind: 'similarity', vector: 'v', weight: 0.9 }, likes: { kind: 'engagement', fields: ['likes'], weight: 0.1 } },
    k: 20,
  });
  const nr = config.quick ? 200 : 2000;
  const requests = Array.from({ length: nr }, () => ({ query: { v: randomVectors(1, cdim, random) } }));
  const rankLoop = await timed(`loop of rank(), ${nr} requests, ${items / 1000}k×${cdim}`, runs, () => {
    for (const r of requests) ranker.rank(r);
  });
  const many = await timed(`rankMany, ${nr} requests, ${cores} threads`, runs, () => ranker.rankMany(requests));
  rankLoop.extra = { 'µs/request': rankLoop.p50Us / nr };
  many.extra = { 'µs/request': many.p50Us / nr };
  cases.push(rankLoop, many);
  summary.push({ metric: 'rankMany / loop of rank() (throughput)', value: rankLoop.p50Us / many.p50Us, target: '', met: '' });

  const { cudaCapabilities } = await import('../src/cuda.js');
  const cuda = cudaCapabilities();
  if (!cuda.available) notes.push(`GPU cases skipped: ${cuda.reason}. scripts/gpu-check.mjs measures them where a GPU is lent.`);
  else {
    const gpu = await timed(`topKMany ${label} on ${cuda.gpus?.[0]?.name ?? 'GPU'}`, runs, () => store.topKMany(queries, k, { device: 'cuda' }));
    gpu.extra = { 'GFLOP/s': flops / (gpu.p50Us * 1e3) };
    cases.push(gpu);
    summary.push({ metric: 'GPU topKMany / CPU 1 thread (speed-up)', value: one.p50Us / gpu.p50Us, target: '', met: '' });
  }
  return { suite: 'batch', cases, summary, notes };
}
