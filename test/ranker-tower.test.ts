/**
 * A Ranker with a user tower (two-tower retrieval): `query.userFeatures` goes
 * through the tower natively inside the rank call and must rank exactly as
 * the tower's output passed as the query vector; bad towers and bad features
 * are coded errors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, test } from 'vitest';

import { Catalog, FusionMlp, Ranker, type RankResult } from '../src/index.js';
import { rankNative } from '../src/catalog/native-types.js';
import { buildOnnxModel } from '../src/rerank/onnx-build.js';
import { nativeModelOf } from '../src/rerank/fusion-mlp.js';
import { expectCode } from './helpers/mlp.js';
import { randomVector, rng } from './helpers/rank-fixtures.js';

const TOWER = readFileSync(join(__dirname, 'fixtures', 'towers', 'user-tower.onnx'));
const TEXT_DIM = 24;
const NOW = 1_700_000_000_000;

function makeCatalog(n: number): Catalog {
  const random = rng(5);
  const catalog = new Catalog({
    vectors: { embedding: { dim: 128 }, text: { dim: TEXT_DIM }, small: { dim: 64 } },
    fields: { likes: 'number', createdAt: 'time' },
  });
  catalog.upsert(
    Array.from({ length: n }, (_, i) => ({
      id: `p${i}`,
      vectors: { embedding: randomVector(128, random), text: randomVector(TEXT_DIM, random), small: randomVector(64, random) },
      fields: { likes: Math.floor(random() * 500), createdAt: NOW - Math.floor(random() * 86_400_000) },
    })),
  );
  return catalog;
}

const catalog = makeCatalog(600);
const tower = FusionMlp.fromOnnx(TOWER);
const random = rng(21);
const user = { visual: randomVector(256, random), text: randomVector(256, random) };
const textQuery = randomVector(TEXT_DIM, random);

const options = (extra: object = {}) => ({
  signals: {
    twoTower: { kind: 'similarity' as const, vector: 'embedding', weight: 0.6 },
    text: { kind: 'similarity' as const, vector: 'text', weight: 0.3 },
    recency: { kind: 'recency' as const, field: 'createdAt', halfLife: '12h', weight: 0.1 },
  },
  tower: { model: tower, vector: 'embedding' },
  k: 25,
  ...extra,
});

const same = (a: RankResult, b: RankResult) => {
  expect(a.items.map((i) => i.id)).toEqual(b.items.map((i) => i.id));
  expect(a.items.map((i) => i.score)).toEqual(b.items.map((i) => i.score));
  expect(a.candidates).toBe(b.candidates);
};

describe('Ranker with a user tower', () => {
  const ranker = new Ranker(catalog, options());
  const query = tower.predict(user);

  test('userFeatures rank exactly as the tower output passed as the query vector', async () => {
    const viaTower = ranker.rank({ query: { userFeatures: user, text: textQuery }, now: NOW, explain: true });
    const direct = ranker.rank({ query: { embedding: query, text: textQuery }, now: NOW, explain: true });
    expect(viaTower.items).toHaveLength(25);
    same(viaTower, direct);
    expect(viaTower.items.map((i) => i.signals)).toEqual(direct.items.map((i) => i.signals));
    same(await ranker.rankAsync({ query: { userFeatures: user, text: textQuery }, now: NOW }), direct);
  });

  test('with HNSW retrieval, and through a flat input row', async () => {
    const indexed = new Ranker(catalog, options({ exactBelow: 0, retrieve: [{ vector: 'embedding', k: 100 }] }));
    const direct = indexed.rank({ query: { embedding: query }, now: NOW });
    expect(direct.usedIndex).toBe(true);
    same(indexed.rank({ query: { userFeatures: user }, now: NOW }), direct);
    const flat = new Float32Array(512);
    flat.set(user.visual, 0);
    flat.set(user.text, 256);
    same(indexed.rank({ query: { userFeatures: flat }, now: NOW }), direct);
    same(await indexed.rankAsync({ query: { userFeatures: flat }, now: NOW }), direct);
  });

  test("the tower's missing-modality policy applies to userFeatures", () => {
    const fill = randomVector(256, rng(3));
    const withFill = FusionMlp.fromOnnx(TOWER, { missing: { text: { embedding: fill } } });
    const r = new Ranker(catalog, options({ tower: { model: withFill, vector: 'embedding' } }));
    same(r.rank({ query: { userFeatures: { visual: user.visual, text: null } }, now: NOW }), r.rank({ query: { embedding: withFill.predict({ visual: user.visual, text: null }) }, now: NOW }));
  });

  test('fromHistory fills the other vectors, the tower its own', () => {
    const history = ['p3', 'p8', 'p13'];
    const viaTower = ranker.rank({ query: { userFeatures: user, fromHistory: history }, now: NOW });
    const textFromHistory = new Float32Array(TEXT_DIM);
    for (const id of history) {
      const t = catalog.get(id)!.vectors.text!;
      for (let j = 0; j < TEXT_DIM; j++) textFromHistory[j] += t[j] / history.length;
    }
    const direct = ranker.rank({ query: { embedding: query, text: textFromHistory }, now: NOW });
    expect(viaTower.items.map((i) => i.id)).toEqual(direct.items.map((i) => i.id));
  });

  test('a tower whose output is not the vector dim, or not a FusionMlp, or an unused vector', () => {
    expectCode(() => new Ranker(catalog, options({ tower: { model: tower, vector: 'text' } })), 'ERR_FUSIONRANK_DIM_MISMATCH', RangeError, /outputs 128 values but vector 'text' has dim 24/);
    const jsModel = { inputSize: 512, outputSize: 128, predict: (x: Float32Array) => x.slice(0, 128) };
    expectCode(() => new Ranker(catalog, options({ tower: { model: jsModel, vector: 'embedding' } })), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError, /options\.tower\.model/);
    expectCode(() => new Ranker(catalog, options({ tower: { model: tower, vector: 'nope' } })), 'ERR_FUSIONRANK_UNKNOWN_VECTOR', RangeError);
    expectCode(
      () => new Ranker(catalog, { signals: { text: { kind: 'similarity', vector: 'text', weight: 1 } }, tower: { model: tower, vector: 'embedding' } }),
      'ERR_FUSIONRANK_INVALID_ARGUMENT',
      RangeError,
      /neither retrieved nor scored/,
    );
    expectCode(() => new Ranker(catalog, options({ tower: 'model.onnx' })), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError);
  });

  test('bad userFeatures are coded errors', async () => {
    const rank = (userFeatures: unknown, extra: object = {}) => () => ranker.rank({ query: { userFeatures, ...extra } as never, now: NOW });
    expectCode(rank({ visual: user.visual.subarray(0, 255), text: user.text }), 'ERR_FUSIONRANK_DIM_MISMATCH', RangeError, /request\.query\.userFeatures\.visual/);
    const twoRows = new Float32Array(512);
    expectCode(rank({ visual: twoRows, text: user.text }), 'ERR_FUSIONRANK_DIM_MISMATCH', RangeError, /1 x 256/);
    expectCode(rank(new Float32Array(511)), 'ERR_FUSIONRANK_DIM_MISMATCH', RangeError, /512 floats/);
    expectCode(rank({ visual: user.visual, text: user.text, audio: user.text }), 'ERR_FUSIONRANK_UNKNOWN_INPUT', RangeError, /audio/);
    expectCode(rank({ visual: user.visual }), 'ERR_FUSIONRANK_MISSING_INPUT', RangeError, /'text'/);
    expectCode(rank({ visual: Array.from(user.visual), text: user.text }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError);
    expectCode(rank([1, 2, 3]), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError);
    expectCode(rank(user, { embedding: query }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', RangeError, /both userFeatures and 'embedding'/);
    const nan = Float32Array.from(user.visual);
    nan[7] = Number.NaN;
    expectCode(rank({ visual: nan, text: user.text }), 'ERR_FUSIONRANK_NON_FINITE', RangeError, /user tower/);
    await expect(ranker.rankAsync({ query: { userFeatures: { visual: nan, text: user.text } }, now: NOW })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_NON_FINITE' });
    const noTower = new Ranker(catalog, { signals: { twoTower: { kind: 'similarity', vector: 'embedding', weight: 1 } } });
    expectCode(() => noTower.rank({ query: { userFeatures: user } }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', RangeError, /options\.tower/);
  });

  test('direct native misuse of the tower plan and input throws instead of crashing', () => {
    const c = new rankNative.NativeCatalog();
    c.addVector('v', 4, 'f32');
    c.activate(new Uint32Array([0]));
    const plan = { retrievers: [{ vector: 0, k: 5 }], signals: [{ kind: 'similarity', vector: 0, weight: 1 }], k: 5 };
    const invalid = expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    expect(() => new rankNative.NativeRanker(c, { ...plan, tower: { model: tower, vector: 0 } })).toThrow(invalid); // not the native model
    expect(() => new rankNative.NativeRanker(c, { ...plan, tower: { model: nativeModelOf(tower), vector: 0 } })).toThrow(invalid); // 128 != 4
    expect(() => new rankNative.NativeRanker(c, { ...plan, tower: { model: nativeModelOf(tower), vector: 3 } })).toThrow(invalid);
    expect(() => new rankNative.NativeRanker(c, { ...plan, tower: 3 })).toThrow(invalid);
    const identity = FusionMlp.fromOnnx(
      buildOnnxModel({
        inputs: [{ name: 'x', dims: ['batch', 4] }],
        outputs: [{ name: 'y', dims: ['batch', 4] }],
        nodes: [{ op: 'LpNormalization', inputs: ['x'], outputs: ['y'] }],
        opset: 17,
      }),
    );
    const request = (towerInput: unknown) => ({ queries: [], towerInput, now: 0, ruleRows: [], explain: false }) as never;
    const withTower = new rankNative.NativeRanker(c, { ...plan, tower: { model: nativeModelOf(identity), vector: 0 } });
    expect(() => withTower.rank(request(new Float32Array(3)))).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(() => withTower.rank(request([1, 2, 3, 4]))).toThrow(TypeError);
    expect(() => withTower.rank(request(new Float32Array(4)))).not.toThrow();
    expect(() => new rankNative.NativeRanker(c, plan).rank(request(new Float32Array(4)))).toThrow(invalid);
  });
});
