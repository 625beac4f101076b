// Fitted late-fusion weights on planted data: the labels come from a Ranker
// built with known ("planted") weights, so what the fit should recover is
// known without reference to the code under test.
import { describe, expect, it } from 'vitest';

import { Catalog, evaluateRanker, Ranker, type RankerOptions, type RankRequest } from '../src/index.js';
import { simulateClicks, type ImpressionLog, type Qrels } from '../src/eval/index.js';
import { fitWeights } from '../src/learn/index.js';
import { fusedRankings } from '../src/learn/weights.js';
import { randomVectors, rng } from '../src/util/random.js';

const N = 300;
const DIM = 8;
const QUERIES = 100;
const T0 = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;
const PLANTED = { text: 0.6, visual: 0.3, likes: 0.1 };
const WRONG = { text: 0.1, visual: 0.1, likes: 0.8 };

function plantedCatalog(): Catalog {
  const random = rng(7);
  const text = randomVectors(N, DIM, random);
  const visual = randomVectors(N, DIM, random);
  const catalog = new Catalog({ vectors: { text: { dim: DIM }, visual: { dim: DIM } }, fields: { likes: 'number' } });
  catalog.upsert(
    Array.from({ length: N }, (_, i) => ({
      id: `p${String(i).padStart(3, '0')}`,
      vectors: { text: text.subarray(i * DIM, (i + 1) * DIM), visual: visual.subarray(i * DIM, (i + 1) * DIM) },
      fields: { likes: random() },
    })),
  );
  return catalog;
}

function options(weights: Record<string, number>, k = 10): RankerOptions {
  return {
    retrieve: { exact: true },
    signals: {
      text: { kind: 'similarity', vector: 'text', weight: weights.text },
      visual: { kind: 'similarity', vector: 'visual', weight: weights.visual },
      likes: { kind: 'field', field: 'likes', weight: weights.likes },
    },
    normalize: 'minmax',
    k,
  };
}

/** Requests q000…q099, one hour apart (q099 the latest). */
function plantedRequests(): Record<string, RankRequest> {
  const random = rng(11);
  const out: Record<string, RankRequest> = {};
  for (let i = 0; i < QUERIES; i++)
    out[`q${String(i).padStart(3, '0')}`] = { query: { text: randomVectors(1, DIM, random), visual: randomVectors(1, DIM, random) }, now: T0 + i * HOUR };
  return out;
}

/** Graded labels from the planted ranker's top 20: ranks 1–3 → 3, 4–10 → 2, 11–20 → 1. */
function plantedQrels(catalog: Catalog, requests: Record<string, RankRequest>): Qrels {
  const truth = new Ranker(catalog, options(PLANTED, 20));
  const qrels: Qrels = {};
  for (const [q, request] of Object.entries(requests)) {
    qrels[q] = {};
    truth.rank(request).items.forEach((item, r) => (qrels[q][item.id] = r < 3 ? 3 : r < 10 ? 2 : 1));
  }
  return qrels;
}

const l1 = (a: Record<string, number>, b: Record<string, number>) => Object.keys(b).reduce((sum, k) => sum + Math.abs(a[k] - b[k]), 0);

const catalog = plantedCatalog();
const requests = plantedRequests();
const qrels = plantedQrels(catalog, requests);

