// Agreement between rankings: expected values from scipy (kendalltau,
// spearmanr, pearsonr) and an independent Python RBO_ext
// (scripts/fixtures/eval_stats.py → test/fixtures/eval/agreement-cases.json),
// plus hand-worked RBO values and closed forms.
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { agreement } from '../src/eval/agreement.js';
import type { AgreementOptions, AgreementValues, Run } from '../src/eval/types.js';

type Expected = Record<keyof AgreementValues, number | null>;
interface AgreementCase {
  name: string;
  runA: Run;
  runB: Run;
  options: AgreementOptions;
  queries: number;
  mean: Expected;
  perQuery: Record<string, Expected>;
}

const cases = (JSON.parse(readFileSync(new URL('./fixtures/eval/agreement-cases.json', import.meta.url), 'utf8')) as { cases: AgreementCase[] }).cases;
const MEASURES = ['kendallTau', 'spearman', 'rbo', 'overlap', 'top1', 'positionsMoved', 'scoreCorrelation'] as const;

function expectValues(actual: AgreementValues, expected: Expected): void {
  for (const m of MEASURES) {
    const e = expected[m];
    if (e === null) expect(actual[m], m).toBeNaN();
    else expect(Math.abs(actual[m] - e), `${m}: ${actual[m]} vs ${e}`).toBeLessThanOrEqual(1e-12);
  }
}

function codeOf(fn: () => unknown): { code: unknown; kind: string } {
  try {
    fn();
  } catch (error) {
    return { code: (error as { code?: unknown }).code, kind: (error as Error).constructor.name };
  }
  throw new Error('did not throw');
}

/** A one-query run whose scores rank `docs` in the given order. */
const ranked = (...docs: string[]): Run => ({ q: Object.fromEntries(docs.map((d, i) => [d, docs.length - i])) });

describe('agreement: against scipy and a Python RBO_ext', () => {
  it.each(cases.map((c) => [c.name, JSON.stringify(c.options), c] as const))('%s %s', (_, __, c) => {
    const r = agreement(c.runA, c.runB, c.options);
    expect(r.queries).toBe(c.queries);
    expect(Object.keys(r.perQuery).sort()).toEqual(Object.keys(c.perQuery).sort());
    for (const q of Object.keys(c.perQuery)) expectValues(r.perQuery[q], c.perQuery[q]);
    expectValues(r, c.mean);
  });
});

