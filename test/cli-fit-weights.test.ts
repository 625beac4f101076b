/**
 * `fusionrank fit-weights` end to end through bin/fusionrank.js (the
 * compiled dist/, which global-setup builds when stale: run this file
 * without FUSIONRANK_TEST_NO_BUILD, or after `npx tsc -p tsconfig.json`).
 * A tiny catalog is saved, requests and qrels written from a planted
 * ranker; the command's output must equal `fitWeights` on the same data.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { beforeAll, describe, expect, it } from 'vitest';

import { Catalog, Ranker, type RankerOptions, type RankRequest } from '../src/index.js';
import { simulateClicks } from '../src/eval/index.js';
import { fitWeights, type FitWeightsResult } from '../src/learn/index.js';
import { randomVectors, rng } from '../src/util/random.js';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const cli = join(root, 'bin', 'fusionrank.js');
const dir = mkdtempSync(join(tmpdir(), 'fusionrank-cli-fit-'));
const at = (name: string) => join(dir, name);

async function fusionrank(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cli, ...args], { cwd: dir, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const N = 80;
const DIM = 4;
const Q = 30;
const T0 = Date.UTC(2024, 5, 1);
const PLANTED = { text: 0.7, likes: 0.3 };

function rankerOptions(weights: Record<string, number>, k = 10): RankerOptions {
  return {
    retrieve: { exact: true },
    signals: { text: { kind: 'similarity', vector: 'text', weight: weights.text }, likes: { kind: 'field', field: 'likes', weight: weights.likes } },
    normalize: 'minmax',
    k,
  };
}

let catalog: Catalog;
const requests: Record<string, RankRequest> = {};
const qrelsLines: string[] = [];
const qrels: Record<string, Record<string, number>> = {};

beforeAll(async () => {
  const random = rng(21);
  catalog = new Catalog({ vectors: { text: { dim: DIM } }, fields: { likes: 'number' } });
  const vectors = randomVectors(N, DIM, random);
  catalog.upsert(Array.from({ length: N }, (_, i) => ({ id: `item${i}`, vectors: { text: vectors.subarray(i * DIM, (i + 1) * DIM) }, fields: { likes: random() } })));
  await catalog.save(at('catalog'));
  writeFileSync(at('ranker.json'), JSON.stringify(rankerOptions({ text: 0.2, likes: 0.8 })));
  const lines: string[] = [];
  const truth = new Ranker(catalog, rankerOptions(PLANTED, 10));
  for (let i = 0; i < Q; i++) {
    // ids in reverse time order, so the time split is not the id order
    const id = `r${String(Q - 1 - i).padStart(2, '0')}`;
    const text = randomVectors(1, DIM, random);
    const now = T0 + i * 60_000;
    requests[id] = { query: { text }, now };
    lines.push(JSON.stringify({ id, query: { text: [...text] }, now: i % 2 ? new Date(now).toISOString() : now }));
    qrels[id] = {};
    truth.rank(requests[id]).items.forEach((item, r) => {
      const label = r < 3 ? 2 : 1;
      qrels[id][item.id] = label;
      qrelsLines.push(`${id} 0 ${item.id} ${label}`);
    });
  }
  writeFileSync(at('requests.jsonl'), `${lines.join('\n')}\n`);
  writeFileSync(at('qrels.txt'), `${qrelsLines.join('\n')}\n`);
});

const base = () => ['fit-weights', '--catalog', at('catalog'), '--ranker', at('ranker.json'), '--requests', at('requests.jsonl')];

describe('fusionrank fit-weights', () => {
  it('fits from qrels, prints weights and the held-out comparison, writes --json and --write-ranker', async () => {
    const { code, stdout, stderr } = await fusionrank(...base(), '--qrels', at('qrels.txt'), '--json', at('fit.json'), '--write-ranker', at('fitted.json'));
    expect(stderr).toContain('wrote');
    expect(code).toBe(0);
    const fit = JSON.parse(readFileSync(at('fit.json'), 'utf8')) as FitWeightsResult;
    // The same fit in process.
    const expected = await fitWeights({ catalog, options: rankerOptions({ text: 0.2, likes: 0.8 }) }, requests, qrels, { metric: 'ndcg@10', method: 'coordinate-ascent', split: { by: 'time' }, missingLabels: 'error' });
    expect(fit.weights).toEqual(expected.weights);
    expect(fit.test.paired).toEqual(JSON.parse(JSON.stringify(expected.test.paired)));
    expect(Math.abs(fit.weights.text - PLANTED.text)).toBeLessThan(0.1);
    // The latest 20 % by `now` (epoch ms or ISO date): the first six ids in reverse.
    expect(fit.split.test).toEqual(['r05', 'r04', 'r03', 'r02', 'r01', 'r00']);
    expect(fit.test.fitted).toBeGreaterThan(fit.test.current);
    const fitted = JSON.parse(readFileSync(at('fitted.json'), 'utf8')) as RankerOptions;
    expect(fitted.signals.text.weight).toBe(fit.weights.text);
    expect(fitted.normalize).toBe('minmax');
    // The printed tables.
    expect(stdout).toMatch(/coordinate-ascent on ndcg@10 \(qrels\) · time split: 24 train, 6 held-out queries/);
    expect(stdout).toMatch(new RegExp(`text\\s+0\\.2000\\s+${fit.weights.text.toFixed(4)}`));
    expect(stdout).toMatch(new RegExp(`held-out\\s+6\\s+${fit.test.current.toFixed(4)}\\s+${fit.test.fitted.toFixed(4)}`));
  });

  it('fits from click logs with propensities (IPS) and the logistic method', async () => {
    const logger = new Ranker(catalog, rankerOptions({ text: 0.2, likes: 0.8 }, 10));
    const lists = Object.entries(requests).flatMap(([query, request]) => {
      const shown = logger.rank(request).items.map((item) => item.id);
      return Array.from({ length: 5 }, () => ({ query, shown }));
    });
    const logs = simulateClicks(lists, { theta: Array.from({ length: 10 }, (_, j) => 1 / (j + 1)), attractiveness: (q, d) => (qrels[q][d] ?? 0) * 0.4 + 0.02, seed: 3 });
    writeFileSync(at('clicks.jsonl'), logs.map((l) => JSON.stringify(l)).join('\n'));
    writeFileSync(at('theta.json'), JSON.stringify({ theta: Array.from({ length: 10 }, (_, j) => 1 / (j + 1)) }));
    const { code, stdout } = await fusionrank(...base(), '--clicks', at('clicks.jsonl'), '--propensities', at('theta.json'), '--method', 'logistic', '--split', 'random', '--json', at('clicks.json'));
    expect(code).toBe(0);
    expect(stdout).toMatch(/logistic on ndcg@10 \(ips-clicks\) · random split/);
    const fit = JSON.parse(readFileSync(at('clicks.json'), 'utf8')) as FitWeightsResult;
    expect(fit.labels).toBe('ips-clicks');
    expect(fit.pool.meanCandidates).toBe(10);
    const list = await fusionrank(...base(), '--clicks', at('clicks.jsonl'), '--propensities', '1,0.5,0.3333,0.25,0.2,0.1667,0.1429,0.125,0.1111,0.1');
    expect(list.code).toBe(0);
  });

  it('reports bad input with its code and exits 1', async () => {
    const none = await fusionrank(...base());
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/ERR_FUSIONRANK_INVALID_ARGUMENT: Give the labels with exactly one of --qrels/);
    writeFileSync(at('partial.txt'), qrelsLines.filter((l) => !l.startsWith('r07 ')).join('\n'));
    const missing = await fusionrank(...base(), '--qrels', at('partial.txt'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ERR_FUSIONRANK_MISSING_LABELS: 1 of 30 requests have no qrels: "r07"/);
    const skipped = await fusionrank(...base(), '--qrels', at('partial.txt'), '--skip-missing');
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).toMatch(/warning: 1 requests without qrels skipped/);
    const metric = await fusionrank(...base(), '--qrels', at('qrels.txt'), '--metric', 'bleu');
    expect(metric.stderr).toMatch(/ERR_FUSIONRANK_INVALID_METRIC/);
    const theta = await fusionrank(...base(), '--clicks', at('clicks.jsonl'), '--propensities', '1,-0.5');
    expect(theta.stderr).toMatch(/ERR_FUSIONRANK_INVALID_ARGUMENT/);
    writeFileSync(at('bad.jsonl'), '{"id": "a", "query": {"text": [1, 2, "x", 4]}}\n');
    const bad = await fusionrank('fit-weights', '--catalog', at('catalog'), '--ranker', at('ranker.json'), '--requests', at('bad.jsonl'), '--qrels', at('qrels.txt'));
    expect(bad.stderr).toMatch(/ERR_FUSIONRANK_PARSE: .*bad\.jsonl:1: "query\.text" must be an array of numbers/);
  });
});
