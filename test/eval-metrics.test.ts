// evaluate() and parseMetric(). Expected values come only from independent
// references: trec_eval's published test output (test/fixtures/eval/trec-*,
// see the README there), scikit-learn's ndcg_score and a plain Python
// implementation (scripts/fixtures/eval_metrics.py → metrics-*.json), numbers
// worked by hand below, and a brute-force enumeration of tied orderings.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { evaluate, METRIC_FORMS, parseMetric } from '../src/eval/metrics.js';
import { parseQrels, parseRun } from '../src/eval/readers.js';
import type { EvaluateOptions, Qrels, Run } from '../src/eval/types.js';

const fixtures = fileURLToPath(new URL('./fixtures/eval/', import.meta.url));
const json = <T>(name: string): T => JSON.parse(readFileSync(join(fixtures, name), 'utf8')) as T;

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
}

function errorOf(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('evaluate: hand-worked values', () => {
  // Ranking (score desc): a(2) b(0) d(unjudged) c(1); R = 2.
  const qrels: Qrels = { q1: { a: 2, b: 0, c: 1 } };
  const run: Run = { q1: { a: 0.9, b: 0.8, c: 0.1, d: 0.5 } };

  it('computes each metric as trec_eval defines it', () => {
    const { mean, perQuery } = evaluate(qrels, run, ['ndcg', 'ndcg@2', 'map', 'map@2', 'mrr', 'P@2', 'P@10', 'recall@2', 'recall', 'hit@1', 'rprec', 'judged@4']);
    const dcg = 2 + 1 / Math.log2(5);
    const idcg = 2 + 1 / Math.log2(3);
    expect(perQuery.ndcg.q1).toBeCloseTo(dcg / idcg, 12);
    expect(perQuery['ndcg@2'].q1).toBeCloseTo(2 / idcg, 12);
    expect(perQuery.map.q1).toBeCloseTo((1 + 2 / 4) / 2, 12);
    expect(perQuery['map@2'].q1).toBeCloseTo(1 / 2, 12); // divided by R, not by the relevant ones retrieved
    expect(perQuery.mrr.q1).toBe(1);
    expect(perQuery['P@2'].q1).toBe(0.5);
    expect(perQuery['P@10'].q1).toBeCloseTo(0.2, 12); // a cutoff past the ranking divides by k
    expect(perQuery['recall@2'].q1).toBe(0.5);
    expect(perQuery.recall.q1).toBe(1);
    expect(perQuery['hit@1'].q1).toBe(1);
    expect(perQuery.rprec.q1).toBe(0.5);
    expect(perQuery['judged@4'].q1).toBe(0.75);
    expect(mean.map).toBe(perQuery.map.q1);
  });

  it('uses 2^label − 1 with exponential gain', () => {
    const value = evaluate(qrels, run, 'ndcg', { gain: 'exponential' }).perQuery.ndcg.q1;
    expect(value).toBeCloseTo((3 + 1 / Math.log2(5)) / (3 + 1 / Math.log2(3)), 12);
  });

  it('breaks ties by document id, descending', () => {
    // All tied: order d, c, b, a.
    const tied = { q1: { a: 1, b: 1, c: 1, d: 1 } };
    const r = evaluate(qrels, tied, ['mrr', 'map']).perQuery;
    expect(r.mrr.q1).toBe(1 / 2);
    expect(r.map.q1).toBeCloseTo((1 / 2 + 2 / 4) / 2, 12);
    // −0 and 0 are the same score.
    expect(evaluate({ q: { a: 1 } }, { q: { a: -0, b: 0 } }, 'mrr').mean.mrr).toBe(1 / 2);
  });

  it('averages over tied orderings with ties: average', () => {
    // Four tied documents, two relevant: the first relevant one is at rank 1, 2, 3 with p = 1/2, 1/3, 1/6.
    const tied = { q1: { a: 1, b: 1, c: 1, d: 1 } };
    const r = evaluate(qrels, tied, ['mrr', 'P@1', 'hit@2'], { ties: 'average' }).perQuery;
    expect(r.mrr.q1).toBeCloseTo(1 / 2 + 1 / 3 / 2 + 1 / 6 / 3, 12);
    expect(r['P@1'].q1).toBeCloseTo(1 / 2, 12);
    expect(r['hit@2'].q1).toBeCloseTo(1 - (2 / 4) * (1 / 3), 12);
  });

  it('counts relevance from relevanceLevel for binary metrics only', () => {
    const r = evaluate(qrels, run, ['map', 'ndcg', 'mrr'], { relevanceLevel: 2 }).perQuery;
    expect(r.map.q1).toBe(1);
    expect(r.mrr.q1).toBe(1);
    expect(r.ndcg.q1).toBe(evaluate(qrels, run, 'ndcg').perQuery.ndcg.q1);
  });

  it('scores a query without relevant documents 0, but leaves it out of recall', () => {
    const q = { q1: qrels.q1, q2: { x: 0 } };
    const r = { q1: run.q1, q2: { x: 1, y: 2 } };
    const { mean, perQuery } = evaluate(q, r, ['map', 'ndcg', 'recall@2', 'recall', 'judged@2']);
    expect(perQuery.map.q2).toBe(0);
    expect(perQuery.ndcg.q2).toBe(0);
    expect(mean.map).toBe(perQuery.map.q1 / 2);
    expect('q2' in perQuery['recall@2']).toBe(false);
    expect(mean['recall@2']).toBe(0.5);
    expect(perQuery['judged@2'].q2).toBe(0.5);
    expect(evaluate({ q: { x: 0 } }, { q: { x: 1 } }, 'recall').mean.recall).toBeNaN();
  });

  it("evaluates only the common queries, or every qrels query with queries: 'qrels'", () => {
    const q = { q1: qrels.q1, q2: { x: 1 } };
    const r = { q1: run.q1, q3: { x: 1 } };
    const both = evaluate(q, r, 'P@1');
    expect(Object.keys(both.perQuery['P@1'])).toEqual(['q1']);
    const all = evaluate(q, r, 'P@1', { queries: 'qrels' });
    expect(all.perQuery['P@1']).toEqual({ q1: 1, q2: 0 });
    expect(all.mean['P@1']).toBe(0.5);
  });

  it('keys results by canonical name and accepts trec_eval names', () => {
    const { mean } = evaluate(qrels, run, ['P_2', 'ndcg_cut_2', 'map_cut_2', 'recip_rank', 'Rprec', 'recall_2', 'success_1', 'P@2', 'NDCG@2']);
    expect(Object.keys(mean)).toEqual(['P@2', 'ndcg@2', 'map@2', 'mrr', 'rprec', 'recall@2', 'hit@1']);
  });

  it('keeps a query or document id __proto__ as an own key', () => {
    const q = JSON.parse('{"__proto__": {"__proto__": 1, "b": 0}, "constructor": {"a": 1}}') as Qrels;
    const r = JSON.parse('{"__proto__": {"b": 2, "__proto__": 1}, "constructor": {"a": 1, "toString": 3}}') as Run;
    const { perQuery } = evaluate(q, r, ['mrr', 'judged@2']);
    expect(Object.keys(perQuery.mrr)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(perQuery.mrr, '__proto__')?.value).toBe(1 / 2);
    expect(perQuery.mrr.constructor).toBe(1 / 2);
    expect(Object.getPrototypeOf(perQuery.mrr)).toBe(Object.prototype);
    // A document that only exists on Object.prototype is not retrieved.
    expect(evaluate({ q: { toString: 1, hasOwnProperty: 1 } }, { q: { a: 1 } }, 'judged@1').mean['judged@1']).toBe(0);
  });
});

describe('evaluate: trec_eval published test data', () => {
  // usnistgov/trec_eval test/: results.test ranked against qrels.test; the
  // expected values are trec_eval's own output, test/out.test.aq (4 decimals).
  // See fixtures/eval/trec-README.md for what was taken and how.
  const qrels = parseQrels(readFileSync(join(fixtures, 'trec-qrels.test.with-comments'), 'utf8'));
  const run = parseRun(readFileSync(join(fixtures, 'trec-results.comment.test'), 'utf8'));
  const published = readFileSync(join(fixtures, 'trec-out.test.aq'), 'utf8')
    .trim()
    .split('\n')
    .map((line) => line.split('\t').map((field) => field.trim()))
    .map(([measure, query, value]) => ({ measure, query, value }));
  // trec_eval's names are aliases of ours: every one is asked for as trec_eval spells it.
  const aliases = published.map((p) => p.measure).filter((m) => !m.startsWith('num_') && m !== 'runid');
  const result = evaluate(qrels, run, [...new Set(aliases)]);

  it('reads the published files (comment lines included)', () => {
    expect(Object.keys(qrels)).toEqual(['301', '302', '303']);
    expect(Object.keys(run).map((q) => Object.keys(run[q]).length)).toEqual([500, 500, 500]);
    const count = (q: string, f: (label: number) => boolean) => Object.values(qrels[q]).filter(f).length;
    for (const p of published.filter((x) => x.measure === 'num_rel' && x.query !== 'all')) expect(count(p.query, (l) => l >= 1)).toBe(Number(p.value));
  });

  it('matches every per-query and mean value trec_eval reports for the measures we implement', () => {
    let checked = 0;
    for (const { measure, query, value } of published) {
      if (measure.startsWith('num_') || measure === 'runid') continue;
      const name = parseMetric(measure).name;
      const got = query === 'all' ? result.mean[name] : result.perQuery[name][query];
      // Printed with 4 decimals: within half a unit of the last place.
      expect(Math.abs(got - Number(value)), `${measure} ${query}: ${got} vs ${value}`).toBeLessThanOrEqual(0.00005 + 1e-12);
      checked++;
    }
    expect(checked).toBe(172); // 43 measures × (3 queries + the mean)
  });

  it('matches judged@500 with trec_eval\'s counts: (num_rel_ret + num_nonrel_judged_ret) / 500', () => {
    const judged = evaluate(qrels, run, 'judged@500').perQuery['judged@500'];
    for (const q of ['301', '302', '303']) {
      const count = (m: string) => Number(published.find((p) => p.measure === m && p.query === q)?.value);
      expect(judged[q]).toBeCloseTo((count('num_rel_ret') + count('num_nonrel_judged_ret')) / 500, 12);
    }
  });
});

interface SklearnFixture {
  cases: { note: string; qrels: Qrels; run: Run; checks: { metric: string; ties: 'trec' | 'average'; gain: 'linear' | 'exponential'; expected: number }[] }[];
}

describe('evaluate: scikit-learn ndcg_score (metrics-sklearn.json)', () => {
  const { cases } = json<SklearnFixture>('metrics-sklearn.json');

  it('matches the docstring examples, ties included', () => {
    const docstring = cases.filter((c) => c.note.startsWith('docstring'));
    expect(docstring).toHaveLength(5);
    // The values the docstring prints (0.69..., 0.49..., 0.35..., 0.75..., 0.5...).
    const printed = [0.69, 0.49, 0.35, 0.75, 0.5];
    docstring.forEach((c, i) => {
      const [check] = c.checks;
      const value = evaluate(c.qrels, c.run, check.metric, { ties: check.ties }).mean[check.metric];
      expect(value).toBeCloseTo(check.expected, 12);
      expect(Math.trunc(value * 100) / 100).toBe(printed[i]);
    });
  });

  it('matches on random queries with ties, linear and exponential gain', () => {
    let checked = 0;
    for (const c of cases.filter((x) => x.note.startsWith('random'))) {
      for (const check of c.checks) {
        const value = evaluate(c.qrels, c.run, check.metric, { ties: check.ties, gain: check.gain }).mean[check.metric];
        expect(value, `${c.note} ${check.metric} ${check.gain}`).toBeCloseTo(check.expected, 10);
        checked++;
      }
    }
    expect(checked).toBe(600);
  });
});

interface TrecFixture {
  cases: {
    qrels: Qrels;
    run: Run;
    metrics: string[];
    results: { options: EvaluateOptions; expected: { mean: Record<string, number | null>; perQuery: Record<string, Record<string, number>> } }[];
  }[];
}

describe('evaluate: plain trec-convention reference (metrics-trec.json)', () => {
  const { cases } = json<TrecFixture>('metrics-trec.json');

  it('matches every metric per query and in the mean, under each option', () => {
    let checked = 0;
    for (const c of cases) {
      for (const { options, expected } of c.results) {
        const got = evaluate(c.qrels, c.run, c.metrics, options);
        for (const metric of c.metrics) {
          const label = `${metric} ${JSON.stringify(options)}`;
          expect(Object.keys(got.perQuery[metric]), label).toEqual(Object.keys(expected.perQuery[metric]));
          for (const [q, value] of Object.entries(expected.perQuery[metric])) {
            expect(got.perQuery[metric][q], `${label} ${q}`).toBeCloseTo(value, 12);
            checked++;
          }
          const mean = expected.mean[metric];
          if (mean === null) expect(got.mean[metric], label).toBeNaN();
          else expect(got.mean[metric], label).toBeCloseTo(mean, 12);
        }
      }
    }
    expect(checked).toBeGreaterThan(5000);
  });
});

interface TiesFixture {
  cases: { qrels: Qrels; run: Run; options: EvaluateOptions; expected: Record<string, number | null> }[];
}

describe('evaluate: ties averaged over every ordering', () => {
  it('matches the Python enumeration (metrics-ties.json)', () => {
    const { cases } = json<TiesFixture>('metrics-ties.json');
    for (const [i, c] of cases.entries()) {
      const metrics = Object.keys(c.expected);
      const got = evaluate(c.qrels, c.run, metrics, c.options);
      for (const metric of metrics) {
        const want = c.expected[metric];
        if (want === null) expect(got.perQuery[metric].q, `case ${i} ${metric}`).toBeUndefined();
        else expect(got.perQuery[metric].q, `case ${i} ${metric}`).toBeCloseTo(want, 12);
      }
    }
  });

  // An enumeration written here, independent of the closed forms in metrics.ts.
  function permutations<T>(items: T[]): T[][] {
    if (items.length <= 1) return [items.slice()];
    const out: T[][] = [];
    items.forEach((item, i) => {
      for (const rest of permutations([...items.slice(0, i), ...items.slice(i + 1)])) out.push([item, ...rest]);
    });
    return out;
  }

  function naive(metric: string, labels: (number | undefined)[], all: number[]): number {
    const [measure, kText] = metric.split('@');
    const k = kText === undefined ? Infinity : Number(kText);
    const rel = labels.map((l) => l !== undefined && l >= 1);
    const R = all.filter((l) => l >= 1).length;
    const gain = (l: number | undefined) => (l !== undefined && l > 0 ? l : 0);
    let hits = 0;
    let sum = 0;
    let first = 0;
    let dcg = 0;
    for (let i = 0; i < Math.min(k, labels.length); i++) {
      dcg += gain(labels[i]) / Math.log2(i + 2);
      if (!rel[i]) continue;
      hits++;
      sum += hits / (i + 1);
      if (first === 0) first = 1 / (i + 1);
    }
    const ideal = all.map(gain).sort((a, b) => b - a).slice(0, k);
    const idcg = ideal.reduce((s, g, i) => s + g / Math.log2(i + 2), 0);
    switch (measure) {
      case 'ndcg':
        return idcg > 0 ? dcg / idcg : 0;
      case 'map':
        return R > 0 ? sum / R : 0;
      case 'mrr':
        return first;
      case 'P':
        return hits / k;
      case 'hit':
        return hits > 0 ? 1 : 0;
      case 'judged':
        return labels.slice(0, k).filter((l) => l !== undefined).length / k;
      default: // rprec
        return R > 0 ? rel.slice(0, R).filter(Boolean).length / R : 0;
    }
  }

  it('matches brute force on small random cases (closed forms for DCG, P, hit, MRR, AP)', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const metrics = ['ndcg', 'ndcg@2', 'ndcg@4', 'map', 'map@3', 'mrr', 'mrr@2', 'P@1', 'P@3', 'P@5', 'hit@1', 'hit@2', 'hit@4', 'rprec', 'judged@3'];
    for (let c = 0; c < 150; c++) {
      const n = 1 + Math.floor(random() * 7);
      const levels = 1 + Math.floor(random() * 3);
      const run: Record<string, number> = {};
      const qrels: Record<string, number> = {};
      for (let d = 0; d < n + 2; d++) {
        if (d < n) run[`d${d}`] = Math.floor(random() * levels);
        if (random() < 0.7) qrels[`d${d}`] = Math.floor(random() * 4);
      }
      const byScore = new Map<number, string[]>();
      for (const [doc, s] of Object.entries(run)) byScore.set(s, [...(byScore.get(s) ?? []), doc]);
      const groups = [...byScore.entries()].sort((a, b) => b[0] - a[0]).map(([, docs]) => permutations(docs));
      let orderings: string[][] = [[]];
      for (const group of groups) orderings = orderings.flatMap((prefix) => group.map((order) => [...prefix, ...order]));
      const got = evaluate({ q: qrels }, { q: run }, metrics, { ties: 'average' }).perQuery;
      for (const metric of metrics) {
        const values = orderings.map((o) => naive(metric, o.map((d) => qrels[d]), Object.values(qrels)));
        const expected = values.reduce((s, v) => s + v, 0) / values.length;
        expect(got[metric].q, `case ${c} ${metric} ${JSON.stringify({ run, qrels })}`).toBeCloseTo(expected, 12);
      }
    }
  });

  it('equals the trec order when no scores tie', () => {
    const qrels = { q: { a: 3, b: 0, c: 1, e: 2 } };
    const run = { q: { a: 0.1, b: 0.7, c: 0.3, d: 0.9, f: 0.2 } };
    const metrics = ['ndcg', 'ndcg@3', 'map', 'mrr', 'P@3', 'recall@2', 'hit@2', 'rprec', 'judged@5'];
    expect(evaluate(qrels, run, metrics, { ties: 'average' })).toEqual(evaluate(qrels, run, metrics));
  });
});

