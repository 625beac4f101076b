/**
 * `npx fusionrank bench ingest`: the ingest pipeline's three targets.
 *  1. decode + preprocess throughput: ImagePool (worker threads) vs one image
 *     at a time vs sharp's own libuv concurrency on the main thread;
 *  2. event-loop delay p99 while the Ingestor ingests images (no OCR);
 *  3. 64 concurrent single-image requests through the micro-batcher vs 64
 *     separate run() calls.
 * Models and images are generated (see ingest-fixtures.ts); nothing is downloaded.
 */
import { availableParallelism } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { ImagePool } from '../src/ingest/image-pool.js';
import { type IngestedItem, Ingestor } from '../src/ingest/ingestor.js';
import { preprocessImage, resolvePreprocess } from '../src/ingest/preprocess.js';
import { ClipEncoder } from '../src/models/clip-encoder.js';
import { OnnxModel } from '../src/models/onnx-model.js';
import { type BenchConfig, type CaseResult, loopDelayMs, type SuiteReport, optionalPeer, runCases } from './harness.js';
import { denseModel, imageEncoderModel, noiseImage, textEncoderModel, tokenizerJson, TOKENIZER_WORDS } from './ingest-fixtures.js';

const SIZE = 224;

/** Runs `tasks` with at most `limit` in flight; returns seconds taken. */
async function timed(count: number, limit: number, task: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
  return (performance.now() - started) / 1000;
}

function throughputCase(name: string, images: number, seconds: number[], extra: Record<string, number | string> = {}): CaseResult {
  const sorted = [...seconds].sort((a, b) => a - b);
  const best = sorted[0];
  return {
    suite: 'ingest',
    name,
    p50Us: (sorted[Math.floor(sorted.length / 2)] * 1e6) / images,
    p95Us: (sorted[sorted.length - 1] * 1e6) / images,
    p99Us: (sorted[sorted.length - 1] * 1e6) / images,
    opsPerSec: images / best,
    samples: seconds.length,
    extra: { 'images/s': images / best, ...extra },
  };
}