describe('agreement: worked values and closed forms', () => {
  it('RBO_ext, even lists: S = abc, T = acb, p = 0.5 gives 7/8', () => {
    // (X3/3)p^3 + (1−p)/p · (X1/1 p + X2/2 p² + X3/3 p³) = 1/8 + (1/2 + 1/8 + 1/8)
    expect(agreement(ranked('a', 'b', 'c'), ranked('a', 'c', 'b'), { p: 0.5 }).rbo).toBeCloseTo(0.875, 14);
  });

  it('RBO_ext, uneven lists: L = abcd, S = ba, p = 0.5 gives 1/2', () => {
    // X = 0, 2, 2, 2; Σ X_d/d p^d = 1/4 + 1/12 + 1/32; Σ_{d>s} X_s(d−s)/(sd) p^d = 1/24 + 1/32; tail (0/4 + 2/2)/16.
    const r = agreement(ranked('a', 'b', 'c', 'd'), ranked('b', 'a'), { p: 0.5 });
    expect(r.rbo).toBeCloseTo(0.5, 14);
    // Symmetric in which run is longer.
    expect(agreement(ranked('b', 'a'), ranked('a', 'b', 'c', 'd'), { p: 0.5 }).rbo).toBeCloseTo(0.5, 14);
  });

  it('identical rankings: every measure at its maximum', () => {
    const run = ranked('a', 'b', 'c', 'd', 'e', 'f');
    const r = agreement(run, run);
    expect(r.rbo).toBeCloseTo(1, 14);
    expect(r).toMatchObject({ queries: 1, kendallTau: 1, spearman: 1, overlap: 1, top1: 1, positionsMoved: 0 });
    expect(r.scoreCorrelation).toBeCloseTo(1, 14);
    // Still 1 when k is larger than the lists (k is capped at the longer list).
    expect(agreement(run, run, { k: 50 })).toMatchObject({ overlap: 1, positionsMoved: 0 });
  });

  it('reversed rankings: tau and rho −1, every item moved', () => {
    const r = agreement(ranked('a', 'b', 'c', 'd'), ranked('d', 'c', 'b', 'a'));
    expect(r).toMatchObject({ kendallTau: -1, spearman: -1, overlap: 1, top1: 0 });
    expect(r.positionsMoved).toBe((3 + 1 + 1 + 3) / 4);
  });

  it('disjoint rankings: rbo and overlap 0; tau, rho and score correlation NaN (no shared item), means NaN', () => {
    const r = agreement(ranked('a', 'b'), ranked('c', 'd'));
    expect(r).toMatchObject({ rbo: 0, overlap: 0, top1: 0 });
    // Each item sits at k' + 1 = 3 in the other list: |1−3|, |2−3| on each side.
    expect(r.positionsMoved).toBe(1.5);
    expect(r.kendallTau).toBeNaN();
    expect(r.spearman).toBeNaN();
    expect(r.scoreCorrelation).toBeNaN();
  });

  it('fewer than 2 shared items: NaN for that query, left out of the mean', () => {
    const a: Run = { q1: { a: 3, b: 2, c: 1 }, q2: { x: 2, y: 1 } };
    const b: Run = { q1: { a: 3, c: 2, b: 1 }, q2: { x: 5, z: 1 } };
    const r = agreement(a, b);
    expect(r.perQuery.q2.kendallTau).toBeNaN();
    expect(r.perQuery.q2.spearman).toBeNaN();
    expect(r.kendallTau).toBeCloseTo(1 / 3, 14); // q1 alone
    expect(r.spearman).toBeCloseTo(0.5, 14);
    expect(r.top1).toBe(1);
    expect(r.overlap).toBeCloseTo((1 + 1 / 2) / 2, 14);
  });

  it('the JSDoc example', () => {
    const r = agreement({ q1: { a: 3, b: 2, c: 1 } }, { q1: { a: 3, c: 2, b: 1 } }, { k: 3, p: 0.9 });
    expect(r.top1).toBe(1);
    expect(r.kendallTau).toBeCloseTo(1 / 3, 14);
    expect(r.perQuery.q1.positionsMoved).toBeCloseTo(2 / 3, 14);
  });

  it('k cuts both rankings; overlap divides by k', () => {
    const a = ranked('a', 'b', 'c', 'd', 'e');
    const b = ranked('b', 'a', 'e', 'd', 'c');
    const r = agreement(a, b, { k: 2 });
    expect(r).toMatchObject({ overlap: 1, top1: 0, kendallTau: -1, positionsMoved: 1 });
    const r3 = agreement(a, b, { k: 3 });
    expect(r3.overlap).toBeCloseTo(2 / 3, 14);
    // c (rank 3 in A, absent from B's top 3: rank 4) and e (absent from A's top 3, rank 3 in B).
    expect(r3.positionsMoved).toBeCloseTo((1 + 1 + 1 + 1) / 4, 14);
  });

  it('ties in score are ordered by doc id, descending (trec_eval)', () => {
    // A ranks b before a (same score, 'b' > 'a'); B ranks a first.
    const r = agreement({ q: { a: 1, b: 1 } }, { q: { a: 2, b: 1 } });
    expect(r).toMatchObject({ top1: 0, kendallTau: -1 });
    expect(r.scoreCorrelation).toBeNaN(); // A's scores are constant
  });

  it('queries: only those both runs hold; means over them', () => {
    const r = agreement({ q1: { a: 1 }, q2: { a: 1 }, q3: { a: 1 } }, { q2: { a: 1 }, q3: { b: 1 }, q4: { a: 1 } });
    expect(r.queries).toBe(2);
    expect(Object.keys(r.perQuery)).toEqual(['q2', 'q3']);
    expect(r.top1).toBe(0.5);
  });

  it('empty lists: two count as identical, one against a non-empty list as disjoint', () => {
    const r = agreement({ q1: {}, q2: {} }, { q1: {}, q2: { a: 1 } });
    expect(r.perQuery.q1).toMatchObject({ overlap: 1, rbo: 1, top1: 1, positionsMoved: 0 });
    expect(r.perQuery.q2).toMatchObject({ overlap: 0, rbo: 0, top1: 0, positionsMoved: 1 });
  });

  it("a query named '__proto__' stays a key", () => {
    const run = JSON.parse('{"__proto__": {"a": 2, "b": 1}}') as Run;
    const r = agreement(run, run);
    expect(Object.keys(r.perQuery)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(r.perQuery)).toBe(Object.prototype);
    expect(r.kendallTau).toBe(1);
  });

  it('long lists: tau by inversions agrees with the pairwise definition', () => {
    const n = 300;
    const docs = Array.from({ length: n }, (_, i) => `d${String(i).padStart(3, '0')}`);
    let s = 7;
    const next = () => (s = (s * 48271) % 2147483647);
    const shuffled = docs.map((d) => [d, next()] as const); // distinct scores: a random order without ties
    const a: Run = { q: Object.fromEntries(docs.map((d, i) => [d, n - i])) };
    const b: Run = { q: Object.fromEntries(shuffled) };
    const rankB = new Map(Object.entries(b.q).sort((x, y) => y[1] - x[1]).map(([d], i) => [d, i]));
    let concordant = 0;
    let discordant = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) (rankB.get(docs[i])! < rankB.get(docs[j])! ? concordant++ : discordant++);
    expect(agreement(a, b).kendallTau).toBeCloseTo((concordant - discordant) / ((n * (n - 1)) / 2), 13);
  });
});