describe('fitWeights: coordinate ascent on planted qrels', () => {
  it('recovers the planted weights and beats a wrong weighting on the held-out (latest) queries', async () => {
    const fit = await fitWeights({ catalog, options: options(WRONG) }, requests, qrels, { metric: 'ndcg@10', pool: N });
    expect(fit.method).toBe('coordinate-ascent');
    expect(fit.labels).toBe('qrels');
    expect(fit.current).toEqual(WRONG);
    expect(Object.values(fit.weights).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(l1(fit.weights, PLANTED)).toBeLessThan(0.1);
    // Time split: the latest 20 % (q080…q099) held out.
    expect(fit.split.by).toBe('time');
    expect(fit.split.test).toEqual(Array.from({ length: 20 }, (_, i) => `q0${80 + i}`));
    expect(fit.split.train).toHaveLength(80);
    expect(fit.test.fitted).toBeGreaterThan(fit.test.current + 0.2);
    expect(fit.test.paired.n).toBe(20);
    expect(fit.test.paired.delta).toBeCloseTo(fit.test.fitted - fit.test.current, 12);
    expect(fit.test.paired.pRandomization).toBeLessThan(0.05);
    expect(fit.test.paired.ci95[0]).toBeGreaterThan(0);
    expect(fit.pool).toEqual({ size: N, depth: 10, truncated: 0, meanCandidates: N });
    expect(fit.warnings).toEqual([]);
    // The options with the fitted weights build a Ranker whose held-out metric is the one reported.
    expect(fit.options!.signals.text.weight).toBe(fit.weights.text);
    const test = Object.fromEntries(fit.split.test.map((q) => [q, requests[q]]));
    const fitted = await evaluateRanker(new Ranker(catalog, fit.options!), test, qrels, { metrics: ['ndcg@10'] });
    const current = await evaluateRanker(new Ranker(catalog, options(WRONG)), test, qrels, { metrics: ['ndcg@10'] });
    expect(fitted.mean['ndcg@10']).toBeCloseTo(fit.test.fitted, 12);
    expect(current.mean['ndcg@10']).toBeCloseTo(fit.test.current, 12);
    // History: the train metric never decreases within a restart.
    for (let i = 1; i < fit.history.length; i++)
      if (fit.history[i].restart === fit.history[i - 1].restart) expect(fit.history[i].value).toBeGreaterThanOrEqual(fit.history[i - 1].value);
  });

  it('a Ranker target: weights read back from its explanations, same fit', async () => {
    const byOptions = await fitWeights({ catalog, options: options(WRONG) }, requests, qrels, { pool: N, restarts: 1 });
    const byRanker = await fitWeights(new Ranker(catalog, options(WRONG)), requests, qrels, { pool: N, restarts: 1 });
    for (const [name, w] of Object.entries(WRONG)) expect(byRanker.current[name]).toBeCloseTo(w, 5);
    expect(byRanker.options).toBeUndefined();
    expect(byRanker.test.current).toBeCloseTo(byOptions.test.current, 12);
    expect(byRanker.train.fitted).toBeCloseTo(byOptions.train.fitted, 6);
  });
});

describe('re-scoring the cached pool equals ranking with the weights', () => {
  it('gives the order of a Ranker built with those weights, for several weight vectors', async () => {
    const some = Object.fromEntries(Object.entries(requests).slice(0, 15));
    const random = rng(3);
    const vectors = [PLANTED, WRONG, { text: 1, visual: 0, likes: 0 }, ...Array.from({ length: 4 }, () => ({ text: random(), visual: random(), likes: random() }))];
    for (const weights of vectors) {
      const orders = await fusedRankings({ catalog, options: options(WRONG, 25) }, some, weights, { pool: N });
      const ranker = new Ranker(catalog, options(weights, 25));
      for (const [q, request] of Object.entries(some)) expect(orders[q]).toEqual(ranker.rank(request).items.map((item) => item.id));
    }
  });

  it('with missing signals under renormalize, zero and a default, and a cold-start blend', async () => {
    const c = new Catalog({ vectors: { text: { dim: 2 }, visual: { dim: 2 } }, fields: { likes: 'number', interactions: 'number' } });
    const random = rng(5);
    c.upsert(
      Array.from({ length: 40 }, (_, i) => ({
        id: `d${i}`,
        // every third item has no visual vector, every fifth no likes
        vectors: i % 3 === 0 ? { text: randomVectors(1, 2, random) } : { text: randomVectors(1, 2, random), visual: randomVectors(1, 2, random) },
        fields: { ...(i % 5 === 0 ? {} : { likes: random() }), interactions: Math.floor(random() * 50) },
      })),
    );
    const base: RankerOptions = {
      retrieve: { vector: 'text', exact: true },
      signals: {
        text: { kind: 'similarity', vector: 'text', weight: 0.5 },
        visual: { kind: 'similarity', vector: 'visual', weight: 0.3 },
        likes: { kind: 'field', field: 'likes', weight: 0.2 },
      },
      k: 40,
    };
    const req = { a: { query: { text: Float32Array.of(1, 0), visual: Float32Array.of(0, 1) } }, b: { query: { text: Float32Array.of(-0.3, 1), visual: Float32Array.of(1, 1) } } };
    const variants: RankerOptions[] = [
      base,
      { ...base, missing: 'zero' },
      { ...base, missing: { default: 0.25 } },
      { ...base, normalize: 'rank', blend: { content: ['text', 'visual'], behavior: ['likes'], byField: 'interactions', k: 10 } },
    ];
    for (const ro of variants)
      for (const weights of [{ text: 0.2, visual: 0.7, likes: 0.1 }, { text: 0.05, visual: 0.15, likes: 0.8 }]) {
        const orders = await fusedRankings({ catalog: c, options: ro }, req, weights, { pool: 40 });
        const ranker = new Ranker(c, { ...ro, signals: Object.fromEntries(Object.entries(ro.signals).map(([n, s]) => [n, { ...s, weight: weights[n as keyof typeof weights] }])) as RankerOptions['signals'] });
        for (const [q, request] of Object.entries(req)) expect(orders[q]).toEqual(ranker.rank(request).items.map((item) => item.id));
      }
  });
});

describe('fitWeights: logistic', () => {
  it('recovers the ordering of the planted weights', async () => {
    const fit = await fitWeights({ catalog, options: options(WRONG) }, requests, qrels, { method: 'logistic', pool: N });
    expect(fit.method).toBe('logistic');
    expect(fit.weights.text).toBeGreaterThan(fit.weights.visual);
    expect(fit.weights.visual).toBeGreaterThan(fit.weights.likes);
    expect(fit.test.fitted).toBeGreaterThan(fit.test.current);
    expect(fit.test.paired.pRandomization).toBeLessThan(0.05);
    // Newton's loss goes down.
    for (let i = 1; i < fit.history.length; i++) expect(fit.history[i].value).toBeLessThanOrEqual(fit.history[i - 1].value);
  });
});

describe('splits', () => {
  // Five hand-made requests whose times are not in id order.
  const small = Object.fromEntries(Object.entries(requests).slice(0, 5));
  const times: Record<string, number> = { q000: 50, q001: 10, q002: 40, q003: 20, q004: 30 };
  const timed = Object.fromEntries(Object.entries(small).map(([q, r]) => [q, { ...r, now: new Date(T0 + times[q] * HOUR) }]));

  it('time: the latest requests are held out (by now, or by a time function)', async () => {
    const byNow = await fitWeights({ catalog, options: options(WRONG) }, timed, qrels, { split: { by: 'time', testFraction: 0.4 }, restarts: 1 });
    expect(byNow.split).toEqual({ by: 'time', train: ['q001', 'q003', 'q004'], test: ['q002', 'q000'] });
    const byFn = await fitWeights({ catalog, options: options(WRONG) }, small, qrels, { split: { by: 'time', testFraction: 0.4, time: (q) => -times[q] }, restarts: 1 });
    expect(byFn.split).toEqual({ by: 'time', train: ['q000', 'q002', 'q004'], test: ['q003', 'q001'] });
  });

  it('random (seeded) and explicit', async () => {
    const a = await fitWeights({ catalog, options: options(WRONG) }, small, qrels, { split: { by: 'random', testFraction: 0.4, seed: 1 }, restarts: 1 });
    const b = await fitWeights({ catalog, options: options(WRONG) }, small, qrels, { split: { by: 'random', testFraction: 0.4, seed: 1 }, restarts: 1 });
    expect(a.split.test).toHaveLength(2);
    expect(a.split).toEqual(b.split);
    expect([...a.split.train, ...a.split.test].sort()).toEqual(Object.keys(small));
    const c = await fitWeights({ catalog, options: options(WRONG) }, small, qrels, { split: { train: ['q000', 'q001', 'q002'], test: ['q004'] }, restarts: 1 });
    expect(c.split).toEqual({ by: 'explicit', train: ['q000', 'q001', 'q002'], test: ['q004'] });
    expect(c.test.paired.n).toBe(1);
  });
});

describe('fitWeights from click logs: IPS against naive clicks', () => {
  it('IPS-weighted clicks give weights closer to the planted ones than raw clicks', async () => {
    // The logger ranks by the wrong weights and shows its top 20; users click under
    // a position-based model with θ_j = 1/j and attractiveness rising steeply with
    // the planted fused score.
    const logger = new Ranker(catalog, options(WRONG, 20));
    const truth = new Ranker(catalog, options(PLANTED, N));
    const fused = new Map<string, Map<string, number>>();
    const lists: { query: string; shown: string[] }[] = [];
    for (const [q, request] of Object.entries(requests)) {
      fused.set(q, new Map(truth.rank({ ...request, explain: true }).items.map((item) => [item.id, item.fused!])));
      const shown = logger.rank(request).items.map((item) => item.id);
      for (let session = 0; session < 30; session++) lists.push({ query: q, shown });
    }
    const theta = Array.from({ length: 20 }, (_, j) => 1 / (j + 1));
    const logs: ImpressionLog[] = simulateClicks(lists, { theta, attractiveness: (q, d) => Math.min(1, 0.02 + 0.98 * fused.get(q)!.get(d)! ** 6), seed: 9 });
    const clicks = logs.reduce((n, l) => n + l.clicks.length, 0);
    // Both fits start from uniform weights, not from the logger's.
    const target = { catalog, options: options({ text: 1 / 3, visual: 1 / 3, likes: 1 / 3 }) };
    const naive = await fitWeights(target, requests, logs, { pool: N });
    const ips = await fitWeights(target, requests, logs, { pool: N, propensities: theta });
    expect(naive.labels).toBe('clicks');
    expect(naive.warnings[0]).toMatch(/no propensities/);
    expect(ips.labels).toBe('ips-clicks');
    expect(ips.pool.meanCandidates).toBe(20); // the logged lists are what is reordered
    expect(l1(ips.weights, PLANTED)).toBeLessThan(0.2);
    expect(l1(naive.weights, PLANTED)).toBeGreaterThan(0.5);
    // Naive clicks pull towards the logger's favourite signal.
    expect(naive.weights.likes).toBeGreaterThan(ips.weights.likes);
  });
});

describe('bad input', () => {
  const target = { catalog, options: options(WRONG) };
  const code = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (error) {
      return (error as { code?: string }).code;
    }
    return 'no error';
  };

  it('requests without qrels: a coded error naming them, or skipped on request', async () => {
    const partial = { ...qrels };
    delete partial.q003;
    delete partial.q007;
    await expect(fitWeights(target, requests, partial)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_MISSING_LABELS', message: expect.stringMatching(/2 of 100 requests have no qrels: "q003", "q007"/) });
    const skipped = await fitWeights(target, requests, partial, { missingLabels: 'skip', restarts: 1, pool: N });
    expect(skipped.split.train.length + skipped.split.test.length).toBe(98);
    expect(skipped.warnings.join('\n')).toMatch(/2 requests without qrels skipped/);
  });

  it('empty requests, an unknown metric, a bad split', async () => {
    expect(await code(fitWeights(target, {}, qrels))).toBe('ERR_FUSIONRANK_EMPTY_INPUT');
    expect(await code(fitWeights(target, requests, qrels, { metric: 'ndcg@ten' }))).toBe('ERR_FUSIONRANK_INVALID_K');
    expect(await code(fitWeights(target, requests, qrels, { metric: 'bleu' }))).toBe('ERR_FUSIONRANK_INVALID_METRIC');
    expect(await code(fitWeights(target, requests, qrels, { method: 'lambdamart' as 'logistic' }))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await code(fitWeights(target, requests, qrels, { split: { by: 'time', testFraction: 1 } }))).toBe('ERR_FUSIONRANK_INVALID_SPLIT');
    expect(await code(fitWeights(target, requests, qrels, { split: { by: 'random', testFraction: 0 } }))).toBe('ERR_FUSIONRANK_INVALID_SPLIT');
    expect(await code(fitWeights(target, requests, qrels, { split: 'weekly' as 'time' }))).toBe('ERR_FUSIONRANK_INVALID_SPLIT');
    expect(await code(fitWeights(target, requests, qrels, { split: { train: ['q000'], test: ['q000'] } }))).toBe('ERR_FUSIONRANK_INVALID_SPLIT');
    expect(await code(fitWeights(target, requests, qrels, { split: { train: ['q000'], test: ['nope'] } }))).toBe('ERR_FUSIONRANK_INVALID_SPLIT');
    expect(await code(fitWeights(target, { q000: requests.q000 }, qrels))).toBe('ERR_FUSIONRANK_INVALID_SPLIT');
    const untimed = { ...requests, q005: { query: requests.q005.query } };
    await expect(fitWeights(target, untimed, qrels)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_SPLIT', message: expect.stringMatching(/"q005"/) });
  });

  it('negative, zero, NaN or too few propensities', async () => {
    const logs = [{ query: 'q000', shown: ['p001', 'p002'], clicks: ['p002'] }, { query: 'q001', shown: ['p003'], clicks: [] }];
    const two = { q000: requests.q000, q001: requests.q001 };
    expect(await code(fitWeights(target, two, logs, { propensities: [1, -0.5] }))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await code(fitWeights(target, two, logs, { propensities: [1, 0] }))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await code(fitWeights(target, two, logs, { propensities: [1, NaN] }))).toBe('ERR_FUSIONRANK_NON_FINITE');
    expect(await code(fitWeights(target, two, logs, { propensities: [1] }))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await code(fitWeights(target, two, [], {}))).toBe('ERR_FUSIONRANK_EMPTY_INPUT');
    expect(await code(fitWeights(target, { ...two, q002: requests.q002 }, logs, { propensities: [1, 0.5] }))).toBe('ERR_FUSIONRANK_MISSING_LABELS');
    expect(await code(fitWeights(target, two, [{ query: 'q000', shown: ['a'], clicks: ['b'] }]))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
  });

  it('a ranker that reorders after fusion is refused unless allowPostFusion', async () => {
    const mmr: RankerOptions = { ...options(WRONG), diversity: { mmr: { vector: 'visual', lambda: 0.5 } } };
    await expect(fitWeights({ catalog, options: mmr }, requests, qrels)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNSUPPORTED_RANKER', message: expect.stringMatching(/diversity/) });
    await expect(fitWeights(new Ranker(catalog, mmr), requests, qrels, { pool: 50 })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNSUPPORTED_RANKER' });
    const allowed = await fitWeights({ catalog, options: mmr }, requests, qrels, { allowPostFusion: true, restarts: 1, pool: N });
    expect(allowed.warnings.join('\n')).toMatch(/fused order/);
    expect(allowed.options!.diversity).toEqual(mmr.diversity);
  });

  it('bad target, labels and options', async () => {
    expect(await code(fitWeights(null as never, requests, qrels))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await code(fitWeights(target, requests, { q000: { p001: NaN } }))).toBe('ERR_FUSIONRANK_NON_FINITE');
    expect(await code(fitWeights(target, requests, qrels, { pool: 5 }))).toBe('ERR_FUSIONRANK_INVALID_K');
    expect(await code(fitWeights(target, requests, qrels, { restarts: 0 }))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(await code(fitWeights(target, requests, qrels, { propensities: [1, 0.5] }))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
  });
});
