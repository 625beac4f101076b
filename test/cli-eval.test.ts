/**
 * `fusionrank eval` end to end through bin/fusionrank.js (the compiled
 * dist/, which global-setup builds when stale: run this file without
 * FUSIONRANK_TEST_NO_BUILD). The expected values are worked out by hand
 * below, not by the code under test.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const cli = join(root, 'bin', 'fusionrank.js');
const dir = mkdtempSync(join(tmpdir(), 'fusionrank-cli-eval-'));

async function fusionrank(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cli, ...args], { cwd: dir, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** TREC run lines from { query: [doc, score][] }. */
function trecRun(tag: string, run: Record<string, [string, number][]>): string {
  return Object.entries(run)
    .flatMap(([q, docs]) => docs.map(([doc, score], i) => `${q} Q0 ${doc} ${i + 1} ${score} ${tag}`))
    .join('\n');
}

// Two queries. Relevant (label ≥ 1): q1 {d1, d3}; q2 {d4 (2), d6 (1)}.
const QRELS = ['q1 0 d1 1', 'q1 0 d2 0', 'q1 0 d3 1', 'q2 0 d4 2', 'q2 0 d5 0', 'q2 0 d6 1'].join('\n');
// bm25   q1: d2 d1 d3 → P@2 1/2, RR 1/2, AP (1/2 + 2/3)/2 = 7/12
//        q2: d4 d5 d6 → P@2 1/2, RR 1,   AP (1 + 2/3)/2 = 5/6
// dense  q1: d1 d3 d2 → P@2 1,   RR 1,   AP 1
//        q2: d5 d4 d6 → P@2 1/2, RR 1/2, AP (1/2 + 2/3)/2 = 7/12
// hybrid q1: d3 d1 d2 → P@2 1, RR 1, AP 1;  q2: d4 d6 d5 → P@2 1, RR 1, AP 1
const BM25 = trecRun('bm25', { q1: [['d2', 3], ['d1', 2], ['d3', 1]], q2: [['d4', 3], ['d5', 2], ['d6', 1]] });
const DENSE = trecRun('dense', { q1: [['d1', 0.9], ['d3', 0.8], ['d2', 0.1]], q2: [['d5', 0.9], ['d4', 0.5], ['d6', 0.4]] });
const HYBRID = trecRun('hybrid', { q1: [['d3', 5], ['d1', 4], ['d2', 1]], q2: [['d4', 1], ['d6', 0.5], ['d5', 0.2]] });

const EXPECTED_MEAN: Record<string, Record<string, number>> = {
  bm25: { 'P@2': 0.5, mrr: 0.75, map: (7 / 12 + 5 / 6) / 2 },
  dense: { 'P@2': 0.75, mrr: 0.75, map: (1 + 7 / 12) / 2 },
  hybrid: { 'P@2': 1, mrr: 1, map: 1 },
};
// Per query Δ against bm25 → wins / ties / losses.
const EXPECTED_WTL: Record<string, Record<string, [number, number, number]>> = {
  dense: { 'P@2': [1, 1, 0], mrr: [1, 0, 1], map: [1, 0, 1] },
  hybrid: { 'P@2': [2, 0, 0], mrr: [1, 1, 0], map: [2, 0, 0] },
};
// dense vs bm25 rankings: q1 d2 d1 d3 / d1 d3 d2: tau (1 − 2)/3, moved (2 + 1 + 1)/3;
// q2 d4 d5 d6 / d5 d4 d6: tau (2 − 1)/3, moved (1 + 1 + 0)/3. Means: tau 0, moved 1, top-1 0, overlap 1.
// hybrid vs bm25: top-1 differs on q1, same on q2 → 0.5.

function writeInputs(): { qrels: string; bm25: string; dense: string; other: string } {
  const files = { qrels: join(dir, 'qrels.txt'), bm25: join(dir, 'bm25.trec'), dense: join(dir, 'dense.run'), other: join(dir, 'other.txt') };
  writeFileSync(files.qrels, QRELS);
  writeFileSync(files.bm25, BM25);
  writeFileSync(files.dense, DENSE);
  writeFileSync(files.other, HYBRID);
  return files;
}

