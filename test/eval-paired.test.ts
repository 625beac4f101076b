// Paired statistics: expected values come from scipy and exact enumeration
// (scripts/fixtures/eval_stats.py writes test/fixtures/eval/stats-*.json).
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { adjustPValues, compare, paired } from '../src/eval/stats.js';
import type { Qrels, Run } from '../src/eval/types.js';
import { rng } from '../src/util/random.js';

interface PairedCase {
  name: string;
  a: number[];
  b: number[];
  n: number;
  meanA: number;
  meanB: number;
  delta: number;
  sd: number | null;
  effectSize: number | null;
  pTTest: number | null;
  wins: number;
  ties: number;
  losses: number;
  pExact?: number;
  pExactLarge?: number;
}

const fixture = (name: string): { cases: unknown[] } => JSON.parse(readFileSync(new URL(`./fixtures/eval/${name}`, import.meta.url), 'utf8'));
const cases = fixture('stats-paired.json').cases as PairedCase[];
const adjustCases = fixture('stats-adjust.json').cases as { p: number[]; holm: number[]; bonferroni: number[] }[];

/** Relative closeness with an absolute floor (p-values near 0 are compared relatively). */
function expectClose(actual: number, expected: number, rel: number, abs = 1e-15): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(Math.max(abs, rel * Math.abs(expected)));
}

function codeOf(fn: () => unknown): { code: unknown; kind: string } {
  try {
    fn();
  } catch (error) {
    return { code: (error as { code?: unknown }).code, kind: (error as Error).constructor.name };
  }
  throw new Error('did not throw');
}

function normals(n: number, seed: number, mean: number, sd: number): number[] {
  const random = rng(seed);
  return Array.from({ length: n }, () => mean + sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random()));
}

describe('paired: against scipy and exact enumeration', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s: means, counts, t-test p (scipy ttest_rel) and d_z', (_, c) => {
    const r = paired(c.a, c.b);
    expect(r.n).toBe(c.n);
    expectClose(r.meanA, c.meanA, 1e-13);
    expectClose(r.meanB, c.meanB, 1e-13);
    expect(Math.abs(r.delta - c.delta)).toBeLessThanOrEqual(1e-14 * Math.max(1, Math.abs(c.delta)));
    expect([r.wins, r.ties, r.losses]).toEqual([c.wins, c.ties, c.losses]);
    if (c.pTTest === null) {
      // scipy gives NaN for n = 1 and for all-zero differences: documented as p = 1 here.
      expect(r.pTTest).toBe(1);
    } else {
      expectClose(r.pTTest, c.pTTest, 1e-10, 1e-14);
    }
    if (c.effectSize !== null && c.sd !== null && c.sd > 1e-12) expectClose(r.effectSize, c.effectSize, 1e-10);
  });

  it.each(cases.filter((c) => c.pExact !== undefined).map((c) => [c.name, c] as const))('%s: exact sign-flip p (2^n ≤ permutations)', (_, c) => {
    expect(2 ** c.n).toBeLessThanOrEqual(10000);
    expect(paired(c.a, c.b).pRandomization).toBe(c.pExact);
  });

  it.each(cases.filter((c) => c.pExactLarge !== undefined).map((c) => [c.name, c] as const))('%s: sampled p within Monte-Carlo error of the exact p', (_, c) => {
    const exact = c.pExactLarge!;
    const B = 10000;
    const r = paired(c.a, c.b, { permutations: B });
    expect(Math.abs(r.pRandomization - exact)).toBeLessThanOrEqual(4 * Math.sqrt((exact * (1 - exact)) / B) + 1 / (B + 1));
    // Enumerated once permutations reach 2^n.
    expect(paired(c.a, c.b, { permutations: 2 ** c.n }).pRandomization).toBe(exact);
  });

  it('sampled p tracks the exact p for small n too when permutations < 2^n', () => {
    const c = cases.find((x) => x.name === 'grid n=12 step=0.1')!;
    const B = 2000;
    for (const seed of [1, 2, 3]) {
      const p = paired(c.a, c.b, { permutations: B, seed }).pRandomization;
      expect(Math.abs(p - c.pExact!)).toBeLessThanOrEqual(4 * Math.sqrt((c.pExact! * (1 - c.pExact!)) / B) + 1 / (B + 1));
    }
  });
});

