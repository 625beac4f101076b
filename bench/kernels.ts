/**
 * `npx fusionrank bench kernels`: cosine scoring and exact top-k, side by side
 * with a plain TypeScript loop, simsimd per pair, usearch's exactSearch, and
 * the memory-read / FMA-throughput probes over the same bytes.
 */
import { native } from '../src/native.js';
import { VectorStore, type Dtype } from '../src/retrieval/vector-store.js';
import { type BenchConfig, type CaseResult, type SuiteReport, optionalPeer, randomRows, randomVectors, rng, runCases } from './harness.js';

interface SimSimd {
  cosine(a: Float32Array, b: Float32Array): number;
  inner(a: Float32Array, b: Float32Array): number;
}
interface USearch {
  exactSearch(dataset: Float32Array, queries: Float32Array, dims: number, count: number, metric: unknown, threads?: number): { keys: BigUint64Array; distances: Float32Array };
  MetricKind: Record<string, unknown>;
}

function normalizeRows(data: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < data.length / dim; r++) {
    let s = 0;
    for (let j = 0; j < dim; j++) s += data[r * dim + j] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) out[r * dim + j] = data[r * dim + j] * inv;
  }
  return out;
}

/** What a user writes today without a native kernel. */
function cosineTs(query: Float32Array, data: Float32Array, dim: number, rows: Uint32Array, out: Float32Array): void {
  for (let i = 0; i < rows.length; i++) {
    const base = rows[i] * dim;
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += query[j] * data[base + j];
    out[i] = dot;
  }
}

const byName = (cases: CaseResult[], name: string) => cases.find((c) => c.name === name);

