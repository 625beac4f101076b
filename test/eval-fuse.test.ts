// fuse(): closed-form cases computed by hand here, and every method x norm
// against scripts/fixtures/eval_fuse.py's independent implementation.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { fuse, type FuseOptions, type FusionMethod, type FusionNorm } from '../src/eval/fuse.js';
import type { Run } from '../src/eval/types.js';

const fixtures = fileURLToPath(new URL('./fixtures/eval/', import.meta.url));

const A: Run = { q: { a: 3, b: 2, c: 1 } };
const B: Run = { q: { b: 0.9, c: 0.5, d: 0.1 } };

function expectScores(actual: Run, expected: Run, digits = 12): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const q of Object.keys(expected)) {
    expect(Object.keys(actual[q]).sort(), q).toEqual(Object.keys(expected[q]).sort());
    for (const d of Object.keys(expected[q])) expect(actual[q][d], `${q}/${d}`).toBeCloseTo(expected[q][d], digits);
  }
}

describe('fuse: closed form', () => {
  it('RRF of two 3-item runs (k = 60): Σ 1/(60 + rank)', () => {
    const out = fuse([A, B], { method: 'rrf' });
    expectScores(out, { q: { a: 1 / 61, b: 1 / 61 + 1 / 62, c: 1 / 62 + 1 / 63, d: 1 / 63 } });
    expect(Object.keys(out.q)).toEqual(['b', 'c', 'a', 'd']);
  });

  it('RRF with k = 0 is Σ 1/rank', () => {
    expectScores(fuse([A, B], { method: 'rrf', k: 0 }), { q: { a: 1, b: 1 / 2 + 1, c: 1 / 3 + 1 / 2, d: 1 / 3 } });
  });

  it('CombSUM, CombMNZ, CombMAX, mixed after min-max (the default norm)', () => {
    // min-max: A → a 1, b 0.5, c 0; B → b 1, c 0.5, d 0.
    expectScores(fuse([A, B], { method: 'sum' }), { q: { a: 1, b: 1.5, c: 0.5, d: 0 } });
    expectScores(fuse([A, B], { method: 'mnz' }), { q: { a: 1, b: 3, c: 1, d: 0 } });
    expectScores(fuse([A, B], { method: 'mixed' }), { q: { a: 1, b: 1.5 * Math.SQRT2, c: 0.5 * Math.SQRT2, d: 0 } });
    const max = fuse([A, B], { method: 'max' });
    expectScores(max, { q: { a: 1, b: 1, c: 0.5, d: 0 } });
    // a and b tie at 1: doc id descending, as trec_eval.
    expect(Object.keys(max.q)).toEqual(['b', 'a', 'c', 'd']);
  });

  it('weighted sum; with no weights it equals CombSUM', () => {
    expectScores(fuse([A, B], { method: 'wsum', weights: [1, 3] }), { q: { a: 1, b: 3.5, c: 1.5, d: 0 } });
    expect(fuse([A, B], { method: 'wsum' })).toEqual(fuse([A, B], { method: 'sum' }));
    expectScores(fuse([A, B], { method: 'rrf', weights: [2, 0] }), { q: { a: 2 / 61, b: 2 / 62, c: 2 / 63, d: 0 } });
  });

  it('ISR: Σ 1/rank² times the number of runs holding the doc', () => {
    expectScores(fuse([A, B], { method: 'isr' }), { q: { a: 1, b: (1 / 4 + 1) * 2, c: (1 / 9 + 1 / 4) * 2, d: 1 / 9 } });
  });

  it('RBC: Σ (1 − φ) φ^(rank − 1)', () => {
    expectScores(fuse([A, B], { method: 'rbc', phi: 0.5 }), { q: { a: 0.5, b: 0.25 + 0.5, c: 0.125 + 0.25, d: 0.125 } });
    const p = 0.8;
    expectScores(fuse([A, B], { method: 'rbc' }), { q: { a: 1 - p, b: (1 - p) * p + (1 - p), c: (1 - p) * p * p + (1 - p) * p, d: (1 - p) * p * p } });
  });

  it('Borda: c − rank + 1 points, the unranked share (c − |run| + 1)/2', () => {
    // 4 candidates: A gives a 4, b 3, c 2, d (4 − 3 + 1)/2 = 1; B gives b 4, c 3, d 2, a 1.
    const out = fuse([A, B], { method: 'borda', norm: 'none' });
    expectScores(out, { q: { a: 5, b: 7, c: 5, d: 3 } });
    expect(Object.keys(out.q)).toEqual(['b', 'c', 'a', 'd']);
  });

  it('normalisations: rank, borda, max, sum, zmuv, none', () => {
    expectScores(fuse([A], { method: 'sum', norm: 'rank' }), { q: { a: 1, b: 2 / 3, c: 1 / 3 } });
    // borda over the 4 candidates: in-run 1 − (r − 1)/4, missing 1/2 − (3 − 1)/8.
    expectScores(fuse([A, B], { method: 'sum', norm: 'borda' }), { q: { a: 1 + 0.25, b: 0.75 + 1, c: 0.5 + 0.75, d: 0.25 + 0.5 } });
    expectScores(fuse([A], { method: 'sum', norm: 'max' }), { q: { a: 1, b: 2 / 3, c: 1 / 3 } });
    expectScores(fuse([A], { method: 'sum', norm: 'sum' }), { q: { a: 2 / 3, b: 1 / 3, c: 0 } });
    const sd = Math.sqrt(2 / 3);
    expectScores(fuse([A], { method: 'sum', norm: 'zmuv' }), { q: { a: 1 / sd, b: 0, c: -1 / sd } });
    expectScores(fuse([A, B], { method: 'sum', norm: 'none' }), { q: { a: 3, b: 2.9, c: 1.5, d: 0.1 } });
  });

  it('equal scores: min-max, sum and zmuv give 0 (denominator floored at 1e-9, as ranx)', () => {
    const flat: Run = { q: { x: 2, y: 2 } };
    for (const norm of ['minmax', 'sum', 'zmuv'] as const) expectScores(fuse([flat], { method: 'sum', norm }), { q: { x: 0, y: 0 } });
    // max ≤ 0 divides by 1e-9, as ranx.
    expectScores(fuse([{ q: { x: -1e-9, y: 0 } }], { method: 'sum', norm: 'max' }), { q: { x: -1, y: 0 } });
  });

  it('queries: the union; a run without the query takes no part, an empty one votes for nobody', () => {
    const out = fuse([{ q1: { a: 1 }, q2: { x: 1, y: 0 } }, { q1: { b: 2 } }], { method: 'borda', norm: 'none' });
    // q1: candidates {a, b}; run 0 gives a 2, b (2 − 1 + 1)/2 = 1; run 1 gives b 2, a 1.
    // q2 only in run 0: 2 candidates, x 2 points, y 1.
    expectScores(out, { q1: { a: 3, b: 3 }, q2: { x: 2, y: 1 } });
    expect(Object.keys(out.q1)).toEqual(['b', 'a']);
    const empty = fuse([{ q: { a: 1, b: 0 } }, { q: {} }], { method: 'borda', norm: 'none' });
    // the empty voter gives both candidates (2 − 0 + 1)/2.
    expectScores(empty, { q: { a: 2 + 1.5, b: 1 + 1.5 } });
  });

  it('a record of runs fuses as the array of its values; weights follow its key order', () => {
    expect(fuse({ bm25: A, dense: B }, { method: 'wsum', weights: [1, 3] })).toEqual(fuse([A, B], { method: 'wsum', weights: [1, 3] }));
  });

  it('leaves its input unchanged and takes __proto__ as an id', () => {
    const a = JSON.parse('{"q":{"__proto__":1,"b":0.5}}') as Run;
    const copy = structuredClone(a);
    const out = fuse([a, B], { method: 'sum', norm: 'none' });
    expect(a).toEqual(copy);
    expect(Object.hasOwn(out.q, '__proto__')).toBe(true);
    expect(out.q.__proto__).toBe(1);
    expect(out.q.b).toBeCloseTo(1.4, 12);
  });
});

