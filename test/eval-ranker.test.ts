// The Ranker in the evaluation loop: every expected value is worked out by
// hand from the geometry of a four-item catalog (angles of 2-d vectors), not
// by the code under test.
import { describe, expect, test } from 'vitest';

import { ablate, Catalog, evaluateRanker, Ranker, type RankerOptions } from '../src/index.js';

const deg = (a: number) => Float32Array.of(Math.cos((a * Math.PI) / 180), Math.sin((a * Math.PI) / 180));
// Angles to the query (1, 0): cosine order a > b > c > d.
const ANGLES = { a: 10, b: 30, c: 60, d: 80 } as const;
// likes: order c > d > b > a.
const LIKES = { a: 0, b: 0.2, c: 0.9, d: 0.8 } as const;

function catalog(): Catalog {
  const c = new Catalog({ vectors: { visual: { dim: 2 } }, fields: { likes: 'number' } });
  c.upsert(Object.entries(ANGLES).map(([id, angle]) => ({ id, vectors: { visual: deg(angle) }, fields: { likes: LIKES[id as keyof typeof LIKES] } })));
  return c;
}

const visualOnly: RankerOptions = { retrieve: { exact: true }, signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 } }, normalize: 'none', k: 4 };
const both: RankerOptions = {
  retrieve: { exact: true },
  signals: {
    visual: { kind: 'similarity', vector: 'visual', weight: 0.5 },
    likes: { kind: 'field', field: 'likes', weight: 0.5 },
  },
  normalize: 'minmax',
  k: 4,
};
const query = { visual: deg(0) };
const log2 = Math.log2;