describe('paired: degenerate cases', () => {
  it('every difference 0: p = 1 for both tests, d_z = 0, CI [0, 0]', () => {
    const r = paired([0.1, 0.5, 0.9], [0.1, 0.5, 0.9]);
    expect(r).toMatchObject({ delta: 0, pTTest: 1, pRandomization: 1, effectSize: 0, ci95: [0, 0], wins: 0, ties: 3, losses: 0 });
    // Sampled too (2^40 > permutations).
    expect(paired(new Array(40).fill(0.5), new Array(40).fill(0.5)).pRandomization).toBe(1);
  });

  it('constant nonzero difference: pTTest 0, d_z ±Infinity', () => {
    expect(paired([0, 0.25, 0.5], [0.5, 0.75, 1])).toMatchObject({ pTTest: 0, effectSize: Infinity, ci95: [0.5, 0.5] });
    expect(paired([0.5, 0.75, 1], [0, 0.25, 0.5])).toMatchObject({ pTTest: 0, effectSize: -Infinity });
  });

  it('one query: pTTest 1; d_z NaN unless the difference is 0; exact sign-flip p 1', () => {
    const r = paired([0.25], [0.75]);
    expect(r.pTTest).toBe(1);
    expect(r.effectSize).toBeNaN();
    expect(r.pRandomization).toBe(1); // both signs are as extreme
    expect(r.ci95).toEqual([0.5, 0.5]);
    expect(paired([0.2], [0.2]).effectSize).toBe(0);
  });

  it('float ties count as ties: 0.1 + 0.2 − 0.3 is no effect', () => {
    // Exact p = 1 (every sign vector is as extreme as the identity, which sums to 0).
    expect(paired([0, 0, 0.3], [0.1, 0.2, 0]).pRandomization).toBe(1);
    // Sampled path: 20 copies of the triple; the observed sum is ~0, so every draw ties.
    const a = Array.from({ length: 60 }, (_, i) => [0, 0, 0.3][i % 3]);
    const b = Array.from({ length: 60 }, (_, i) => [0.1, 0.2, 0][i % 3]);
    expect(paired(a, b, { permutations: 500 }).pRandomization).toBe(1);
  });
});

describe('paired: bootstrap interval', () => {
  it('approaches mean ± 1.96·sd/√n for large n', () => {
    const n = 4000;
    const a = normals(n, 7, 0.5, 0.2);
    const noise = normals(n, 8, 0.03, 0.15);
    const b = a.map((v, i) => v + noise[i]);
    const d = b.map((v, i) => v - a[i]);
    const mean = d.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
    const half = (1.959963984540054 * sd) / Math.sqrt(n);
    const r = paired(a, b);
    expect(Math.abs(r.ci95[0] - (mean - half))).toBeLessThan(0.06 * half);
    expect(Math.abs(r.ci95[1] - (mean + half))).toBeLessThan(0.06 * half);
  });

  it('holds the mean and is ordered', () => {
    const a = normals(50, 3, 0.4, 0.1);
    const b = normals(50, 4, 0.45, 0.1);
    const r = paired(a, b, { bootstrap: 2000 });
    expect(r.ci95[0]).toBeLessThanOrEqual(r.delta);
    expect(r.ci95[1]).toBeGreaterThanOrEqual(r.delta);
    expect(r.ci95[0]).toBeLessThan(r.ci95[1]);
  });
});

describe('paired: determinism and pairing', () => {
  const a = normals(300, 11, 0.5, 0.2);
  const b = normals(300, 12, 0.52, 0.2);

  it('the same seed gives the same result; another seed another p and CI', () => {
    const r1 = paired(a, b, { seed: 5 });
    expect(paired(a, b, { seed: 5 })).toEqual(r1);
    const r2 = paired(a, b, { seed: 6 });
    expect(r2.ci95).not.toEqual(r1.ci95);
    expect(r2.pRandomization).not.toBe(r1.pRandomization);
    expect(r2.pTTest).toBe(r1.pTTest);
    // The default seed is 42.
    expect(paired(a, b)).toEqual(paired(a, b, { seed: 42 }));
  });

  it('the interval does not depend on the number of permutations', () => {
    expect(paired(a, b, { permutations: 100 }).ci95).toEqual(paired(a, b, { permutations: 5000 }).ci95);
  });

  it('accepts typed arrays, and explicit undefined options', () => {
    expect(paired(Float64Array.from(a), Float64Array.from(b))).toEqual(paired(a, b));
    expect(paired(Int32Array.of(1, 2, 3), [1, 3, 4]).wins).toBe(2);
    expect(paired(a, b, { permutations: undefined, bootstrap: undefined, seed: undefined })).toEqual(paired(a, b));
  });

  it('records pair by query key, whatever the insertion order', () => {
    const ra = { q1: 0.2, q2: 0.5, q3: 0.9 };
    const rb = { q3: 1, q1: 0.3, q2: 0.4 };
    const r = paired(ra, rb);
    expect(r.n).toBe(3);
    expect([r.wins, r.ties, r.losses]).toEqual([2, 0, 1]);
    expectClose(r.delta, (0.1 - 0.1 + 0.1) / 3, 1e-12);
    expect(paired({ q2: 0.5, q3: 0.9, q1: 0.2 }, rb)).toEqual(r);
    expect(paired([0.2, 0.5, 0.9], [0.3, 0.4, 1])).toEqual(r);
  });
});