interface FixtureCase {
  method: FusionMethod;
  norm: FusionNorm;
  weights?: number[];
  k?: number;
  phi?: number;
  expected: Run;
  order: Record<string, string[]>;
}

describe.each(['fuse-random-3runs.json', 'fuse-random-2runs.json'])('fuse: %s (scripts/fixtures/eval_fuse.py)', (file) => {
  const doc = JSON.parse(readFileSync(join(fixtures, file), 'utf8')) as { runs: Run[]; cases: FixtureCase[] };
  it.each(doc.cases.map((c) => [`${c.method}/${c.norm}${c.weights ? '/weighted' : ''}${c.k !== undefined ? `/k=${c.k}` : ''}${c.phi !== undefined ? `/phi=${c.phi}` : ''}`, c] as const))(
    '%s',
    (_, c) => {
      const options: FuseOptions = { method: c.method, norm: c.norm };
      if (c.weights) options.weights = c.weights;
      if (c.k !== undefined) options.k = c.k;
      if (c.phi !== undefined) options.phi = c.phi;
      const out = fuse(doc.runs, options);
      expect(Object.keys(out).sort()).toEqual(Object.keys(c.expected).sort());
      for (const q of Object.keys(c.expected)) {
        const want = c.expected[q];
        expect(Object.keys(out[q]).sort(), q).toEqual(Object.keys(want).sort());
        for (const d of Object.keys(want)) {
          const tol = 1e-12 * Math.max(1, Math.abs(want[d]));
          expect(Math.abs(out[q][d] - want[d]), `${q}/${d}: ${out[q][d]} vs ${want[d]}`).toBeLessThanOrEqual(tol);
        }
        // Best first: the insertion order follows the reference's order (up to float noise in ties).
        const docs = Object.keys(out[q]);
        for (let i = 1; i < docs.length; i++) expect(want[docs[i - 1]] - want[docs[i]]).toBeGreaterThanOrEqual(-1e-12);
        if (new Set(Object.values(want)).size === docs.length) expect(docs).toEqual(c.order[q]);
      }
    },
  );
});