export async function benchIngest(config: BenchConfig): Promise<SuiteReport> {
  const notes: string[] = [];
  const summary: SuiteReport['summary'] = [];
  const cases: CaseResult[] = [];
  if (!(await optionalPeer('sharp')) || !(await optionalPeer('piscina')) || !(await optionalPeer('onnxruntime-node'))) {
    notes.push('sharp, piscina and onnxruntime-node are needed for this suite (npm i sharp piscina onnxruntime-node); skipped');
    return { suite: 'ingest', cases, summary, notes };
  }
  const cores = availableParallelism();
  const rounds = config.quick ? 1 : 3;

  // 1. Decode + preprocess throughput on 640 x 480 JPEGs.
  const distinct = config.quick ? 24 : 64;
  const photos = await Promise.all(Array.from({ length: distinct }, (_, i) => noiseImage(640, 480, config.seed + i)));
  const options = resolvePreprocess({ size: SIZE });
  const count = config.quick ? 48 : 192;
  const image = (i: number) => photos[i % distinct];
  const single: number[] = [], libuv: number[] = [], workers: number[] = [], inline: number[] = [];
  const workerPool = new ImagePool({ threads: cores, size: SIZE, mode: 'workers' });
  const inlinePool = new ImagePool({ threads: cores, size: SIZE, mode: 'libuv' });
  await timed(cores * 4, cores * 4, (i) => workerPool.preprocess(image(i))); // start the workers
  await timed(4, 1, (i) => preprocessImage(image(i), options));
  for (let r = 0; r < rounds; r++) {
    single.push(await timed(count, 1, (i) => preprocessImage(image(i), options)));
    libuv.push(await timed(count, 16, (i) => preprocessImage(image(i), options)));
    workers.push(await timed(count, 16, (i) => workerPool.preprocess(image(i))));
    inline.push(await timed(count, 16, (i) => inlinePool.preprocess(image(i))));
  }
  await Promise.all([workerPool.close(), inlinePool.close()]);
  // 'auto' as a user gets it: calibrates on its first 2 x 16 images, then runs the chosen mode.
  const autoPool = new ImagePool({ threads: cores, size: SIZE });
  const autoSeconds = await timed(count + 32, 16, (i) => autoPool.preprocess(image(i)));
  const calibration = autoPool.calibration;
  await autoPool.close();
  const uvThreads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  cases.push(throughputCase('preprocess 640x480 JPEG → 224 · one at a time', count, single));
  cases.push(throughputCase(`preprocess · sharp on libuv, unbounded (16 in flight, ${uvThreads} uv threads)`, count, libuv));
  cases.push(throughputCase(`preprocess · ImagePool mode 'workers' (${cores} threads x 2)`, count, workers));
  cases.push(throughputCase(`preprocess · ImagePool mode 'libuv' (${cores * 2} in flight)`, count, inline));
  cases.push(throughputCase(`preprocess · ImagePool mode 'auto' → ${calibration.chosen} (incl. calibration)`, count + 32, [autoSeconds]));
  const best = (s: number[]) => count / Math.min(...s);
  const [bestSingle, bestLibuv, bestWorkers, bestInline] = [single, libuv, workers, inline].map(best);
  const bestPool = Math.max(bestWorkers, bestInline);
  summary.push({ metric: 'ImagePool, better mode / one at a time (images/s)', value: bestPool / bestSingle, target: '≥ 1.7', met: bestPool / bestSingle >= 1.7 });
  summary.push({ metric: "ImagePool 'workers' / one at a time", value: bestWorkers / bestSingle, target: '', met: '' });
  summary.push({ metric: "ImagePool 'libuv' / one at a time", value: bestInline / bestSingle, target: '', met: '' });
  summary.push({ metric: "ImagePool 'workers' / sharp libuv concurrency", value: bestWorkers / bestLibuv, target: '', met: '' });
  summary.push({
    metric: "'auto' chose",
    value: `${calibration.chosen} (workers ${calibration.workers?.toFixed(0)}/s p99 ${calibration.workersLoopP99Ms?.toFixed(1)} ms; libuv ${calibration.libuv?.toFixed(0)}/s p99 ${calibration.libuvLoopP99Ms?.toFixed(1)} ms)`,
    target: '',
    met: '',
  });
  notes.push(
    `${cores} cores: worker threads ${bestWorkers >= bestLibuv ? 'beat' : 'do not beat'} sharp's own libuv concurrency (${bestWorkers.toFixed(0)} vs ${bestLibuv.toFixed(0)} images/s). sharp decodes on the process-wide libuv pool even inside workers, so workers only add parallelism for the float conversion and cost a message hop; they keep that conversion off the event loop.`,
  );

  // 2. Event-loop delay while ingesting images (decode on the pool, encode micro-batched, no OCR).
  const items = config.sizes.items ?? (config.quick ? 300 : 1000);
  const clip = await ClipEncoder.load({
    image: imageEncoderModel({ size: SIZE, dim: 16, seed: config.seed }),
    text: textEncoderModel({ vocabSize: 4 + TOKENIZER_WORDS.length, dim: 16 }),
    tokenizer: tokenizerJson(),
    device: 'auto',
    batch: { maxBatch: 32, maxWaitMs: 2 },
  });
  const images = new ImagePool({ threads: cores, size: SIZE });
  let upserts = 0;
  const ingestor = new Ingestor({ catalog: { upsert: (rows: IngestedItem[]) => (upserts += rows.length) }, encoder: clip, images, cache: false });
  const work = Array.from({ length: items }, (_, i) => ({ id: `item-${i}`, image: image(i), caption: i % 2 ? 'a photo of the beach' : undefined }));
  await ingestor.ingest(work.slice(0, 16));
  const resolution = 1;
  const histogram = monitorEventLoopDelay({ resolution });
  histogram.enable();
  const started = performance.now();
  const result = await ingestor.ingest(work, { concurrency: 32 });
  const seconds = (performance.now() - started) / 1000;
  histogram.disable();
  const decodeMode = images.mode;
  await images.close();
  await clip.close();
  const p99Ms = loopDelayMs(histogram, resolution, 99);
  cases.push({
    suite: 'ingest',
    name: `ingest ${items} images (pool + micro-batched encoder, no OCR)`,
    p50Us: loopDelayMs(histogram, resolution, 50) * 1e3,
    p95Us: loopDelayMs(histogram, resolution, 95) * 1e3,
    p99Us: loopDelayMs(histogram, resolution, 99) * 1e3,
    opsPerSec: items / seconds,
    samples: histogram.count,
    extra: { 'items/s': items / seconds, 'loop max ms': histogram.max / 1e6, failed: result.failed.length, device: clip.devices.image ?? '', decode: images.mode },
  });
  summary.push({ metric: `event-loop delay p99 while ingesting ${items} images, decode '${decodeMode}' (ms)`, value: p99Ms, target: '< 10', met: p99Ms < 10 });
  notes.push('the ingest case reports event-loop delay percentiles (beyond the 1 ms sampling interval; not per-item latency) in its µs columns; OCR is off there (tesseract runs ~0.3-2 s per image on this CPU).');

  // 3. Micro-batching: 64 concurrent single requests vs 64 separate run() calls,
  // on a weight-heavy layer that fits in cache and on one that does not.
  for (const [side, outFeatures] of [[64, 512], [128, 512]] as const) {
    const features = 3 * side * side;
    const megabytes = (features * outFeatures * 4) / 1e6;
    const model = await OnnxModel.load(denseModel(features, outFeatures), { device: 'auto', batch: { maxBatch: 64, maxWaitMs: 2 } });
    const inputs = Array.from({ length: 64 }, (_, n) => Float32Array.from({ length: features }, (_, i) => Math.sin(n + i)));
    const feeds = inputs.map((x) => ({ x: { data: x, dims: [1, features] } }));
    const label = `${features}→${outFeatures}, ${megabytes.toFixed(0)} MB, ${model.device}`;
    const batchCases = await runCases(
      'ingest',
      [
        { name: `64 × run() one after another (${label})`, fn: async () => { for (const f of feeds) await model.run(f); } },
        { name: `64 × run() concurrently (${label})`, fn: () => Promise.all(feeds.map((f) => model.run(f))) },
        { name: `64 × submit() concurrently, micro-batched (${label})`, fn: () => Promise.all(feeds.map((f) => model.submit(f))) },
      ],
      { ...config, timeMs: Math.min(config.timeMs, 2000) },
    );
    await model.close();
    cases.push(...batchCases);
    const [sequential, concurrent, batched] = batchCases;
    summary.push({ metric: `micro-batched / 64 separate concurrent run() (${megabytes.toFixed(0)} MB layer)`, value: concurrent.p50Us / batched.p50Us, target: '≥ 3', met: concurrent.p50Us / batched.p50Us >= 3 });
    summary.push({ metric: `micro-batched / 64 sequential run() (${megabytes.toFixed(0)} MB layer)`, value: sequential.p50Us / batched.p50Us, target: '≥ 3', met: sequential.p50Us / batched.p50Us >= 3 });
  }
  notes.push('batching wins what a single-row run wastes: per-call overhead and streaming all weights for one row (GEMV); the larger layer does not fit in the 32 MB L3. On a GPU the per-launch overhead makes the gap larger.');
  if (upserts < items) notes.push(`only ${upserts} of ${items} items were upserted`);
  return { suite: 'ingest', cases, summary, notes };
}
