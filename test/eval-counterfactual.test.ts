// Counterfactual estimates: hand-computed estimators on tiny logs, and on a
// planted position-based model the IPS interval holds the closed-form truth
// (computed here from the planted θ and γ) while the naive one does not;
// propensities recovered from randomized logs and by EM.
import { describe, expect, it } from 'vitest';

import {
  applyRanking,
  counterfactual,
  estimatePropensities,
  expectedClickDcg,
  expectedClicks,
  simulateClicks,
  type CounterfactualResult,
} from '../src/eval/counterfactual.js';
import type { ImpressionLog, Run } from '../src/eval/types.js';
import { rng } from '../src/util/random.js';

const LOG2_3 = Math.log2(3);

function gauss(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function shuffle<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * A planted PBM: 40 queries x 10 docs, γ in [0.02, 0.9], θ_j = j^-0.8; the
 * logger ranks each impression by a noisy score 0.3γ + N(0, 0.3²), 100
 * impressions per query.
 */
function plantedWorld(seed: number) {
  const random = rng(seed);
  const gamma: Record<string, Record<string, number>> = {};
  for (let q = 0; q < 40; q++) {
    gamma[`q${q}`] = {};
    for (let d = 0; d < 10; d++) gamma[`q${q}`][`d${d}`] = 0.02 + 0.88 * random() ** 1.5;
  }
  const theta = Array.from({ length: 10 }, (_, j) => 1 / (j + 1) ** 0.8);
  const lists: { query: string; shown: string[] }[] = [];
  for (let t = 0; t < 100; t++)
    for (const q of Object.keys(gamma)) {
      const noisy: Record<string, number> = {};
      for (const d of Object.keys(gamma[q])) noisy[d] = 0.3 * gamma[q][d] + 0.3 * gauss(random);
      lists.push({ query: q, shown: Object.keys(noisy).sort((a, b) => noisy[b] - noisy[a]) });
    }
  const attractiveness = (q: string, d: string): number => gamma[q][d];
  return { gamma, theta, lists, attractiveness, random, logs: simulateClicks(lists, { theta, attractiveness, seed }) };
}

const world = plantedWorld(7);

describe('counterfactual on a planted position-based model (the issue)', () => {
  // The new ranking: by true attractiveness, far from the noisy logger.
  const newRanking: Run = world.gamma;
  const k = 5;
  // Truth in closed form, here: E[clicks@k] = Σ_{r ≤ k} θ_r γ(doc at r), mean over the logs.
  let truthClicks = 0;
  let truthDcg = 0;
  for (const log of world.logs) {
    const order = [...log.shown].sort((a, b) => world.gamma[log.query][b] - world.gamma[log.query][a]);
    for (let r = 0; r < k; r++) {
      truthClicks += world.theta[r] * world.gamma[log.query][order[r]];
      truthDcg += world.gamma[log.query][order[r]] / Math.log2(r + 2);
    }
  }
  truthClicks /= world.logs.length;
  truthDcg /= world.logs.length;
  const result = counterfactual(world.logs, newRanking, { propensities: world.theta, k });

  it('IPS holds the truth in its 95 % interval, the naive estimate does not', () => {
    const { ips, naive } = result.clicks;
    expect(ips.ci95[0]).toBeLessThanOrEqual(truthClicks);
    expect(ips.ci95[1]).toBeGreaterThanOrEqual(truthClicks);
    expect(naive.ci95[1]).toBeLessThan(truthClicks);
    // The naive bias is large here: the logger showed the attractive docs lower.
    expect(truthClicks - naive.estimate).toBeGreaterThan(0.3);
    expect(result.logs).toBe(4000);
    expect(result.k).toBe(5);
  });

  it('clickDcg@k: IPS (absolute θ) holds Σ γ/log2(1 + r), naive does not', () => {
    expect(result.clickDcg.ips.ci95[0]).toBeLessThanOrEqual(truthDcg);
    expect(result.clickDcg.ips.ci95[1]).toBeGreaterThanOrEqual(truthDcg);
    expect(result.clickDcg.naive.ci95[1]).toBeLessThan(truthDcg);
  });

  it('expectedClicks / expectedClickDcg of applyRanking(...) are that truth', () => {
    const lists = applyRanking(world.logs, newRanking);
    expect(expectedClicks(lists, world.theta, world.attractiveness, k)).toBeCloseTo(truthClicks, 12);
    expect(expectedClickDcg(lists, world.theta, world.attractiveness, k)).toBeCloseTo(truthDcg, 12);
  });

  it('a ranking function gives the same estimates as the Run', () => {
    const byFunction = counterfactual(
      world.logs,
      (log) => [...log.shown].sort((a, b) => world.gamma[log.query][b] - world.gamma[log.query][a]),
      { propensities: world.theta, k },
    );
    expect(byFunction).toEqual(result);
  });

  it('clipped IPS: clip below every θ is IPS; a higher clip shrinks the estimate', () => {
    expect(result.clicks.clippedIps).toEqual(result.clicks.ips); // default clip 0.1 < θ_10 ≈ 0.158
    const clipped = counterfactual(world.logs, newRanking, { propensities: world.theta, k, clip: 0.4 });
    expect(clipped.clicks.clippedIps.estimate).toBeLessThan(clipped.clicks.ips.estimate);
    expect(clipped.clickDcg.clippedIps.estimate).toBeLessThan(clipped.clickDcg.ips.estimate);
    expect(clipped.clicks.ips).toEqual(result.clicks.ips);
  });

  it('SNIPS is IPS over the mean importance weight of the logged clicks', () => {
    expect(result.meanImportanceWeight).toBeGreaterThan(1);
    expect(result.clicks.snips.estimate).toBeCloseTo(result.clicks.ips.estimate / result.meanImportanceWeight, 12);
    expect(result.clickDcg.snips.estimate).toBeCloseTo(result.clickDcg.ips.estimate / result.meanImportanceWeight, 12);
    let clicks = 0;
    for (const log of world.logs) clicks += log.clicks.length;
    expect(result.loggedClicks).toBeCloseTo(clicks / world.logs.length, 12);
  });

  it('the same seed gives the same intervals, another seed others', () => {
    const again = counterfactual(world.logs, newRanking, { propensities: world.theta, k, seed: 42 });
    expect(again).toEqual(result);
    const other = counterfactual(world.logs, newRanking, { propensities: world.theta, k, seed: 43 });
    expect(other.clicks.ips.estimate).toBe(result.clicks.ips.estimate);
    expect(other.clicks.ips.ci95).not.toEqual(result.clicks.ips.ci95);
  });
});

describe('counterfactual with estimated propensities', () => {
  // RandTop-10 sessions of the same world: 20 shuffled impressions per query.
  const randomized = (seed: number) => {
    const random = rng(seed);
    const lists = [];
    for (let t = 0; t < 20; t++) for (const q of Object.keys(world.gamma)) lists.push({ query: q, shown: shuffle(Object.keys(world.gamma[q]), random) });
    return simulateClicks(lists, { theta: world.theta, attractiveness: world.attractiveness, seed: seed + 1 });
  };
  const logs = world.logs.slice(0, 2000);
  const k = 5;
  const truth = expectedClicks(applyRanking(logs, world.gamma), world.theta, world.attractiveness, k);

  it('a randomized PropensityEstimate: the same point estimate as its theta, a wider interval that says so', () => {
    const estimate = estimatePropensities(randomized(100), { method: 'randomized' });
    const fixed = counterfactual(logs, world.gamma, { propensities: estimate.theta, k, bootstrap: 400 });
    const carried = counterfactual(logs, world.gamma, { propensities: estimate, k, bootstrap: 400 });
    expect(fixed.propensityError).toBe('ignored');
    expect(carried.propensityError).toBe('resampled');
    expect(carried.clicks.ips.estimate).toBe(fixed.clicks.ips.estimate);
    expect(carried.clicks.naive).toEqual(fixed.clicks.naive); // naive does not use θ
    const width = (e: { ci95: [number, number] }) => e.ci95[1] - e.ci95[0];
    expect(width(carried.clicks.ips)).toBeGreaterThan(1.3 * width(fixed.clicks.ips));
    // θ from EM is taken as exact.
    const em = estimatePropensities(logs, { method: 'em', iterations: 20 });
    expect(counterfactual(logs, world.gamma, { propensities: em, k, bootstrap: 50 }).propensityError).toBe('ignored');
  });

  it('coverage over 30 replications: intervals that carry θ’s error hold the truth about 95 % of the time, fixed θ much less', () => {
    let carried = 0;
    let fixed = 0;
    const runs = 30;
    for (let s = 0; s < runs; s++) {
      const estimate = estimatePropensities(randomized(1000 + 7 * s), { method: 'randomized' });
      const a = counterfactual(logs, world.gamma, { propensities: estimate, k, bootstrap: 300, seed: s }).clicks.ips.ci95;
      const b = counterfactual(logs, world.gamma, { propensities: estimate.theta, k, bootstrap: 300, seed: s }).clicks.ips.ci95;
      if (a[0] <= truth && truth <= a[1]) carried++;
      if (b[0] <= truth && truth <= b[1]) fixed++;
    }
    expect(carried / runs).toBeGreaterThanOrEqual(0.85);
    expect(fixed).toBeLessThan(carried);
  });
});

describe('propensity estimation', () => {
  it('randomized (RandTop-n) logs: θ_j/θ_1 = CTR_j/CTR_1 recovers the planted θ', () => {
    const shuffled = world.lists.map((l) => ({ query: l.query, shown: shuffle(l.shown, world.random) }));
    const logs = simulateClicks(shuffled, { theta: world.theta, attractiveness: world.attractiveness, seed: 11 });
    const est = estimatePropensities(logs, { method: 'randomized' });
    expect(est.theta[0]).toBe(1);
    expect(est.positions).toBe(10);
    for (let j = 0; j < 10; j++) expect(Math.abs(est.theta[j] - world.theta[j]), `position ${j + 1}`).toBeLessThan(0.05);
    expect(est.impressions[9]).toBe(4000);
    expect(est.iterations).toBe(0);
  });

  it('randomized: exact ratios on a hand-made log', () => {
    const logs = [
      { query: 'q', shown: ['a', 'b', 'c'], clicks: ['a'] },
      { query: 'q', shown: ['c', 'a', 'b'], clicks: ['c', 'a'] },
    ];
    const est = estimatePropensities(logs, { method: 'randomized' });
    expect(Array.from(est.theta)).toEqual([1, 0.5, 0]);
    expect(Array.from(est.clicks)).toEqual([2, 1, 0]);
    expect(Array.from(estimatePropensities(logs, { method: 'randomized', positions: 2 }).theta)).toEqual([1, 0.5]);
  });

  it('EM under the PBM recovers the planted θ from the noisy logger', () => {
    const est = estimatePropensities(world.logs, { method: 'em' });
    expect(est.converged).toBe(true);
    expect(est.theta[0]).toBe(1);
    for (let j = 0; j < 10; j++) expect(Math.abs(est.theta[j] - world.theta[j]), `position ${j + 1}`).toBeLessThan(0.05);
    expect(Number.isFinite(est.logLikelihood)).toBe(true);
    // θ_1 = 1 planted, so θ_1·γ is γ: close on average.
    let err = 0;
    let pairs = 0;
    for (const q of Object.keys(est.attractiveness!))
      for (const d of Object.keys(est.attractiveness![q])) {
        err += Math.abs(est.attractiveness![q][d] - world.gamma[q][d]);
        pairs++;
      }
    expect(pairs).toBe(400);
    expect(err / pairs).toBeLessThan(0.1);
  });

  it('regression EM (features → logistic γ) recovers θ and the planted link', () => {
    const logit = (p: number): number => Math.log(p / (1 - p));
    const est = estimatePropensities(world.logs, { method: 'em', features: (q, d) => [logit(world.gamma[q][d])] });
    for (let j = 0; j < 10; j++) expect(Math.abs(est.theta[j] - world.theta[j]), `position ${j + 1}`).toBeLessThan(0.05);
    // γ = σ(0 + 1·logit γ) planted, θ_1 = 1: the fit finds about (0, 1).
    expect(Math.abs(est.coefficients![0])).toBeLessThan(0.1);
    expect(Math.abs(est.coefficients![1] - 1)).toBeLessThan(0.1);
  });

  it('EM stops at iterations and reports it', () => {
    const est = estimatePropensities(world.logs.slice(0, 200), { method: 'em', iterations: 3 });
    expect(est.iterations).toBe(3);
    expect(est.converged).toBe(false);
  });
});

describe('estimators by hand', () => {
  // θ = [1, 0.5, 0.25]; the new ranking c, b, a; k = 2.
  const theta = [1, 0.5, 0.25];
  const logs: ImpressionLog[] = [
    { query: 'q', shown: ['a', 'b', 'c'], clicks: ['b'] }, // b: logged 2, new 2
    { query: 'q', shown: ['a', 'b', 'c'], clicks: ['a', 'c'] }, // a: logged 1, new 3 (out); c: logged 3, new 1
    { query: 'q', shown: ['c', 'a', 'b'], clicks: [] },
  ];
  const run: Run = { q: { c: 3, b: 2, a: 1 } };
  const r = counterfactual(logs, run, { propensities: theta, k: 2, clip: 0.5, bootstrap: 200 });

  it('clicks@k: naive, IPS, clipped, SNIPS', () => {
    expect(r.clicks.naive.estimate).toBeCloseTo(2 / 3, 12);
    // b: θ2/θ2 = 1; c: θ1/θ3 = 4.
    expect(r.clicks.ips.estimate).toBeCloseTo(5 / 3, 12);
    // c: θ1 / max(θ3, 0.5) = 2.
    expect(r.clicks.clippedIps.estimate).toBeCloseTo(1, 12);
    // weights of all 3 clicks: b 1, a θ3/θ1 = 0.25, c 4 → mean 1.75.
    expect(r.meanImportanceWeight).toBeCloseTo(1.75, 12);
    expect(r.clicks.snips.estimate).toBeCloseTo(5 / 3 / 1.75, 12);
    expect(r.loggedClicks).toBeCloseTo(1, 12);
  });

  it('clickDcg@k: naive, IPS, clipped, SNIPS', () => {
    expect(r.clickDcg.naive.estimate).toBeCloseTo((1 / LOG2_3 + 1) / 3, 12);
    expect(r.clickDcg.ips.estimate).toBeCloseTo((1 / LOG2_3 / 0.5 + 1 / 0.25) / 3, 12);
    expect(r.clickDcg.clippedIps.estimate).toBeCloseTo((1 / LOG2_3 / 0.5 + 1 / 0.5) / 3, 12);
    expect(r.clickDcg.snips.estimate).toBeCloseTo((1 / LOG2_3 / 0.5 + 1 / 0.25) / 3 / 1.75, 12);
  });

  it('intervals are ordered and bracket resampled means', () => {
    for (const metric of [r.clicks, r.clickDcg])
      for (const e of Object.values(metric)) {
        expect(e.ci95[0]).toBeLessThanOrEqual(e.ci95[1]);
        expect(Number.isFinite(e.ci95[0])).toBe(true);
      }
  });

  it('clip = 0 gives IPS exactly', () => {
    const zero = counterfactual(logs, run, { propensities: theta, k: 2, clip: 0, bootstrap: 200 });
    expect(zero.clicks.clippedIps).toEqual(zero.clicks.ips);
    expect(zero.clickDcg.clippedIps).toEqual(zero.clickDcg.ips);
  });

  it('the logged order itself: naive = IPS = SNIPS for clicks@k, weight 1', () => {
    const same = (x: CounterfactualResult): void => {
      expect(x.meanImportanceWeight).toBe(1);
      expect(x.clicks.ips.estimate).toBeCloseTo(x.clicks.naive.estimate, 12);
      expect(x.clicks.snips.estimate).toBeCloseTo(x.clicks.naive.estimate, 12);
    };
    same(counterfactual(logs, (log) => log.shown, { propensities: theta, k: 2 }));
    same(counterfactual(logs, {}, { propensities: theta, k: 2 })); // query absent: logged order
    // k = 2: a (logged 1) and b (logged 2) are in; c (logged 3) is not.
    expect(counterfactual(logs, {}, { propensities: theta, k: 2 }).clicks.naive.estimate).toBeCloseTo(2 / 3, 12);
  });

  it('propensities scale: clicks IPS and SNIPS unchanged, clickDcg IPS scales as 1/c', () => {
    const scaled = counterfactual(logs, run, { propensities: theta.map((t) => t * 4), k: 2, clip: 0, bootstrap: 200 });
    const plain = counterfactual(logs, run, { propensities: theta, k: 2, clip: 0, bootstrap: 200 });
    expect(scaled.clicks.ips.estimate).toBeCloseTo(plain.clicks.ips.estimate, 12);
    expect(scaled.clicks.snips.estimate).toBeCloseTo(plain.clicks.snips.estimate, 12);
    expect(scaled.clickDcg.ips.estimate).toBeCloseTo(plain.clickDcg.ips.estimate / 4, 12);
  });

  it('default k is 10 and a doc clicked twice counts once', () => {
    const twice = counterfactual([{ query: 'q', shown: ['a', 'b'], clicks: ['b', 'b'] }], { q: { b: 1 } }, { propensities: [1, 0.5] });
    expect(twice.k).toBe(10);
    expect(twice.clicks.naive.estimate).toBe(1);
    expect(twice.clicks.ips.estimate).toBe(2); // b moves from θ 0.5 to θ 1
    expect(twice.clip).toBe(0.1);
  });
});

describe('applyRanking', () => {
  it('Run: scored shown items in trec order (ties by id desc), unscored last in logged order', () => {
    const logs = [
      { query: 'q', shown: ['a', 'b', 'c', 'd', 'e'], clicks: [] },
      { query: 'other', shown: ['x', 'y'], clicks: [] },
    ];
    expect(applyRanking(logs, { q: { c: 1, e: 1, b: 2, zz: 9 } })).toEqual([
      { query: 'q', shown: ['b', 'e', 'c', 'a', 'd'] },
      { query: 'other', shown: ['x', 'y'] },
    ]);
  });
  it('function: its ids first, the rest in logged order', () => {
    expect(applyRanking([{ query: 'q', shown: ['a', 'b', 'c'], clicks: [] }], () => ['c'])).toEqual([{ query: 'q', shown: ['c', 'a', 'b'] }]);
  });
});

describe('simulator and closed-form truth', () => {
  it('simulateClicks: click rate at position j ≈ θ_j·γ, clicks ⊆ shown, seeded', () => {
    const theta = [0.9, 0.5, 0.2];
    const lists = Array.from({ length: 20000 }, () => ({ query: 'q', shown: ['a', 'b', 'c'] }));
    const logs = simulateClicks(lists, { theta, attractiveness: () => 0.6, seed: 3 });
    const rate = [0, 0, 0];
    for (const log of logs) for (const d of log.clicks) rate[log.shown.indexOf(d)] += 1 / logs.length;
    theta.forEach((t, j) => expect(Math.abs(rate[j] - t * 0.6)).toBeLessThan(0.015));
    expect(simulateClicks(lists.slice(0, 50), { theta, attractiveness: () => 0.6, seed: 3 })).toEqual(logs.slice(0, 50));
    expect(simulateClicks([{ query: 'q', shown: ['a'] }], { theta: [0], attractiveness: () => 1 })[0].clicks).toEqual([]);
    expect(simulateClicks([{ query: 'q', shown: ['a'] }], { theta: [1], attractiveness: () => 1 })[0].clicks).toEqual(['a']);
  });

  it('expectedClicks and expectedClickDcg by hand', () => {
    const g = (_: string, d: string): number => (d === 'a' ? 0.2 : 0.8);
    const lists = [
      { query: 'q', shown: ['a', 'b'] },
      { query: 'q', shown: ['b', 'a'] },
    ];
    expect(expectedClicks(lists.slice(0, 1), [1, 0.5], g, 2)).toBeCloseTo(0.2 + 0.5 * 0.8, 12);
    expect(expectedClicks(lists, [1, 0.5], g, 2)).toBeCloseTo((0.2 + 0.5 * 0.8 + 0.8 + 0.5 * 0.2) / 2, 12);
    expect(expectedClickDcg(lists.slice(0, 1), [1, 0.5], g, 2)).toBeCloseTo(0.2 + 0.8 / LOG2_3, 12);
    expect(expectedClicks(lists.slice(0, 1), [1], g, 1)).toBeCloseTo(0.2, 12);
    expect(expectedClicks(lists.slice(0, 1), [1, 0.5], g)).toBeCloseTo(0.6, 12); // default k = 10
  });
});

describe('bad input', () => {
  const logs: ImpressionLog[] = [
    { query: 'q', shown: ['a', 'b'], clicks: ['a'] },
    { query: 'q', shown: ['b', 'a'], clicks: [] },
  ];
  const opts = { propensities: [1, 0.5] };
  const code = (fn: () => unknown, c: string, message?: RegExp): void => {
    expect(fn).toThrow(expect.objectContaining({ code: c }));
    if (message) expect(fn).toThrow(message);
  };

  it('ERR_FUSIONRANK_EMPTY_INPUT: no log', () => {
    code(() => counterfactual([], {}, opts), 'ERR_FUSIONRANK_EMPTY_INPUT');
    code(() => estimatePropensities([], { method: 'em' }), 'ERR_FUSIONRANK_EMPTY_INPUT');
    code(() => estimatePropensities([{ query: 'q', shown: [], clicks: [] }], { method: 'em' }), 'ERR_FUSIONRANK_EMPTY_INPUT');
    code(() => expectedClicks([], [1], () => 0.5), 'ERR_FUSIONRANK_EMPTY_INPUT');
  });

  it('ERR_FUSIONRANK_INVALID_ARGUMENT: a click not in its shown list, naming the log', () => {
    const bad = [logs[0], { query: 'q', shown: ['a'], clicks: ['z'] }];
    code(() => counterfactual(bad, {}, opts), 'ERR_FUSIONRANK_INVALID_ARGUMENT', /logs\[1\]\.clicks\[0\]/);
    code(() => estimatePropensities(bad, { method: 'randomized' }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', /logs\[1\]\.clicks\[0\]/);
    code(() => counterfactual('logs' as unknown as ImpressionLog[], {}, opts), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => counterfactual([{ query: 1, shown: [], clicks: [] } as unknown as ImpressionLog], {}, opts), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  });

  it('propensities: ERR_FUSIONRANK_NON_FINITE, or ERR_FUSIONRANK_INVALID_ARGUMENT when ≤ 0 or too few', () => {
    code(() => counterfactual(logs, {}, { propensities: [1, NaN] }), 'ERR_FUSIONRANK_NON_FINITE', /options\.propensities\[1\]/);
    code(() => counterfactual(logs, {}, { propensities: [1, Infinity] }), 'ERR_FUSIONRANK_NON_FINITE');
    code(() => counterfactual(logs, {}, { propensities: [1, 0] }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => counterfactual(logs, {}, { propensities: [1, -0.5] }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => counterfactual(logs, {}, { propensities: [1] }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', /at least 2 values/);
    code(() => counterfactual(logs, {}, {} as typeof opts), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => counterfactual(logs, {}, { propensities: new Float64Array([1, 0.5]), clip: -1 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  });

  it('ERR_FUSIONRANK_INVALID_K: k ≤ 0 or not an integer', () => {
    code(() => counterfactual(logs, {}, { ...opts, k: 0 }), 'ERR_FUSIONRANK_INVALID_K');
    code(() => counterfactual(logs, {}, { ...opts, k: -3 }), 'ERR_FUSIONRANK_INVALID_K');
    code(() => counterfactual(logs, {}, { ...opts, k: 1.5 }), 'ERR_FUSIONRANK_INVALID_K');
    code(() => expectedClicks([{ query: 'q', shown: ['a'] }], [1], () => 0.5, 0), 'ERR_FUSIONRANK_INVALID_K');
  });

  it('ERR_FUSIONRANK_DUPLICATE_DOC: an id twice in a shown list or a ranking', () => {
    const dup = [{ query: 'q', shown: ['a', 'b', 'a'], clicks: [] }];
    code(() => counterfactual(dup, {}, { propensities: [1, 1, 1] }), 'ERR_FUSIONRANK_DUPLICATE_DOC', /logs\[0\]\.shown\[2\]/);
    code(() => estimatePropensities(dup, { method: 'em' }), 'ERR_FUSIONRANK_DUPLICATE_DOC');
    code(() => simulateClicks(dup, { theta: [1, 1, 1], attractiveness: () => 1 }), 'ERR_FUSIONRANK_DUPLICATE_DOC');
    code(() => counterfactual(logs, () => ['a', 'a'], opts), 'ERR_FUSIONRANK_DUPLICATE_DOC');
  });

  it('a ranking naming an unshown id, or a non-finite run score', () => {
    code(() => counterfactual(logs, (log) => (log.shown[0] === 'b' ? ['zz'] : []), opts), 'ERR_FUSIONRANK_INVALID_ARGUMENT', /ranking\(logs\[1\]\)\[0\]/);
    code(() => counterfactual(logs, { q: { a: NaN } }, opts), 'ERR_FUSIONRANK_NON_FINITE');
  });

  it('estimatePropensities options', () => {
    code(() => estimatePropensities(logs, { method: 'cascade' as 'em' }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => estimatePropensities(logs, { method: 'em', positions: 3 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => estimatePropensities(logs, { method: 'em', iterations: 0 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => estimatePropensities([{ query: 'q', shown: ['a', 'b'], clicks: ['b'] }], { method: 'randomized' }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', /position 1/);
    code(() => estimatePropensities(logs, { method: 'em', features: (_, d) => (d === 'a' ? [1] : [1, 2]) }), 'ERR_FUSIONRANK_LENGTH_MISMATCH');
    code(() => estimatePropensities(logs, { method: 'em', features: () => [NaN] }), 'ERR_FUSIONRANK_NON_FINITE');
  });

  it('simulator: probabilities in [0, 1]', () => {
    const lists = [{ query: 'q', shown: ['a'] }];
    code(() => simulateClicks(lists, { theta: [1.5], attractiveness: () => 0.5 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => simulateClicks(lists, { theta: [1], attractiveness: () => 2 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => simulateClicks(lists, { theta: [1], attractiveness: () => NaN }), 'ERR_FUSIONRANK_NON_FINITE');
    code(() => simulateClicks(lists, { theta: [], attractiveness: () => 0.5 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  });
});