describe('evaluateRanker', () => {
  test('scores the ranker\'s order against the qrels (hand-computed metrics)', async () => {
    const ranker = new Ranker(catalog(), visualOnly);
    // q1 ranks a, b, c, d; relevant: b (1) and d (2).
    const result = await evaluateRanker(ranker, { q1: { query } }, { q1: { b: 1, d: 2 } }, { metrics: ['P@2', 'mrr', 'ndcg'] });
    expect(Object.keys(result.run.q1)).toHaveLength(4);
    expect(result.mean['P@2']).toBeCloseTo(0.5, 12);
    expect(result.mean.mrr).toBeCloseTo(0.5, 12);
    const dcg = 1 / log2(3) + 2 / log2(5);
    const idcg = 2 / log2(2) + 1 / log2(3);
    expect(result.mean.ndcg).toBeCloseTo(dcg / idcg, 12);
    // The positional run keeps the ranker's order; the raw scores are the cosines.
    expect(result.scores.q1.a).toBeCloseTo(Math.cos((10 * Math.PI) / 180), 5);
    expect(result.timings.rankMs).toBeGreaterThan(0);
  });

  test('the async path (rankAsync, several in flight) gives the same evaluation', async () => {
    const ranker = new Ranker(catalog(), visualOnly);
    const requests = { q1: { query }, q2: { query: { visual: deg(90) } } };
    const qrels = { q1: { b: 1 }, q2: { c: 1 } };
    const sync = await evaluateRanker(ranker, requests, qrels, { metrics: ['mrr'] });
    const async = await evaluateRanker(ranker, requests, qrels, { metrics: ['mrr'], concurrency: 2 });
    // q1: b second → 1/2; q2 (query at 90°) ranks d, c, b, a → c second → 1/2.
    expect(sync.perQuery.mrr).toEqual({ q1: 0.5, q2: 0.5 });
    expect(async.perQuery.mrr).toEqual(sync.perQuery.mrr);
  });

  test('slices by query and by item', async () => {
    const ranker = new Ranker(catalog(), visualOnly);
    const requests = { q1: { query }, q2: { query: { visual: deg(90) } } };
    const qrels = { q1: { a: 1, d: 1 }, q2: { a: 1 } };
    const result = await evaluateRanker(ranker, requests, qrels, {
      metrics: ['mrr'],
      slices: {
        onlyQ2: { queries: (q) => q === 'q2' },
        farItems: { items: (id) => id === 'c' || id === 'd' },
        nothing: { queries: () => false },
      },
    });
    // Overall: q1 → a first (1); q2 ranks d, c, b, a → a fourth (1/4).
    expect(result.perQuery.mrr).toEqual({ q1: 1, q2: 0.25 });
    expect(result.slices.onlyQ2).toMatchObject({ queries: 1, mean: { mrr: 0.25 } });
    // Items c and d only: q1 ranks c, d with d relevant → 1/2; q2 keeps no judged item.
    expect(result.slices.farItems.queries).toBe(1);
    expect(result.slices.farItems.mean.mrr).toBeCloseTo(0.5, 12);
    expect(result.slices.nothing).toEqual({ mean: {}, perQuery: {}, queries: 0 });
  });

  test('bad input has codes', async () => {
    const ranker = new Ranker(catalog(), visualOnly);
    await expect(evaluateRanker(ranker, {}, { q: { a: 1 } }, { metrics: ['mrr'] })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_EMPTY_INPUT' });
    await expect(evaluateRanker({} as Ranker, { q: {} }, { q: { a: 1 } }, { metrics: ['mrr'] })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    await expect(evaluateRanker(ranker, { q: { query } }, { q: { a: 1 } }, { metrics: ['nope@3'] })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_METRIC' });
    await expect(evaluateRanker(ranker, { q: { query } }, { other: { a: 1 } }, { metrics: ['mrr'] })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_NO_COMMON_QUERIES' });
    await expect(evaluateRanker(ranker, { q: { query } }, { q: { a: 1 } }, { metrics: ['mrr'], slices: { s: {} as never } })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    await expect(evaluateRanker(ranker, { q: { query } }, { q: { a: 1 } }, { metrics: ['mrr'], concurrency: 0 })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
  });
});

describe('ablate', () => {
  // Min-max normalised signals over the four items.
  const cos = Object.fromEntries(Object.entries(ANGLES).map(([id, a]) => [id, Math.cos((a * Math.PI) / 180)]));
  const [cmin, cmax] = [cos.d, cos.a];
  const nv = (id: string) => (cos[id] - cmin) / (cmax - cmin);
  const nl = (id: string) => (LIKES[id as keyof typeof LIKES] - 0) / (0.9 - 0);

  test('one signal removed, one modality missing: metrics, paired deltas, agreement, contribution shares', async () => {
    // Relevant: c only. Full ranking by 0.5·nv + 0.5·nl: c (.701), b (.537), a (.5), d (.444).
    const fused = (id: string) => 0.5 * nv(id) + 0.5 * nl(id);
    const fullOrder = ['a', 'b', 'c', 'd'].sort((x, y) => fused(y) - fused(x));
    expect(fullOrder).toEqual(['c', 'b', 'a', 'd']);
    const result = await ablate(catalog(), both, { q1: { query } }, { q1: { c: 1 } }, { metrics: ['mrr'], vectors: ['visual'], permutations: 100 });

    expect(result.full.perQuery.mrr.q1).toBe(1);
    const byName = Object.fromEntries(result.variants.map((v) => [v.name, v]));
    expect(Object.keys(byName).sort()).toEqual(['-likes', '-visual', 'no visual query']);
    // Without likes: cosine order a, b, c, d → c third.
    expect(byName['-likes'].mean.mrr).toBeCloseTo(1 / 3, 12);
    expect(byName['-likes'].paired.mrr.delta).toBeCloseTo(1 / 3 - 1, 12);
    expect(byName['-likes'].paired.mrr.losses).toBe(1);
    // Without visual, and with no visual query (signal missing for every item,
    // weights renormalised): likes order c, d, b, a → c first.
    expect(byName['-visual'].mean.mrr).toBe(1);
    expect(byName['no visual query'].mean.mrr).toBe(1);
    expect(byName['no visual query'].paired.mrr.ties).toBe(1);
    // Agreement with the full ranking c, b, a, d: likes order c, d, b, a shares the top item.
    expect(byName['-visual'].agreement.top1).toBe(1);
    expect(byName['-likes'].agreement.top1).toBe(0);
    expect(byName['-visual'].agreement.overlap).toBe(1); // the same four items

    const sv = ['a', 'b', 'c', 'd'].reduce((s, id) => s + 0.5 * nv(id), 0);
    const sl = ['a', 'b', 'c', 'd'].reduce((s, id) => s + 0.5 * nl(id), 0);
    expect(result.contributionShare.visual).toBeCloseTo(sv / (sv + sl), 5);
    expect(result.contributionShare.likes).toBeCloseTo(sl / (sv + sl), 5);
  });

  test('unknown names have codes', async () => {
    await expect(ablate(catalog(), both, { q1: { query } }, { q1: { c: 1 } }, { metrics: ['mrr'], signals: ['nope'] })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNKNOWN_SIGNAL' });
    await expect(ablate(catalog(), both, { q1: { query } }, { q1: { c: 1 } }, { metrics: ['mrr'], vectors: ['nope'] })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR' });
  });
});