describe('fusionrank eval', () => {
  it('prints a table per metric and the agreement; --json holds the hand-computed means, deltas and rows; --report writes every plot', async () => {
    const f = writeInputs();
    const json = join(dir, 'out.json');
    const report = join(dir, 'report.html');
    const { code, stdout, stderr } = await fusionrank(
      'eval', '--qrels', f.qrels, f.bm25, f.dense, `hybrid=${f.other}`,
      '--metrics', 'P@2,mrr,map', '--json', json, '--report', report, '--permutations', '200', '--seed', '7', '--k-curve', '1,2,3',
    );
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(code).toBe(0);

    // The printed tables.
    expect(stdout).toContain('baseline bm25');
    const block = (metric: string) => stdout.split(/\n\n/).find((b) => b.startsWith(`${metric}\n`))!;
    expect(block('P@2')).toMatch(/bm25\s+0\.5000\s+baseline/);
    expect(block('P@2')).toMatch(/dense\s+0\.7500\s+\+0\.2500\s+\[.*\]\s+\S+.*1\/1\/0\s+2/);
    expect(block('P@2')).toMatch(/hybrid\s+1\.0000\s+\+0\.5000\s.*2\/0\/0\s+2/);
    expect(block('mrr')).toMatch(/dense\s+0\.7500\s+\+0\.0000\s.*1\/0\/1/);
    expect(block('map')).toMatch(/dense\s+0\.7917\s+\+0\.0833\s.*1\/0\/1/);
    expect(block('map')).toMatch(/hybrid\s+1\.0000\s+\+0\.2917\s/);
    const agreementBlock = stdout.split(/\n\n/).find((b) => b.startsWith('agreement with bm25'))!;
    expect(agreementBlock).toMatch(/tau\s+RBO\s+overlap\s+top-1 same\s+positions moved/);
    expect(agreementBlock).toMatch(/dense\s+2\s+-?0\.000\s+\S+\s+1\.000\s+0\.0%\s+1\.00/);
    expect(agreementBlock).toMatch(/hybrid\s+2\s+\S+\s+\S+\s+1\.000\s+50\.0%/);

    // The JSON.
    const out = JSON.parse(readFileSync(json, 'utf8'));
    expect(out.baseline).toBe('bm25');
    expect(out.metrics).toEqual(['P@2', 'mrr', 'map']);
    expect(out.qrels).toEqual({ path: f.qrels, queries: 2 });
    expect(out.options).toMatchObject({ correction: 'holm', permutations: 200, seed: 7, kCurve: [1, 2, 3] });
    expect(out.runs.map((r: { name: string; path: string }) => [r.name, r.path])).toEqual([['bm25', f.bm25], ['dense', f.dense], ['hybrid', f.other]]);
    for (const run of out.runs) {
      for (const [metric, value] of Object.entries(EXPECTED_MEAN[run.name])) expect(run.mean[metric], `${run.name} ${metric}`).toBeCloseTo(value, 10);
      expect(Object.keys(run.perQuery['P@2']).sort()).toEqual(['q1', 'q2']);
      expect(run.curves.P.map((p: { k: number }) => p.k)).toEqual([1, 2, 3]);
    }
    expect(out.runs[0].perQuery.map).toEqual({ q1: expect.closeTo(7 / 12, 10), q2: expect.closeTo(5 / 6, 10) });
    // P@k curve of dense: q1 d1 d3 d2 → 1, 1, 2/3; q2 d5 d4 d6 → 0, 1/2, 2/3.
    expect(out.runs[1].curves.P.map((p: { value: number }) => p.value)).toEqual([expect.closeTo(0.5, 10), expect.closeTo(0.75, 10), expect.closeTo(2 / 3, 10)]);

    expect(out.comparisons).toHaveLength(2 * 3);
    for (const row of out.comparisons) {
      expect(row.baseline).toBe('bm25');
      expect(row.n).toBe(2);
      expect(row.delta, `${row.run} ${row.metric}`).toBeCloseTo(EXPECTED_MEAN[row.run][row.metric] - EXPECTED_MEAN.bm25[row.metric], 10);
      expect(row.meanA).toBeCloseTo(EXPECTED_MEAN.bm25[row.metric], 10);
      expect(row.meanB).toBeCloseTo(EXPECTED_MEAN[row.run][row.metric], 10);
      expect([row.wins, row.ties, row.losses], `${row.run} ${row.metric}`).toEqual(EXPECTED_WTL[row.run][row.metric]);
      expect(row.ci95).toHaveLength(2);
      expect(row.pAdjusted).toBeGreaterThanOrEqual(row.pRandomization);
      expect(row.pAdjusted).toBeLessThanOrEqual(1);
    }
    expect(out.comparisons.map((r: { run: string; metric: string }) => `${r.run} ${r.metric}`)).toEqual(['dense P@2', 'dense mrr', 'dense map', 'hybrid P@2', 'hybrid mrr', 'hybrid map']);

    expect(out.agreement.map((a: { run: string }) => a.run)).toEqual(['dense', 'hybrid']);
    const [dense, hybrid] = out.agreement;
    expect(dense).toMatchObject({ baseline: 'bm25', queries: 2, kendallTau: expect.closeTo(0, 10), overlap: 1, top1: 0, positionsMoved: expect.closeTo(1, 10) });
    expect(dense.perQuery.q1.kendallTau).toBeCloseTo(-1 / 3, 10);
    expect(hybrid).toMatchObject({ top1: 0.5, overlap: 1 });

    // The report.
    expect(stderr).toContain(`wrote ${report}`);
    const html = readFileSync(report, 'utf8');
    for (const plot of ['ci-forest', 'delta-histogram', 'k-curves', 'agreement']) expect(html).toMatch(new RegExp(`<figure data-plot="${plot}"[^>]*><svg[^>]*>[\\s\\S]*?role-mark`));
    expect(html).not.toMatch(/<script\b/i);
    expect(html).toContain('hybrid');
  });

  it('defaults: baseline the first run, ndcg@10/map/mrr; --baseline picks another; one run prints its means', async () => {
    const f = writeInputs();
    const plain = await fusionrank('eval', '--qrels', f.qrels, f.dense, f.bm25);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toContain('baseline dense');
    expect(plain.stdout.split(/\n\n/).map((b) => b.split('\n')[0])).toEqual([expect.stringContaining('qrels'), 'ndcg@10', 'map', 'mrr', 'agreement with dense (whole rankings)']);

    const other = await fusionrank('eval', '--qrels', f.qrels, f.bm25, f.dense, '--baseline', 'dense', '--metrics', 'P@2', '--permutations', '100');
    expect(other.code).toBe(0);
    expect(other.stdout).toMatch(/bm25\s+0\.5000\s+-0\.2500/);

    const single = await fusionrank('eval', '--qrels', f.qrels, f.bm25, '--metrics', 'P@2,map');
    expect(single.code).toBe(0);
    expect(single.stdout).toMatch(/bm25\s+0\.5000\s+baseline/);
    expect(single.stdout).not.toContain('agreement');
  });

  it('bad input: exit 1 with the coded error, no stack trace', async () => {
    const f = writeInputs();
    const noStack = (r: { stderr: string }) => expect(r.stderr).not.toMatch(/\n\s+at /);

    const metric = await fusionrank('eval', '--qrels', f.qrels, f.bm25, f.dense, '--metrics', 'ndcg@10,bogus@3');
    expect(metric.code).toBe(1);
    expect(metric.stderr).toContain('ERR_FUSIONRANK_INVALID_METRIC');
    expect(metric.stderr).toContain('bogus@3');
    noStack(metric);

    const badQrels = join(dir, 'bad-qrels.txt');
    writeFileSync(badQrels, ['q1 0 d1 1', 'q1 0 d2 0', 'q1 0 d3', 'q2 0 d4 2'].join('\n'));
    const malformed = await fusionrank('eval', '--qrels', badQrels, f.bm25, f.dense, '--metrics', 'P@2');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/^fusionrank eval: ERR_FUSIONRANK_\w+: /);
    expect(malformed.stderr).toContain('bad-qrels.txt');
    expect(malformed.stderr).toMatch(/line 3\b|:3\b/);
    noStack(malformed);

    const missing = await fusionrank('eval', '--qrels', f.qrels, f.bm25, join(dir, 'nope.trec'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^fusionrank eval: ERR_FUSIONRANK_\w+: .*nope\.trec/);
    noStack(missing);

    const baseline = await fusionrank('eval', '--qrels', f.qrels, f.bm25, f.dense, '--baseline', 'bm2');
    expect(baseline).toMatchObject({ code: 1, stderr: expect.stringContaining("--baseline 'bm2' is not one of the runs: 'bm25', 'dense'") });

    mkdirSync(join(dir, 'again'), { recursive: true });
    writeFileSync(join(dir, 'again', 'bm25.trec'), BM25);
    const duplicate = await fusionrank('eval', '--qrels', f.qrels, f.bm25, join(dir, 'again', 'bm25.trec'));
    expect(duplicate).toMatchObject({ code: 1, stderr: expect.stringContaining('ERR_FUSIONRANK_DUPLICATE_NAME') });

    const json = await fusionrank('eval', '--qrels', f.qrels, f.bm25, f.dense, '--json', join(dir, 'no-such-dir', 'out.json'));
    expect(json).toMatchObject({ code: 1, stderr: expect.stringContaining('ERR_FUSIONRANK_IO') });

    expect(await fusionrank('eval', f.bm25)).toMatchObject({ code: 1, stderr: expect.stringContaining("required option '--qrels <file>'") });
    expect(await fusionrank('eval', '--qrels', f.qrels, f.bm25, '--permutations', '0')).toMatchObject({ code: 1, stderr: expect.stringContaining('positive integer') });
  });

  it('without vega installed, --report fails with ERR_FUSIONRANK_MISSING_DEPENDENCY naming both packages', async () => {
    // The compiled report and what it imports, copied where no node_modules can be found.
    const bare = mkdtempSync(join(tmpdir(), 'fusionrank-no-vega-'));
    const dist = join(root, 'dist', 'src');
    for (const file of ['errors.js', 'util/optional.js', 'eval/report.js']) {
      mkdirSync(join(bare, file, '..'), { recursive: true });
      cpSync(join(dist, file), join(bare, file));
    }
    writeFileSync(join(bare, 'package.json'), '{ "type": "module" }');
    expect(existsSync(join(bare, 'node_modules'))).toBe(false);
    const script = `
      const { renderReport } = await import('./eval/report.js');
      try {
        await renderReport({ baseline: 'a', runs: ['a'], metrics: ['map'], means: {}, perQuery: {}, rows: [], agreement: {} });
        console.log(JSON.stringify({ ok: true }));
      } catch (e) {
        console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message }));
      }`;
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: bare, timeout: 30_000 });
    const result = JSON.parse(stdout);
    expect(result).toMatchObject({ name: 'FusionrankError', code: 'ERR_FUSIONRANK_MISSING_DEPENDENCY' });
    expect(result.message).toContain('npm install vega vega-lite');
  });
});