describe('agreement: bad input', () => {
  const run = ranked('a', 'b');
  it.each([
    ['k 0', () => agreement(run, run, { k: 0 }), 'ERR_FUSIONRANK_INVALID_K', 'RangeError'],
    ['k −3', () => agreement(run, run, { k: -3 }), 'ERR_FUSIONRANK_INVALID_K', 'RangeError'],
    ['k 2.5', () => agreement(run, run, { k: 2.5 }), 'ERR_FUSIONRANK_INVALID_K', 'RangeError'],
    ['k Infinity', () => agreement(run, run, { k: Infinity }), 'ERR_FUSIONRANK_INVALID_K', 'RangeError'],
    ['k string', () => agreement(run, run, { k: '3' as never }), 'ERR_FUSIONRANK_INVALID_K', 'TypeError'],
    ['p 0', () => agreement(run, run, { p: 0 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['p 1', () => agreement(run, run, { p: 1 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['p 1.5', () => agreement(run, run, { p: 1.5 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['p NaN', () => agreement(run, run, { p: NaN }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['p string', () => agreement(run, run, { p: '0.9' as never }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['options not an object', () => agreement(run, run, 3 as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['runA not an object', () => agreement(null as never, run), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['runB query not an object', () => agreement(run, { q: [1] } as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['a string score', () => agreement(run, { q: { a: '1' } } as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['a NaN score', () => agreement({ q: { a: NaN } }, run), 'ERR_FUSIONRANK_NON_FINITE', 'RangeError'],
    ['no common query', () => agreement({ q1: { a: 1 } }, { q2: { a: 1 } }), 'ERR_FUSIONRANK_NO_COMMON_QUERIES', 'FusionrankError'],
  ])('%s', (_, fn, code, kind) => {
    expect(codeOf(fn)).toEqual({ code, kind });
  });
});