describe('paired: bad input', () => {
  it.each([
    ['a is a number', () => paired(1 as never, [1]), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['b is null', () => paired([1], null as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['array vs record', () => paired([1], { q: 1 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['a string value', () => paired([1, '2' as never], [1, 2]), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['lengths differ', () => paired([1, 2], [1]), 'ERR_FUSIONRANK_LENGTH_MISMATCH', 'RangeError'],
    ['b lacks a key', () => paired({ q1: 1, q2: 2 }, { q1: 1 }), 'ERR_FUSIONRANK_LENGTH_MISMATCH', 'RangeError'],
    ['a lacks a key', () => paired({ q1: 1 }, { q1: 1, q2: 2 }), 'ERR_FUSIONRANK_LENGTH_MISMATCH', 'RangeError'],
    ['same count, other keys', () => paired({ q1: 1 }, { q2: 1 }), 'ERR_FUSIONRANK_LENGTH_MISMATCH', 'RangeError'],
    ['empty arrays', () => paired([], []), 'ERR_FUSIONRANK_EMPTY_INPUT', 'RangeError'],
    ['empty records', () => paired({}, {}), 'ERR_FUSIONRANK_EMPTY_INPUT', 'RangeError'],
    ['NaN', () => paired([1, NaN], [1, 2]), 'ERR_FUSIONRANK_NON_FINITE', 'RangeError'],
    ['Infinity in a record', () => paired({ q: 1 }, { q: Infinity }), 'ERR_FUSIONRANK_NON_FINITE', 'RangeError'],
    ['permutations 0', () => paired([1], [2], { permutations: 0 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['permutations -5', () => paired([1], [2], { permutations: -5 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['permutations 1.5', () => paired([1], [2], { permutations: 1.5 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['permutations NaN', () => paired([1], [2], { permutations: NaN }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['permutations string', () => paired([1], [2], { permutations: '10' as never }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['bootstrap 0', () => paired([1], [2], { bootstrap: 0 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['seed -1', () => paired([1], [2], { seed: -1 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['seed 0.5', () => paired([1], [2], { seed: 0.5 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['options not an object', () => paired([1], [2], 5 as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
  ])('%s', (_, fn, code, kind) => {
    expect(codeOf(fn)).toEqual({ code, kind });
  });

  it('a missing key is named in the message', () => {
    expect(() => paired({ q1: 1, q2: 2 }, { q1: 1 })).toThrow(/b lacks query "q2"/);
    expect(() => paired({ q1: 1 }, { q1: 1, q9: 2 })).toThrow(/a lacks query "q9"/);
    expect(() => paired([1, 2], [1])).toThrow(/Expected an array of length 2 \(as a\) for b but received Array\(1\) of type Array/);
  });
});

describe('adjustPValues', () => {
  it.each(adjustCases.map((c) => [JSON.stringify(c.p), c] as const))('%s: Holm and Bonferroni as the Python reference', (_, c) => {
    const holm = adjustPValues(c.p, 'holm');
    const bonferroni = adjustPValues(c.p, 'bonferroni');
    expect(holm).toHaveLength(c.p.length);
    c.holm.forEach((v, i) => expectClose(holm[i], v, 1e-14));
    c.bonferroni.forEach((v, i) => expectClose(bonferroni[i], v, 1e-14));
    expect(adjustPValues(c.p, 'none')).toEqual(c.p);
  });

  it('Holm is monotone in p, never below p, capped at 1 and never above Bonferroni', () => {
    const random = rng(9);
    const p = Array.from({ length: 40 }, () => random() ** 3);
    const holm = adjustPValues(p, 'holm');
    const bonferroni = adjustPValues(p, 'bonferroni');
    const order = p.map((_, i) => i).sort((i, j) => p[i] - p[j]);
    for (let r = 1; r < order.length; r++) expect(holm[order[r]]).toBeGreaterThanOrEqual(holm[order[r - 1]]);
    p.forEach((v, i) => {
      expect(holm[i]).toBeGreaterThanOrEqual(v);
      expect(holm[i]).toBeLessThanOrEqual(Math.min(1, bonferroni[i]));
    });
  });

  it('the JSDoc examples', () => {
    const holm = adjustPValues([0.01, 0.04, 0.03], 'holm');
    [0.03, 0.06, 0.06].forEach((v, i) => expectClose(holm[i], v, 1e-15));
    expect(adjustPValues([0.01, 0.04], 'bonferroni')).toEqual([0.02, 0.08]);
    const r = paired([0.2, 0.5, 0.4], [0.3, 0.6, 0.4]);
    expectClose(r.delta, 0.2 / 3, 1e-14);
    expect([r.wins, r.ties, r.losses]).toEqual([2, 1, 0]);
    expect(paired({ q1: 0.2, q2: 0.5 }, { q2: 0.6, q1: 0.3 }).n).toBe(2);
  });

  it('returns a new array', () => {
    const p = [0.1, 0.2];
    expect(adjustPValues(p, 'none')).not.toBe(p);
  });

  it.each([
    ['not an array', () => adjustPValues('0.1' as never, 'holm'), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['a string p', () => adjustPValues(['0.1' as never], 'holm'), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['NaN', () => adjustPValues([NaN], 'holm'), 'ERR_FUSIONRANK_NON_FINITE', 'RangeError'],
    ['p > 1', () => adjustPValues([1.5], 'bonferroni'), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['p < 0', () => adjustPValues([-0.1], 'none'), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['unknown method', () => adjustPValues([0.1], 'bh' as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['method missing', () => adjustPValues([0.1], undefined as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
  ])('%s', (_, fn, code, kind) => {
    expect(codeOf(fn)).toEqual({ code, kind });
  });
});

describe('compare', () => {
  // q01..q10 hold one relevant doc r; q11 none (recall leaves it out). A run
  // ranks r first where `hits` says so: P@1 (and recall@1) per query = hits.
  const queries = Array.from({ length: 11 }, (_, i) => `q${String(i + 1).padStart(2, '0')}`);
  const qrels: Qrels = Object.fromEntries(queries.map((q, i): [string, Record<string, number>] => [q, i < 10 ? { r: 1, x: 0 } : { x: 0 }]));
  const runOf = (hits: number[]): Run => Object.fromEntries(queries.map((q, i): [string, Record<string, number>] => [q, i < 10 ? (hits[i] ? { r: 2, x: 1 } : { r: 1, x: 2 }) : { x: 1 }]));
  const runs = {
    base: runOf([1, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
    alt: runOf([1, 1, 1, 1, 1, 1, 1, 0, 1, 0]),
    worse: runOf([0, 0, 0, 1, 0, 0, 0, 0, 0, 0]),
  };
  const expected = (name: string) => cases.find((c) => c.name === name)!;

  it('one row per run × metric against the first run, with scipy / exact p-values and Holm over all rows', () => {
    const rows = compare(qrels, runs, { metrics: ['P_1', 'recall@1'] });
    expect(rows.map((r) => [r.run, r.metric, r.baseline, r.n])).toEqual([
      ['alt', 'P@1', 'base', 11],
      ['alt', 'recall@1', 'base', 10],
      ['worse', 'P@1', 'base', 11],
      ['worse', 'recall@1', 'base', 10],
    ]);
    for (const row of rows) {
      const c = expected(`compare ${row.metric} ${row.run}`);
      expect(row.pRandomization).toBe(c.pExact);
      expectClose(row.pTTest, c.pTTest!, 1e-10);
      expectClose(row.delta, c.delta, 1e-14);
      expect([row.wins, row.ties, row.losses]).toEqual([c.wins, c.ties, c.losses]);
    }
    // Holm over [1/32, 1/32, 1, 1]: 4/32, then max(4/32, 3/32), then 1.
    expect(rows.map((r) => r.pAdjusted)).toEqual([0.125, 0.125, 1, 1]);
  });

  it('each row is paired() over the per-query values', () => {
    const rows = compare(qrels, runs, { metrics: ['P@1'], seed: 3, permutations: 50, bootstrap: 300 });
    const hits = (run: string) => Object.fromEntries(queries.map((q, i) => [q, i < 10 && runs[run as keyof typeof runs][q].r === 2 ? 1 : 0]));
    const { run, metric, baseline, pAdjusted, ...fields } = rows[0];
    expect(fields).toEqual(paired(hits('base'), hits('alt'), { seed: 3, permutations: 50, bootstrap: 300 }));
    expect([run, metric, baseline, pAdjusted]).toEqual(['alt', 'P@1', 'base', Math.min(1, 2 * fields.pRandomization)]);
  });

  it('baseline, correction and test options', () => {
    const rows = compare(qrels, runs, { metrics: ['P@1'], baseline: 'alt', correction: 'bonferroni', test: 't' });
    expect(rows.map((r) => [r.run, r.baseline])).toEqual([
      ['base', 'alt'],
      ['worse', 'alt'],
    ]);
    expect(rows[0].delta).toBeCloseTo(-expected('compare P@1 alt').delta, 14);
    expect(rows.map((r) => r.pAdjusted)).toEqual(rows.map((r) => Math.min(1, 2 * r.pTTest)));
    const none = compare(qrels, runs, { metrics: ['P@1'], correction: 'none' });
    expect(none.map((r) => r.pAdjusted)).toEqual(none.map((r) => r.pRandomization));
  });

  it('passes the evaluation options to evaluate', () => {
    // Labels are 1: with relevanceLevel 2 nothing is relevant, P@1 is 0 everywhere.
    const rows = compare(qrels, runs, { metrics: ['P@1'], relevanceLevel: 2 });
    expect(rows.every((r) => r.delta === 0 && r.ties === r.n)).toBe(true);
    // queries: 'qrels' scores a query missing from a run as 0.
    const partial = { ...runs, alt: Object.fromEntries(Object.entries(runs.alt).slice(0, 5)) };
    expect(compare(qrels, partial, { metrics: ['P@1'] })[0].n).toBe(5);
    expect(compare(qrels, partial, { metrics: ['P@1'], queries: 'qrels' })[0].n).toBe(11);
  });

  it.each([
    ['one run', () => compare(qrels, { base: runs.base }, { metrics: ['P@1'] }), 'ERR_FUSIONRANK_EMPTY_INPUT', 'RangeError'],
    ['no runs', () => compare(qrels, {}, { metrics: ['P@1'] }), 'ERR_FUSIONRANK_EMPTY_INPUT', 'RangeError'],
    ['runs not an object', () => compare(qrels, [] as never, { metrics: ['P@1'] }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['unknown baseline', () => compare(qrels, runs, { metrics: ['P@1'], baseline: 'bm25' }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['baseline not a string', () => compare(qrels, runs, { metrics: ['P@1'], baseline: 1 as never }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['options missing', () => compare(qrels, runs, undefined as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['metrics missing', () => compare(qrels, runs, {} as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'TypeError'],
    ['metrics empty', () => compare(qrels, runs, { metrics: [] }), 'ERR_FUSIONRANK_EMPTY_INPUT', 'RangeError'],
    ['unknown metric', () => compare(qrels, runs, { metrics: ['bleu'] }), 'ERR_FUSIONRANK_INVALID_METRIC', 'RangeError'],
    ['unknown correction', () => compare(qrels, runs, { metrics: ['P@1'], correction: 'bh' as never }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['unknown test', () => compare(qrels, runs, { metrics: ['P@1'], test: 'wilcoxon' as never }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['permutations 0', () => compare(qrels, runs, { metrics: ['P@1'], permutations: 0 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', 'RangeError'],
    ['no query with a recall', () => compare({ q: { x: 0 } }, { a: { q: { x: 1 } }, b: { q: { x: 2 } } }, { metrics: ['recall@1'] }), 'ERR_FUSIONRANK_NO_COMMON_QUERIES', 'FusionrankError'],
  ])('%s', (_, fn, code, kind) => {
    expect(codeOf(fn)).toEqual({ code, kind });
  });

  it('an unknown baseline lists the run names', () => {
    expect(() => compare(qrels, runs, { metrics: ['P@1'], baseline: 'bm25' })).toThrow(/runs: "base", "alt", "worse"/);
  });
});
