/**
 * rerank.itemCache: the first dense layer's item part precomputed per item.
 * A cached ranker must rank exactly like the uncached one (scores within
 * float rounding), through every kind of catalog change.
 */
import { pbkdf2 } from 'node:crypto';
import { describe, expect, test } from 'vitest';

import { Catalog, FusionMlp, Ranker, type RankResult, type RerankModel } from '../src/index.js';
import { buildOnnxModel, type OnnxTensorSpec } from '../src/rerank/onnx-build.js';
import { DIM, makeCatalog, randomVector, rng } from './helpers/rank-fixtures.js';

const TEXT = DIM + 8;
const signals = {
  visual: { kind: 'similarity' as const, vector: 'visual', weight: 0.7 },
  likes: { kind: 'engagement' as const, fields: ['likes'], weight: 0.3 },
};
// Vector features between the others, so the cache's input split is not a prefix.
const features = [{ signal: 'visual' }, { vector: 'text' }, { present: 'text' }, { field: 'likes' }, { vector: 'visual' }, { field: 'safe' }];
const width = 1 + TEXT + 1 + 1 + DIM + 1;

function tensor(name: string, dims: number[], random: () => number, scale: number): OnnxTensorSpec {
  return { name, dims, values: Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (random() * 2 - 1) * scale) };
}

/** Gemm + Sigmoid → LayerNorm → Gemm + Relu → Gemm: the first layer's activation and a non-dense tail. */
function model(precision: 'f32' | 'bf16' = 'f32'): FusionMlp {
  const random = rng(404);
  const bytes = buildOnnxModel({
    inputs: [{ name: 'x', dims: ['batch', width] }],
    outputs: [{ name: 'y', dims: ['batch', 1] }],
    nodes: [
      { op: 'Gemm', inputs: ['x', 'w0', 'b0'], outputs: ['h0'] },
      { op: 'Sigmoid', inputs: ['h0'], outputs: ['s0'] },
      { op: 'LayerNormalization', inputs: ['s0', 'g', 'beta'], outputs: ['n0'], attributes: { epsilon: 1e-5, axis: -1 } },
      { op: 'Gemm', inputs: ['n0', 'w1', 'b1'], outputs: ['h1'] },
      { op: 'Relu', inputs: ['h1'], outputs: ['r1'] },
      { op: 'Gemm', inputs: ['r1', 'w2', 'b2'], outputs: ['y'] },
    ],
    initializers: [
      tensor('w0', [width, 24], random, 0.4), tensor('b0', [24], random, 0.2),
      tensor('g', [24], random, 1), tensor('beta', [24], random, 0.1),
      tensor('w1', [24, 8], random, 0.5), tensor('b1', [8], random, 0.1),
      tensor('w2', [8, 1], random, 0.5), tensor('b2', [1], random, 0.1),
    ],
    opset: 17,
  });
  return FusionMlp.fromOnnx(bytes, { precision });
}

const options = (mlp: RerankModel, itemCache: boolean) => ({
  retrieve: { exact: true, k: 150 },
  signals,
  rerank: { model: mlp, top: 60, features, itemCache },
  k: 12,
});

/** The same plan with and without the cache, on one catalog and model. */
function rankers(catalog: Catalog, mlp: RerankModel): { plain: Ranker; cached: Ranker } {
  return { plain: new Ranker(catalog, options(mlp, false)), cached: new Ranker(catalog, options(mlp, true)) };
}

function expectSameRanking(cached: RankResult, plain: RankResult): void {
  expect(cached.items.map((i) => i.id)).toEqual(plain.items.map((i) => i.id));
  cached.items.forEach((item, i) => {
    expect(item.rerank).toBeCloseTo(plain.items[i].rerank!, 5);
    expect(item.score).toBeCloseTo(plain.items[i].score, 5);
  });
}