describe('parseMetric', () => {
  it('parses every form to its canonical name', () => {
    expect(parseMetric('ndcg')).toEqual({ name: 'ndcg', measure: 'ndcg' });
    expect(parseMetric('ndcg@10')).toEqual({ name: 'ndcg@10', measure: 'ndcg', k: 10 });
    expect(parseMetric('map@100')).toEqual({ name: 'map@100', measure: 'map', k: 100 });
    expect(parseMetric('MRR@3')).toEqual({ name: 'mrr@3', measure: 'mrr', k: 3 });
    expect(parseMetric('p@5')).toEqual({ name: 'P@5', measure: 'P', k: 5 });
    expect(parseMetric('recall')).toEqual({ name: 'recall', measure: 'recall' });
    expect(parseMetric('hit@1')).toEqual({ name: 'hit@1', measure: 'hit', k: 1 });
    expect(parseMetric('rprec')).toEqual({ name: 'rprec', measure: 'rprec' });
    expect(parseMetric('judged@10')).toEqual({ name: 'judged@10', measure: 'judged', k: 10 });
  });

  it("accepts trec_eval's names", () => {
    expect(parseMetric('P_10').name).toBe('P@10');
    expect(parseMetric('ndcg_cut_10').name).toBe('ndcg@10');
    expect(parseMetric('map_cut_1000').name).toBe('map@1000');
    expect(parseMetric('recall_100').name).toBe('recall@100');
    expect(parseMetric('success_5').name).toBe('hit@5');
    expect(parseMetric('recip_rank').name).toBe('mrr');
    expect(parseMetric('Rprec').name).toBe('rprec');
  });

  it('lists the forms', () => {
    expect(METRIC_FORMS).toEqual(['ndcg', 'ndcg@k', 'map', 'map@k', 'mrr', 'mrr@k', 'P@k', 'recall', 'recall@k', 'hit@k', 'rprec', 'judged@k']);
    for (const form of METRIC_FORMS) expect(parseMetric(form.replace('@k', '@3')).name).toBe(form.replace('@k', '@3'));
  });
});

