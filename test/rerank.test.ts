import { describe, expect, test } from 'vitest';

import { mlpOnnx } from '../bench/rank-model.js';
import { Catalog, FusionMlp, Ranker, type RerankModel } from '../src/index.js';
import { DIM, makeCatalog, randomVector, rng } from './helpers/rank-fixtures.js';

/** A linear model y = w·x + b, standing in for FusionMlp (same structural interface). */
class LinearModel implements RerankModel {
  readonly outputSize = 1;
  calls = 0;
  lastInput?: Float32Array;
  constructor(
    readonly weights: Float32Array,
    readonly bias = 0,
  ) {}
  get inputSize(): number {
    return this.weights.length;
  }
  predict(x: Float32Array): Float32Array {
    this.calls++;
    this.lastInput = x;
    const n = x.length / this.inputSize;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let s = this.bias;
      for (let j = 0; j < this.inputSize; j++) s += this.weights[j] * x[i * this.inputSize + j];
      out[i] = s;
    }
    return out;
  }
}

describe('Ranker: rerank stage', () => {
  const fx = makeCatalog(300, 50);
  const q = randomVector(DIM, rng(1));
  const signals = {
    visual: { kind: 'similarity' as const, vector: 'visual', weight: 0.7 },
    likes: { kind: 'engagement' as const, fields: ['likes'], weight: 0.3 },
  };
  // Layout: visual vector, text vector, text present flag, visual signal, likes field.
  const width = DIM + (DIM + 8) + 1 + 1 + 1;
  const features = [{ vector: 'visual' }, { vector: 'text' }, { present: 'text' }, { signal: 'visual' }, { field: 'price' }];

  test('features are assembled natively in the model input order', () => {
    const model = new LinearModel(Float32Array.from({ length: width }, (_, j) => Math.sin(j + 1)));
    const r = new Ranker(fx.catalog, { retrieve: { exact: true, k: 100 }, signals, rerank: { model, top: 40, features }, k: 10 });
    const res = r.rank({ query: { visual: q }, explain: true });
    expect(model.calls).toBe(1);
    const x = model.lastInput!;
    expect(x.length).toBe(40 * width);
    // Check every row of the feature matrix against the stored item.
    const rows = res.items.map((i) => i.id);
    for (const item of res.items) {
      // Find the row of this item in the matrix: the model's score for it must equal w·features(item).
      const stored = fx.catalog.get(item.id)!;
      const expected = new Float32Array(width);
      expected.set(stored.vectors.visual, 0);
      if (stored.vectors.text) {
        expected.set(stored.vectors.text, DIM);
        expected[DIM + DIM + 8] = 1;
      }
      expected[DIM + DIM + 8 + 1] = item.signals!.visual.normalized!;
      expected[DIM + DIM + 8 + 2] = stored.fields.price as number;
      const score = expected.reduce((s, v, j) => s + v * model.weights[j], 0);
      expect(item.rerank).toBeCloseTo(score, 3);
      expect(item.score).toBeCloseTo(score, 3); // mode 'replace'
    }
    const scores = res.items.map((i) => i.score);
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
    expect(rows.length).toBe(10);
    expect(res.timings.rerankUs).toBeGreaterThan(0);
  });

  test('field features: numbers as stored, bools as 0/1, missing values as 0, for each reranked item', () => {
    const c = new Catalog({ vectors: { v: { dim: 4 } }, fields: { price: 'number', safe: 'bool', likes: 'number' } });
    const random = rng(77);
    const items = Array.from({ length: 60 }, (_, i) => ({
      id: `i${i}`,
      vectors: { v: randomVector(4, random) },
      // Every 4th item has no price, every 5th no safe flag.
      fields: { ...(i % 4 ? { price: i * 1.5 } : {}), ...(i % 5 ? { safe: i % 2 === 0 } : {}), likes: i },
    }));
    c.upsert(items);
    const model = new LinearModel(new Float32Array(3));
    const r = new Ranker(c, {
      retrieve: { exact: true, k: 60 },
      signals: { v: { kind: 'similarity', vector: 'v', weight: 1 }, likes: { kind: 'engagement', fields: ['likes'], weight: 0.1 } },
      rerank: { model, top: 25, features: [{ field: 'price' }, { field: 'safe' }, { field: 'likes' }] },
      k: 25,
    });
    r.rank({ query: { v: randomVector(4, random) } });
    const x = model.lastInput!;
    expect(x.length).toBe(25 * 3);
    // Each row is one item's (price, safe, likes); likes identifies the item.
    for (let j = 0; j < 25; j++) {
      const i = x[j * 3 + 2];
      expect(Number.isInteger(i)).toBe(true);
      expect(x[j * 3]).toBe(i % 4 ? Math.fround(i * 1.5) : 0);
      expect(x[j * 3 + 1]).toBe(i % 5 && i % 2 === 0 ? 1 : 0);
    }
  });

  test('f16 vectors are decoded into the features exactly as catalog.get reads them', () => {
    const f16 = makeCatalog(120, 51, 'f16');
    const model = new LinearModel(new Float32Array(width));
    const r = new Ranker(f16.catalog, { retrieve: { exact: true, k: 60 }, signals, rerank: { model, top: 30, features }, k: 5 });
    r.rank({ query: { visual: q } });
    const x = model.lastInput!;
    // Each feature row's visual block is some stored item's vector, bit for bit.
    const stored = [...f16.visual.keys()].map((id) => f16.catalog.get(id)!.vectors.visual);
    for (let j = 0; j < 30; j++) {
      const block = Array.from(x.subarray(j * width, j * width + DIM));
      expect(stored.some((v) => v.every((value, d) => value === block[d]))).toBe(true);
    }
  });

  test('blend mode mixes fused and model scores; only the reranked head competes', () => {
    const model = new LinearModel(new Float32Array(width), 0);
    model.weights[DIM + DIM + 8 + 2] = 0.01; // price
    const r = new Ranker(fx.catalog, { retrieve: { exact: true, k: 100 }, signals, rerank: { model, top: 30, features, mode: 'blend', weight: 0.25 }, k: 30 });
    const res = r.rank({ query: { visual: q }, explain: true });
    expect(res.items.length).toBe(30);
    for (const item of res.items) expect(item.score).toBeCloseTo(0.75 * item.fused! + 0.25 * item.rerank!, 5);
    // The 30 items are exactly the fused top 30.
    const plain = new Ranker(fx.catalog, { retrieve: { exact: true, k: 100 }, signals, k: 30 }).rank({ query: { visual: q } });
    expect(new Set(res.items.map((i) => i.id))).toEqual(new Set(plain.items.map((i) => i.id)));
  });

  test('a pinned item outside the reranked head stays pinned', () => {
    const model = new LinearModel(Float32Array.from({ length: width }, (_, j) => Math.sin(j)));
    const plain = new Ranker(fx.catalog, { retrieve: { exact: true, k: 100 }, signals, k: 100 }).rank({ query: { visual: q } }).items;
    const deep = plain[80].id;
    const r = new Ranker(fx.catalog, { retrieve: { exact: true, k: 100 }, signals, rerank: { model, top: 20, features }, rules: [{ pin: [deep] }], k: 5 });
    const items = r.rank({ query: { visual: q }, explain: true }).items;
    expect(items[0].id).toBe(deep);
    expect(items[0].rule!.kind).toBe('pin');
    expect(items[0].rerank).toBeUndefined();
    expect(items.length).toBe(5);
  });

  test('rankAsync uses predictAsync when the model has it', async () => {
    const model = new LinearModel(Float32Array.from({ length: width }, (_, j) => Math.cos(j)));
    let asyncCalls = 0;
    const asyncModel: RerankModel = {
      inputSize: model.inputSize,
      outputSize: 1,
      predict: (x) => model.predict(x),
      predictAsync: async (x) => {
        asyncCalls++;
        return model.predict(x);
      },
    };
    const r = new Ranker(fx.catalog, { retrieve: { exact: true, k: 100 }, signals, rerank: { model: asyncModel, top: 50, features }, diversity: { mmr: { vector: 'visual' } }, k: 10 });
    const sync = r.rank({ query: { visual: q } });
    const viaAsync = await r.rankAsync({ query: { visual: q } });
    expect(asyncCalls).toBe(1);
    expect(viaAsync.items).toEqual(sync.items);
  });

  test('errors: feature widths, model shape, model output', () => {
    const model = new LinearModel(new Float32Array(width + 1));
    expect(() => new Ranker(fx.catalog, { signals, rerank: { model, features } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH', message: expect.stringContaining(`${width} values but the model takes ${width + 1}`) }));
    expect(() => new Ranker(fx.catalog, { signals, rerank: { model: {} as never, features } })).toThrow(TypeError);
    expect(() => new Ranker(fx.catalog, { signals, rerank: { model, features: [{ signal: 'nope' }] } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_SIGNAL' }));
    expect(() => new Ranker(fx.catalog, { signals, rerank: { model, features: [{ field: 'creator' }] } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_FIELD' }));
    const broken: RerankModel = { inputSize: 1, outputSize: 1, predict: () => new Float32Array(1) };
    const r = new Ranker(fx.catalog, { retrieve: { exact: true }, signals, rerank: { model: broken, features: [{ signal: 'likes' }] } });
    expect(() => r.rank({ query: { visual: q } })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_RERANK_OUTPUT' }));
  });

  test('a native FusionMlp runs inside the request and ranks like the same model called from JavaScript', async () => {
    const mlp = FusionMlp.fromOnnx(mlpOnnx([width, 16, 1], 5));
    const viaJs: RerankModel = { inputSize: mlp.inputSize, outputSize: mlp.outputSize, predict: (x) => mlp.predict(x) };
    const options = (model: RerankModel) => ({ retrieve: { exact: true, k: 100 }, signals, rerank: { model, top: 40, features }, k: 10 });
    const native = new Ranker(fx.catalog, options(mlp));
    const js = new Ranker(fx.catalog, options(viaJs));
    const random = rng(31);
    for (let t = 0; t < 3; t++) {
      const query = { visual: randomVector(DIM, random), text: randomVector(DIM + 8, random) };
      const a = native.rank({ query, explain: true });
      const b = js.rank({ query, explain: true });
      expect(a.items.map((i) => i.id)).toEqual(b.items.map((i) => i.id));
      a.items.forEach((item, i) => {
        expect(item.score).toBeCloseTo(b.items[i].score, 5);
        expect(item.rerank).toBeCloseTo(b.items[i].rerank!, 5);
        expect(item.score).toBe(item.rerank); // mode 'replace'
      });
      expect(a.timings.rerankUs).toBeGreaterThan(0);
      const c = await native.rankAsync({ query, explain: true });
      expect(c.items).toEqual(a.items);
    }
  });
});