describe('Ranker: rerank.itemCache', () => {
  for (const dtype of ['f32', 'f16'] as const) {
    test(`ranks like the uncached model (${dtype} vectors, sync and async)`, async () => {
      const fx = makeCatalog(400, 61, dtype);
      const mlp = model();
      const { plain, cached } = rankers(fx.catalog, mlp);
      expect(cached.itemCache!.bytes).toBe(0); // built by prepare() (or the first request)
      cached.prepare({ threads: 2 });
      const random = rng(5);
      for (let t = 0; t < 6; t++) {
        const query = { visual: randomVector(DIM, random), text: randomVector(TEXT, random) };
        const expected = plain.rank({ query, explain: true });
        expectSameRanking(cached.rank({ query, explain: true }), expected);
        expectSameRanking(await cached.rankAsync({ query, explain: true }), expected);
      }
      // 400 rows of the 24-wide first layer, as f32.
      expect(cached.itemCache!.bytes).toBeGreaterThanOrEqual(400 * 24 * 4);
      expect(cached.itemCache!.recomputedRows).toBe(0);
      expect(plain.itemCache).toBeUndefined();
    });
  }

  test('with a bf16 model it ranks like the uncached bf16 model', () => {
    const fx = makeCatalog(300, 62);
    const mlp = model('bf16');
    const { plain, cached } = rankers(fx.catalog, mlp);
    const random = rng(6);
    for (let t = 0; t < 4; t++) {
      const query = { visual: randomVector(DIM, random), text: randomVector(TEXT, random) };
      const a = cached.rank({ query, explain: true }), b = plain.rank({ query, explain: true });
      // bf16 rounds the first layer's inputs: the split sums round differently.
      a.items.forEach((item) => {
        const twin = b.items.find((i) => i.id === item.id);
        if (twin) expect(item.rerank).toBeCloseTo(twin.rerank!, 2);
      });
      expect(new Set(a.items.map((i) => i.id)).size).toBe(a.items.length);
    }
  });

  test('stays current through vector changes, removals, a vector dropped and new items', () => {
    const fx = makeCatalog(300, 63);
    const mlp = model();
    const { plain, cached } = rankers(fx.catalog, mlp);
    const random = rng(7);
    const query = { visual: randomVector(DIM, random), text: randomVector(TEXT, random) };
    const check = () => expectSameRanking(cached.rank({ query, explain: true }), plain.rank({ query, explain: true }));
    check();
    const top = cached.rank({ query }).items.map((i) => i.id);
    // New vectors for the current top items.
    fx.catalog.upsert(top.slice(0, 6).map((id) => ({ ...fx.catalog.get(id)!, vectors: { visual: randomVector(DIM, random), text: randomVector(TEXT, random) } })));
    check();
    // A top item loses its text vector; others are removed.
    const again = cached.rank({ query }).items.map((i) => i.id);
    const { vectors, ...rest } = fx.catalog.get(again[0])!;
    fx.catalog.upsert([{ ...rest, vectors: { visual: vectors.visual } }]);
    fx.catalog.remove(again.slice(1, 4));
    check();
    // Removed rows are reused by new items close to the query; the catalog grows past its old size.
    fx.catalog.upsert(Array.from({ length: 40 }, (_, i) => ({
      id: `new${i}`,
      vectors: { visual: Float32Array.from(query.visual, (x) => x + (random() - 0.5) * 0.1), text: randomVector(TEXT, random) },
      fields: { likes: i, safe: true },
    })));
    check();
    expect(cached.rank({ query }).items.some((i) => i.id.startsWith('new'))).toBe(true);
    // Every request caught up first: none computed rows itself.
    expect(cached.itemCache!.recomputedRows).toBe(0);
  });

  test('catches up by a full rescan when more writes happened than the change log keeps', () => {
    const fx = makeCatalog(200, 64);
    const mlp = model();
    const { plain, cached } = rankers(fx.catalog, mlp);
    const random = rng(8);
    const query = { visual: randomVector(DIM, random), text: randomVector(TEXT, random) };
    expectSameRanking(cached.rank({ query, explain: true }), plain.rank({ query, explain: true }));
    // 25 rounds of 200 rewrites: past the log's 4096 entries.
    const ids = Array.from({ length: 200 }, (_, i) => `p${i}`);
    for (let round = 0; round < 25; round++)
      fx.catalog.upsert(ids.map((id) => ({ ...fx.catalog.get(id)!, vectors: { visual: randomVector(DIM, random), text: randomVector(TEXT, random) } })));
    expectSameRanking(cached.rank({ query, explain: true }), plain.rank({ query, explain: true }));
  });

  test('a rankAsync request that runs after a write computes the stale rows itself', async () => {
    const fx = makeCatalog(300, 65);
    const mlp = model();
    const { plain, cached } = rankers(fx.catalog, mlp);
    cached.prepare({ threads: 1 });
    const random = rng(9);
    const query = { visual: randomVector(DIM, random), text: randomVector(TEXT, random) };
    // Occupy every libuv thread, so the request (caught up when called)
    // runs only after the write below.
    const poolSize = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const busy = Array.from({ length: poolSize }, () => new Promise((resolve) => pbkdf2('x', 'y', 200_000, 32, 'sha256', resolve)));
    const pending = cached.rankAsync({ query, explain: true });
    fx.catalog.upsert(Array.from({ length: 300 }, (_, i) => ({ ...fx.catalog.get(`p${i}`)!, vectors: { visual: randomVector(DIM, random), text: randomVector(TEXT, random) } })));
    const result = await pending;
    await Promise.all(busy);
    expect(cached.itemCache!.recomputedRows).toBeGreaterThan(0);
    expectSameRanking(result, plain.rank({ query, explain: true }));
  });

  test('a single dense layer (a linear model): the cache holds its item part, the tail is empty', () => {
    const fx = makeCatalog(200, 67);
    const random = rng(12);
    const weights = Float32Array.from({ length: width }, () => random() * 2 - 1);
    const linear = FusionMlp.fromOnnx(buildOnnxModel({
      inputs: [{ name: 'x', dims: ['batch', width] }],
      outputs: [{ name: 'y', dims: ['batch', 1] }],
      nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'] }],
      initializers: [{ name: 'w', dims: [width, 1], values: weights }, { name: 'b', dims: [1], values: [0.25] }],
      opset: 17,
    }));
    const cached = new Ranker(fx.catalog, options(linear, true));
    const query = { visual: randomVector(DIM, random), text: randomVector(TEXT, random) };
    const res = cached.rank({ query, explain: true });
    expect(res.items).toHaveLength(12);
    for (const item of res.items) {
      // The score is w·features + b, features laid out as `features` says.
      const stored = fx.catalog.get(item.id)!;
      const x = new Float32Array(width);
      x[0] = item.signals!.visual.normalized!;
      if (stored.vectors.text) x.set(stored.vectors.text, 1), (x[1 + TEXT] = 1);
      x[2 + TEXT] = stored.fields.likes as number;
      x.set(stored.vectors.visual, 3 + TEXT);
      x[3 + TEXT + DIM] = stored.fields.safe ? 1 : 0;
      const expected = x.reduce((sum, v, j) => sum + v * weights[j], 0.25);
      expect(item.rerank).toBeCloseTo(expected, 4);
    }
  });

  test('rankers over the same catalog and model share one cache; another model instance gets its own', () => {
    const fx = makeCatalog(150, 68);
    const mlp = model();
    const first = new Ranker(fx.catalog, options(mlp, true));
    first.prepare({ threads: 1 });
    const bytes = first.itemCache!.bytes;
    expect(bytes).toBeGreaterThan(0);
    // Different signals and k, same model and vector features: the same cache, already built.
    const second = new Ranker(fx.catalog, { ...options(mlp, true), k: 5, normalize: 'rank' });
    expect(second.itemCache!.bytes).toBe(bytes);
    const other = new Ranker(fx.catalog, options(model(), true));
    expect(other.itemCache!.bytes).toBe(0);
    const plain = new Ranker(fx.catalog, { ...options(mlp, false), k: 5, normalize: 'rank' });
    const random = rng(13);
    const query = { visual: randomVector(DIM, random), text: randomVector(TEXT, random) };
    expectSameRanking(second.rank({ query, explain: true }), plain.rank({ query, explain: true }));
  });

  test('bad options', () => {
    const fx = makeCatalog(50, 66);
    const mlp = model();
    const viaJs: RerankModel = { inputSize: mlp.inputSize, outputSize: mlp.outputSize, predict: (x) => mlp.predict(x) };
    expect(() => new Ranker(fx.catalog, options(viaJs, true))).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_FUSIONRANK_INVALID_ARGUMENT', message: expect.stringContaining('needs a FusionMlp') }));
    expect(() => new Ranker(fx.catalog, { ...options(mlp, true), rerank: { model: mlp, features, itemCache: 'yes' as never } })).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' }));
    const small = FusionMlp.fromOnnx(buildOnnxModel({
      inputs: [{ name: 'x', dims: ['batch', 2] }],
      outputs: [{ name: 'y', dims: ['batch', 1] }],
      nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'] }],
      initializers: [{ name: 'w', dims: [2, 1], values: [1, 1] }, { name: 'b', dims: [1], values: [0] }],
      opset: 17,
    }));
    expect(() => new Ranker(fx.catalog, { signals, rerank: { model: small, features: [{ signal: 'visual' }, { field: 'likes' }], itemCache: true } })).toThrow(expect.objectContaining({ name: 'RangeError', code: 'ERR_FUSIONRANK_INVALID_ARGUMENT', message: expect.stringContaining('at least one { vector } feature') }));
    // A first layer that is not dense: nothing to split.
    const random = rng(10);
    const normFirst = FusionMlp.fromOnnx(buildOnnxModel({
      inputs: [{ name: 'x', dims: ['batch', width] }],
      outputs: [{ name: 'y', dims: ['batch', 1] }],
      nodes: [
        { op: 'LayerNormalization', inputs: ['x', 'g'], outputs: ['n'], attributes: { epsilon: 1e-5, axis: -1 } },
        { op: 'Gemm', inputs: ['n', 'w', 'b'], outputs: ['y'] },
      ],
      initializers: [tensor('g', [width], random, 1), tensor('w', [width, 1], random, 0.3), tensor('b', [1], random, 0.1)],
      opset: 17,
    }));
    expect(() => new Ranker(fx.catalog, options(normFirst, true))).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_MLP_SHAPE', message: expect.stringContaining('first layer is dense') }));
    // Without the option the same model reranks as before.
    expect(new Ranker(fx.catalog, options(normFirst, false)).rank({ query: { visual: randomVector(DIM, random) } }).items).toHaveLength(12);
  });

  test('an empty catalog, then items', () => {
    const catalog = new Catalog({ vectors: { visual: { dim: DIM }, text: { dim: TEXT } }, fields: { likes: 'number', safe: 'bool' } });
    const mlp = model();
    const { plain, cached } = rankers(catalog, mlp);
    const random = rng(11);
    const query = { visual: randomVector(DIM, random), text: randomVector(TEXT, random) };
    expect(cached.rank({ query }).items).toEqual([]);
    catalog.upsert(Array.from({ length: 30 }, (_, i) => ({ id: `i${i}`, vectors: { visual: randomVector(DIM, random), ...(i % 3 ? { text: randomVector(TEXT, random) } : {}) }, fields: { likes: i, safe: i % 2 === 0 } })));
    expectSameRanking(cached.rank({ query, explain: true }), plain.rank({ query, explain: true }));
  });
});
