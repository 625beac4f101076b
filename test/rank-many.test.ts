// Batch paths over a catalog: Ranker.rankMany against the single-request
// rank() (the independent reference: the request-at-a-time API users run
// today) and Catalog.topKMany against a brute-force filtered scan.
import { describe, expect, test } from 'vitest';

import { Ranker } from '../src/index.js';
import { cosine, DIM, makeCatalog, randomVector, rng } from './helpers/rank-fixtures.js';

const NOW = 1_700_000_000_000;

describe('Ranker.rankMany', () => {
  const fx = makeCatalog(600, 21);
  const ranker = new Ranker(fx.catalog, {
    filter: { safe: true },
    signals: {
      visual: { kind: 'similarity', vector: 'visual', weight: 0.6 },
      text: { kind: 'similarity', vector: 'text', weight: 0.3 },
      likes: { kind: 'engagement', fields: ['likes'], weight: 0.1 },
    },
    diversity: { maxPer: { creator: 3 } },
    k: 12,
  });
  const random = rng(5);
  const ids = [...fx.visual.keys()];
  const requests = Array.from({ length: 40 }, (_, i) =>
    i % 3 === 0
      ? { query: { fromHistory: [ids[i], ids[i + 1]] }, now: NOW }
      : { query: { visual: randomVector(DIM, random), text: randomVector(DIM + 8, random) }, now: NOW, k: 5 + (i % 7), exclude: [ids[i]] },
  );

  test('returns, in request order, what rank() returns for each request', async () => {
    const progress: number[] = [];
    const results = await ranker.rankMany(requests, { threads: 3, onProgress: (done, total) => { expect(total).toBe(40); progress.push(done); } });
    expect(results.length).toBe(requests.length);
    requests.forEach((request, i) => {
      const one = ranker.rank(request);
      expect(results[i].items.map((x) => x.id)).toEqual(one.items.map((x) => x.id));
      results[i].items.forEach((item, j) => expect(item.score).toBeCloseTo(one.items[j].score, 6));
    });
    // Called as chunks finish: increasing, ending at the total.
    expect(progress.at(-1)).toBe(40);
    progress.forEach((d, i) => i > 0 && expect(d).toBeGreaterThan(progress[i - 1]));
  });

  test('one bad request rejects with its index and nothing runs', async () => {
    const bad = [...requests.slice(0, 5), { query: { visual: new Float32Array(3) } }, ...requests.slice(5, 8)];
    let ran = 0;
    await expect(ranker.rankMany(bad, { onProgress: () => ran++ })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH', message: expect.stringContaining('requests[5]') });
    expect(ran).toBe(0);
    await expect(ranker.rankMany([{ query: { nope: new Float32Array(DIM) } }])).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR', message: expect.stringContaining('requests[0]') });
  });

  test('an abort stops the batch with the signal reason', async () => {
    const controller = new AbortController();
    let done = 0;
    const run = ranker.rankMany(requests, { threads: 1, signal: controller.signal, onProgress: (d) => { done = d; controller.abort(new Error('stop here')); } });
    await expect(run).rejects.toThrow('stop here');
    expect(done).toBeLessThan(requests.length);
    const aborted = AbortSignal.abort();
    await expect(ranker.rankMany(requests, { signal: aborted })).rejects.toMatchObject({ name: 'AbortError' });
  });

  test('bad options and devices are coded errors; an empty list gives an empty result', async () => {
    expect(await ranker.rankMany([])).toEqual([]);
    await expect(ranker.rankMany('x' as never)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    await expect(ranker.rankMany(requests, { threads: 0 })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    await expect(ranker.rankMany(requests, { onProgress: 3 as never })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    await expect(ranker.rankMany(requests, { device: 'tpu' as never })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    const { cudaCapabilities } = await import('../src/cuda.js');
    if (!cudaCapabilities().available) await expect(ranker.rankMany(requests, { device: 'cuda' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CUDA_UNAVAILABLE' });
  });
});

describe('Catalog.topKMany', () => {
  const fx = makeCatalog(500, 31);
  const random = rng(8);
  const queries = new Float32Array(6 * DIM);
  for (let q = 0; q < 6; q++) queries.set(randomVector(DIM, random), q * DIM);

  function brute(filter: (id: string) => boolean, k: number): string[][] {
    return Array.from({ length: 6 }, (_, q) =>
      [...fx.visual.entries()]
        .filter(([id]) => filter(id))
        .map(([id, v]) => ({ id, s: cosine(queries.subarray(q * DIM, (q + 1) * DIM), v) }))
        .sort((a, b) => b.s - a.s)
        .slice(0, k)
        .map((x) => x.id),
    );
  }

  test('equals a brute-force scan of the items passing the filter', async () => {
    const { k, ids, scores } = await fx.catalog.topKMany('visual', queries, 10, { filter: { safe: true, price: { lte: 100 } } });
    expect(k).toBe(10);
    const want = brute((id) => fx.fields.get(id)!.safe && fx.fields.get(id)!.price <= 100, 10);
    for (let q = 0; q < 6; q++) {
      expect(ids.slice(q * k, (q + 1) * k)).toEqual(want[q]);
      for (let i = 1; i < k; i++) expect(scores[q * k + i]).toBeLessThanOrEqual(scores[q * k + i - 1]);
    }
  });

  test('without a filter, every live item is a candidate; removed items are not', async () => {
    const removed = [...fx.visual.keys()].slice(0, 50);
    fx.catalog.remove(removed);
    const { k, ids } = await fx.catalog.topKMany('visual', queries, 600);
    expect(k).toBe(450);
    const want = brute((id) => !removed.includes(id), 450);
    for (let q = 0; q < 6; q++) expect(new Set(ids.slice(q * k, (q + 1) * k))).toEqual(new Set(want[q]));
  });

  test('bad input is a coded error', async () => {
    await expect(fx.catalog.topKMany('nope', queries, 5)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR' });
    await expect(fx.catalog.topKMany('visual', new Float32Array(DIM + 1), 5)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' });
    await expect(fx.catalog.topKMany('visual', queries, 0)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_K' });
    await expect(fx.catalog.topKMany('visual', queries, 5, { filter: { price: { near: 3 } } as never })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_FILTER' });
  });
});

describe('FusionMlp.predictAsync({ device })', () => {
  test("'cuda' without a usable GPU is ERR_FUSIONRANK_CUDA_UNAVAILABLE; 'auto' gives the CPU result", async () => {
    const { FusionMlp } = await import('../src/index.js');
    const { randomMlpOnnx } = await import('../src/rerank/onnx-build.js');
    const { cudaCapabilities } = await import('../src/cuda.js');
    const random = rng(12);
    const mlp = FusionMlp.fromOnnx(randomMlpOnnx([20, 16, 1], random, { activation: 'Relu' }));
    const x = Float32Array.from({ length: 20 * 7 }, () => random() * 2 - 1);
    const cpu = mlp.predict(x);
    await expect(mlp.predictAsync(x, { device: 'tpu' as never })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    if (cudaCapabilities().available) return; // the GPU comparison lives in test/cuda-batch.test.ts
    await expect(mlp.predictAsync(x, { device: 'cuda' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CUDA_UNAVAILABLE' });
    expect(Array.from(await mlp.predictAsync(x, { device: 'auto' }))).toEqual(Array.from(cpu));
  });
});