describe('evaluate: bad input', () => {
  const qrels = { q: { a: 1 } };
  const run = { q: { a: 1 } };

  it('ERR_FUSIONRANK_NON_FINITE for a NaN or infinite score or label', () => {
    expect(codeOf(() => evaluate(qrels, { q: { a: NaN } }, 'map'))).toBe('ERR_FUSIONRANK_NON_FINITE');
    expect(codeOf(() => evaluate(qrels, { q: { a: 1, b: Infinity } }, 'map'))).toBe('ERR_FUSIONRANK_NON_FINITE');
    expect(codeOf(() => evaluate({ q: { a: -Infinity } }, run, 'map'))).toBe('ERR_FUSIONRANK_NON_FINITE');
    // A query that is not evaluated is checked all the same.
    const error = errorOf(() => evaluate(qrels, { q: { a: 1 }, other: { b: NaN } }, 'map'));
    expect(error.code).toBe('ERR_FUSIONRANK_NON_FINITE');
    expect(error.message).toContain('run["other"]["b"]');
    expect(codeOf(() => evaluate(qrels, run, 'map', { relevanceLevel: NaN }))).toBe('ERR_FUSIONRANK_NON_FINITE');
  });

  it('ERR_FUSIONRANK_INVALID_METRIC for a name that does not parse, listing the forms', () => {
    for (const name of ['foo', 'P', 'hit', 'judged', 'rprec@5', 'ndcg_10', '@5', 'constructor@3', ' ndcg']) {
      const error = errorOf(() => evaluate(qrels, run, name));
      expect(error.code, name).toBe('ERR_FUSIONRANK_INVALID_METRIC');
      expect(error).toBeInstanceOf(RangeError);
      expect(error.message).toContain('ndcg@k, map, map@k, mrr, mrr@k, P@k, recall, recall@k, hit@k, rprec, judged@k');
    }
    const error = errorOf(() => evaluate(qrels, run, ['map', 5 as unknown as string]));
    expect(error.code).toBe('ERR_FUSIONRANK_INVALID_METRIC');
    expect(error).toBeInstanceOf(TypeError);
  });

  it('ERR_FUSIONRANK_INVALID_K for k ≤ 0 or not an integer', () => {
    for (const name of ['ndcg@0', 'P@-1', 'map@1.5', 'recall@abc', 'hit@', 'P_0', 'ndcg_cut_2.5', 'mrr@1e3', 'judged@99999999999999999'])
      expect(codeOf(() => evaluate(qrels, run, name)), name).toBe('ERR_FUSIONRANK_INVALID_K');
    expect(errorOf(() => parseMetric('ndcg@0')).message).toBe("Expected a positive integer for the cutoff k of metric 'ndcg@0' but received '0' of type string");
  });

  it('ERR_FUSIONRANK_NO_COMMON_QUERIES when qrels and run share no query', () => {
    expect(codeOf(() => evaluate({ q1: { a: 1 } }, { q2: { a: 1 } }, 'map'))).toBe('ERR_FUSIONRANK_NO_COMMON_QUERIES');
    expect(codeOf(() => evaluate({ q1: { a: 1 } }, { q2: { a: 1 } }, 'map', { queries: 'qrels' }))).toBe('ERR_FUSIONRANK_NO_COMMON_QUERIES');
    expect(codeOf(() => evaluate({}, {}, 'map'))).toBe('ERR_FUSIONRANK_NO_COMMON_QUERIES');
    // An inherited name is no query.
    expect(codeOf(() => evaluate({ constructor: { a: 1 } }, {}, 'map'))).toBe('ERR_FUSIONRANK_NO_COMMON_QUERIES');
  });

  it('ERR_FUSIONRANK_EMPTY_INPUT for an empty metric list', () => {
    expect(codeOf(() => evaluate(qrels, run, []))).toBe('ERR_FUSIONRANK_EMPTY_INPUT');
  });

  it('ERR_FUSIONRANK_INVALID_ARGUMENT for unknown option values and malformed tables', () => {
    const bad: unknown[] = [
      { gain: 'log' },
      { ties: 'random' },
      { queries: 'run' },
      { relevanceLevel: 0 },
      { relevanceLevel: -1 },
      { relevanceLevel: '1' },
      'trec',
      null,
    ];
    for (const options of bad) expect(codeOf(() => evaluate(qrels, run, 'map', options as EvaluateOptions)), JSON.stringify(options)).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(codeOf(() => evaluate(qrels, run, 5 as unknown as string))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(codeOf(() => evaluate(null as unknown as Qrels, run, 'map'))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(codeOf(() => evaluate(qrels, [] as unknown as Run, 'map'))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(codeOf(() => evaluate(qrels, { q: { a: '1' } } as unknown as Run, 'map'))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(codeOf(() => evaluate(qrels, { q: null } as unknown as Run, 'map'))).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
    // Options of other modules (compare passes its own) are ignored.
    expect(evaluate(qrels, run, 'map', { permutations: 10 } as EvaluateOptions).mean.map).toBe(1);
  });
});