export async function benchKernels(config: BenchConfig): Promise<SuiteReport> {
  const random = rng(config.seed);
  const notes: string[] = [];
  const dim = 768;
  const storeRows = config.quick ? 20_000 : 100_000;
  const gathered = 1000;
  const data = randomVectors(storeRows, dim, random);
  const normalized = normalizeRows(data, dim);
  const rows = randomRows(storeRows, gathered, random);
  const query = randomVectors(1, dim, random);
  const queryNorm = normalizeRows(query, dim);
  const stores = Object.fromEntries((['f32', 'f16', 'i8'] as Dtype[]).map((dtype) => {
    const s = new VectorStore({ dim, dtype });
    s.add(data);
    return [dtype, s];
  })) as Record<Dtype, VectorStore>;
  const out = new Float32Array(gathered);

  const simsimd = await optionalPeer<SimSimd>('simsimd');
  const usearch = await optionalPeer<USearch>('usearch');
  if (!simsimd) notes.push('simsimd not installed: its cases are skipped (npm i -D simsimd)');
  if (!usearch) notes.push('usearch not installed: its cases are skipped (npm i usearch)');
  const rowViews = Array.from(rows, (r) => normalized.subarray(r * dim, (r + 1) * dim));

  const fmaIterations = 1_000_000;
  const cases = await runCases('kernels', [
    { name: 'probe: FMA throughput', fn: () => native.probeFma(fmaIterations) },
    ...(['f32', 'f16', 'i8'] as Dtype[]).flatMap((dtype) => [
      { name: `probe: memory read ${dtype} 1000 rows`, fn: () => stores[dtype].probeRead(rows) },
      { name: `fusionrank cosine ${dtype} 1000×768`, fn: () => stores[dtype].cosine(query, rows) },
    ]),
    { name: 'TypeScript loop f32 1000×768', fn: () => cosineTs(queryNorm, normalized, dim, rows, out) },
    ...(simsimd
      ? [
          { name: 'simsimd.cosine per pair f32 1000×768', fn: () => { for (let i = 0; i < gathered; i++) out[i] = simsimd.cosine(queryNorm, rowViews[i]); } },
          { name: 'simsimd.inner per pair f32 1000×768', fn: () => { for (let i = 0; i < gathered; i++) out[i] = simsimd.inner(queryNorm, rowViews[i]); } },
        ]
      : []),
  ], config);

  const fma = byName(cases, 'probe: FMA throughput')!;
  const fmaFlops = native.probeFma(1).flops; // flops per iteration
  const peakGflops = (fmaFlops * fmaIterations) / (fma.p50Us * 1e3);
  fma.extra = { 'GFLOP/s': peakGflops };
  const summary: SuiteReport['summary'] = [];
  const f32 = byName(cases, 'fusionrank cosine f32 1000×768')!;
  for (const dtype of ['f32', 'f16', 'i8'] as Dtype[]) {
    const k = byName(cases, `fusionrank cosine ${dtype} 1000×768`)!;
    const probe = byName(cases, `probe: memory read ${dtype} 1000 rows`)!;
    const bytes = gathered * dim * (dtype === 'f32' ? 4 : dtype === 'f16' ? 2 : 1);
    const gflops = (2 * gathered * dim) / (k.p50Us * 1e3);
    k.extra = { 'GB/s': bytes / (k.p50Us * 1e3), 'GFLOP/s': gflops, 'x probe': k.p50Us / probe.p50Us };
    probe.extra = { 'GB/s': bytes / (probe.p50Us * 1e3) };
    summary.push({ metric: `${dtype} cosine / memory-read probe`, value: k.p50Us / probe.p50Us, target: dtype === 'f32' ? '≤ 1.3' : '', met: dtype === 'f32' ? k.p50Us / probe.p50Us <= 1.3 : '' });
    summary.push({ metric: `${dtype} cosine FLOP/s / FMA probe`, value: gflops / peakGflops, target: '', met: '' });
  }
  const ts = byName(cases, 'TypeScript loop f32 1000×768')!;
  summary.push({ metric: 'TypeScript loop / fusionrank f32', value: ts.p50Us / f32.p50Us, target: '≥ 6', met: ts.p50Us / f32.p50Us >= 6 });
  const sim = byName(cases, 'simsimd.cosine per pair f32 1000×768');
  if (sim) summary.push({ metric: 'simsimd.cosine per pair / fusionrank f32', value: sim.p50Us / f32.p50Us, target: '≥ 5', met: sim.p50Us / f32.p50Us >= 5 });
  const simInner = byName(cases, 'simsimd.inner per pair f32 1000×768');
  if (simInner) summary.push({ metric: 'simsimd.inner per pair / fusionrank f32', value: simInner.p50Us / f32.p50Us, target: '', met: '' });
  for (const dtype of ['f16', 'i8'] as Dtype[]) {
    const k = byName(cases, `fusionrank cosine ${dtype} 1000×768`)!;
    const target = dtype === 'f16' ? 0.6 : 0.35;
    summary.push({ metric: `${dtype} / f32 time`, value: k.p50Us / f32.p50Us, target: `≤ ${target}`, met: k.p50Us / f32.p50Us <= target });
  }

  // Exact top-10 over a large store, single thread, against usearch.
  const bigRows = config.sizes.topkRows ?? Number(process.env.FUSIONRANK_BENCH_TOPK_ROWS ?? (config.quick ? 100_000 : 1_000_000));
  const big = new Float32Array(bigRows * dim);
  const chunkRows = 50_000;
  for (let i = 0; i < big.length; i++) big[i] = random() * 2 - 1;
  const bigStore = new VectorStore({ dim, dtype: 'f32' });
  for (let r = 0; r < bigRows; r += chunkRows) bigStore.add(big.subarray(r * dim, Math.min(bigRows, r + chunkRows) * dim));
  const topkTime = { ...config, timeMs: Math.max(config.timeMs, config.quick ? 200 : 3000) };
  const label = bigRows >= 1e6 ? `${bigRows / 1e6}M×768` : `${bigRows / 1e3}k×768`;
  const topCases = await runCases('kernels', [
    { name: `probe: memory read f32 ${label}`, fn: () => bigStore.probeRead() },
    { name: `probe: memory read f32 ${label} 2 threads`, fn: () => bigStore.probeRead(undefined, 2) },
    { name: `fusionrank topK 10 f32 ${label} 1 thread`, fn: () => bigStore.topK(query, 10) },
    { name: `fusionrank topKAsync 10 f32 ${label} 1 thread`, fn: () => bigStore.topKAsync(query, 10, { threads: 1 }) },
    { name: `fusionrank topKAsync 10 f32 ${label} 2 threads`, fn: () => bigStore.topKAsync(query, 10, { threads: 2 }) },
    ...(usearch ? [{ name: `usearch exactSearch 10 f32 ${label} 1 thread`, fn: () => usearch.exactSearch(big, query, dim, 10, usearch.MetricKind.Cos, 1) }] : []),
  ], topkTime);
  const sync1 = byName(topCases, `fusionrank topK 10 f32 ${label} 1 thread`)!;
  const async1 = byName(topCases, `fusionrank topKAsync 10 f32 ${label} 1 thread`)!;
  const async2 = byName(topCases, `fusionrank topKAsync 10 f32 ${label} 2 threads`)!;
  const bigProbe = byName(topCases, `probe: memory read f32 ${label}`)!;
  const bytes = bigRows * dim * 4;
  for (const c of topCases) c.extra = { 'GB/s': bytes / (c.p50Us * 1e3) };
  summary.push({ metric: `topK ${label} / memory-read probe`, value: sync1.p50Us / bigProbe.p50Us, target: '', met: '' });
  const us = usearch ? byName(topCases, `usearch exactSearch 10 f32 ${label} 1 thread`) : undefined;
  if (us) summary.push({ metric: `topK ${label} / usearch exactSearch`, value: sync1.p50Us / us.p50Us, target: '≤ 1.1', met: sync1.p50Us / us.p50Us <= 1.1 });
  summary.push({ metric: 'topKAsync 2 threads / 1 thread', value: async2.p50Us / async1.p50Us, target: '< 1', met: async2.p50Us < async1.p50Us });
  const probe2 = byName(topCases, `probe: memory read f32 ${label} 2 threads`)!;
  summary.push({ metric: 'memory-read probe 2 threads / 1 thread (bandwidth scaling)', value: probe2.p50Us / bigProbe.p50Us, target: '', met: '' });
  notes.push(`cosine cases gather 1000 random rows of a ${storeRows}-row store; a ratio "x probe" is fusionrank time / memory-read time for the same bytes.`);
  notes.push('usearch exactSearch is given the same raw (unnormalised) f32 data and cosine metric; fusionrank stores rows pre-normalised.');
  return { suite: 'kernels', cases: [...cases, ...topCases], summary, notes };
}