describe('fuse: bad input', () => {
  const code = (fn: () => unknown, c: string): void => {
    expect(fn).toThrow(expect.objectContaining({ code: c }));
  };
  it('unknown method or norm, bad k or phi: ERR_FUSIONRANK_INVALID_ARGUMENT', () => {
    code(() => fuse([A], { method: 'combsum' as FusionMethod }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => fuse([A], {} as FuseOptions), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => fuse([A], { method: 'sum', norm: 'min-max' as FusionNorm }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => fuse([A], { method: 'rrf', k: -1 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => fuse([A], { method: 'rbc', phi: 1 }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => fuse([A], null as unknown as FuseOptions), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => fuse('runs' as unknown as Run[], { method: 'sum' }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    code(() => fuse([{ q: [1, 2] } as unknown as Run], { method: 'sum' }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(() => fuse([A], { method: 'nope' as FusionMethod })).toThrow(/Expected one of 'sum'.* for options.method but received 'nope' of type string/);
  });
  it('weights: one finite number per run', () => {
    code(() => fuse([A, B], { method: 'wsum', weights: [1] }), 'ERR_FUSIONRANK_LENGTH_MISMATCH');
    code(() => fuse([A, B], { method: 'wsum', weights: [1, NaN] }), 'ERR_FUSIONRANK_NON_FINITE');
    code(() => fuse([A, B], { method: 'wsum', weights: [1, Infinity] }), 'ERR_FUSIONRANK_NON_FINITE');
    code(() => fuse([A, B], { method: 'wsum', weights: 'ab' as unknown as number[] }), 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  });
  it('no run: ERR_FUSIONRANK_EMPTY_INPUT', () => {
    code(() => fuse([], { method: 'sum' }), 'ERR_FUSIONRANK_EMPTY_INPUT');
    code(() => fuse({}, { method: 'sum' }), 'ERR_FUSIONRANK_EMPTY_INPUT');
  });
  it('non-finite scores or parameters: ERR_FUSIONRANK_NON_FINITE', () => {
    code(() => fuse([A, { q: { a: NaN } }], { method: 'sum' }), 'ERR_FUSIONRANK_NON_FINITE');
    expect(() => fuse([A, { q: { a: Infinity } }], { method: 'sum' })).toThrow(/runs\[1\]\["q"\]\["a"\]/);
    code(() => fuse([A], { method: 'rrf', k: Infinity }), 'ERR_FUSIONRANK_NON_FINITE');
    code(() => fuse([A], { method: 'rbc', phi: NaN }), 'ERR_FUSIONRANK_NON_FINITE');
  });
});
