/**
 * `npx fusionrank fit-weights`: fit a ranker's late-fusion weights to qrels
 * or click logs from files (a saved catalog, the ranker's options as JSON,
 * the requests as JSON lines), print the fitted weights and the held-out
 * comparison with the current ones, and optionally write it all as JSON and
 * the ranker options with the fitted weights.
 */
import { readFile } from 'node:fs/promises';

import { type Command, InvalidArgumentError, Option } from 'commander';

import { FusionrankError } from '../errors.js';
import type { ImpressionLog } from '../eval/types.js';
import type { FitWeightsOptions, FitWeightsResult } from '../learn/weights.js';
import type { RankerOptions, RankRequest } from '../scoring/ranker.js';
import { positiveInt, seedValue } from './options.js';
import { fixed, pText, signed, textTable, writeOut } from './text.js';

// The catalog, ranker and learning modules are imported when the command
// runs: the other commands neither load them nor the native addon for them.

export interface FitWeightsCliOptions {
  catalog: string;
  ranker: string;
  requests: string;
  qrels?: string;
  clicks?: string;
  /** Comma-separated θ_1,θ_2,… or a JSON file (an array, or an object with `theta`). */
  propensities?: string;
  metric: string;
  method: 'coordinate-ascent' | 'logistic';
  split: 'time' | 'random';
  testFraction?: number;
  seed?: number;
  pool?: number;
  restarts?: number;
  allowPostFusion?: boolean;
  skipMissing?: boolean;
  json?: string;
  writeRanker?: string;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new FusionrankError(`${what} ${path}: no such file`, 'ERR_FUSIONRANK_FILE_NOT_FOUND', { cause: error });
    throw new FusionrankError(`Cannot read ${what} ${path}: ${(error as Error).message}`, 'ERR_FUSIONRANK_FILE_READ', { cause: error });
  }
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FusionrankError(`${where} is not valid JSON: ${(error as Error).message}`, 'ERR_FUSIONRANK_PARSE', { cause: error });
  }
}

/** Non-blank, non-`#` lines of a JSON-lines file, parsed, with their line numbers. */
async function jsonLines(path: string, what: string): Promise<Array<{ line: number; value: unknown }>> {
  const out: Array<{ line: number; value: unknown }> = [];
  (await readText(path, what)).split('\n').forEach((text, i) => {
    const t = text.trim();
    if (t && !t.startsWith('#')) out.push({ line: i + 1, value: parseJson(t, `${path}:${i + 1}`) });
  });
  return out;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Reads requests as JSON lines: `{"id": "q1", "query": {"text": [0.1, …], "fromHistory": ["p3"]}, "now": 1717171717000, …}`,
 * one a line. Vectors are arrays of numbers (made Float32Array); `now` is
 * epoch ms or an ISO date; `exclude`, `filter` and `k` are passed as they are.
 * @example
 * const requests = await readRequestsJsonl('requests.jsonl'); // { q1: { query: { text: Float32Array(…) }, now: … } }
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND / ERR_FUSIONRANK_FILE_READ; ERR_FUSIONRANK_PARSE for a malformed line (named by file and line)
 * @throws {FusionrankError} ERR_FUSIONRANK_DUPLICATE_NAME when two lines have the same id
 */
export async function readRequestsJsonl(path: string): Promise<Record<string, RankRequest>> {
  const out: Record<string, RankRequest> = {};
  for (const { line, value } of await jsonLines(path, 'requests')) {
    const at = `${path}:${line}`;
    const bad = (why: string): never => {
      throw new FusionrankError(`${at}: ${why}`, 'ERR_FUSIONRANK_PARSE');
    };
    if (!isObject(value)) bad('expected an object {"id": "q1", "query": {...}}');
    const v = value as Record<string, unknown>;
    const id = typeof v.id === 'number' ? String(v.id) : v.id;
    if (typeof id !== 'string' || !id) bad('"id" must be a non-empty string');
    if (Object.hasOwn(out, id as string)) throw new FusionrankError(`${at}: request id ${JSON.stringify(id)} appears twice`, 'ERR_FUSIONRANK_DUPLICATE_NAME');
    const request: RankRequest = {};
    if (v.query !== undefined) {
      if (!isObject(v.query)) bad('"query" must be an object of vectors');
      const query: NonNullable<RankRequest['query']> = {};
      for (const [name, vec] of Object.entries(v.query as Record<string, unknown>)) {
        if (name === 'fromHistory') {
          if (!Array.isArray(vec) || vec.some((x) => typeof x !== 'string')) bad('"query.fromHistory" must be an array of item ids');
          query.fromHistory = vec as string[];
        } else {
          if (!Array.isArray(vec) || vec.some((x) => typeof x !== 'number')) bad(`"query.${name}" must be an array of numbers`);
          query[name] = Float32Array.from(vec as number[]);
        }
      }
      request.query = query;
    }
    if (v.now !== undefined) {
      const now = typeof v.now === 'string' ? Date.parse(v.now) : v.now;
      if (typeof now !== 'number' || !Number.isFinite(now)) bad('"now" must be epoch milliseconds or an ISO date');
      request.now = now as number;
    }
    if (v.exclude !== undefined) request.exclude = v.exclude as string[];
    if (v.filter !== undefined) request.filter = v.filter as RankRequest['filter'];
    if (v.k !== undefined) request.k = v.k as number;
    out[id as string] = request;
  }
  return out;
}

/**
 * Reads impression logs as JSON lines: `{"query": "q1", "shown": ["p1", "p2"], "clicks": ["p2"]}`.
 * @example
 * const logs = await readImpressionsJsonl('clicks.jsonl');
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND / ERR_FUSIONRANK_FILE_READ; ERR_FUSIONRANK_PARSE for a malformed line
 */
export async function readImpressionsJsonl(path: string): Promise<ImpressionLog[]> {
  return (await jsonLines(path, 'clicks')).map(({ line, value }) => {
    if (!isObject(value) || typeof value.query !== 'string' || !Array.isArray(value.shown) || !Array.isArray(value.clicks))
      throw new FusionrankError(`${path}:${line}: expected {"query": "q1", "shown": [...], "clicks": [...]}`, 'ERR_FUSIONRANK_PARSE');
    return { query: value.query, shown: value.shown as string[], clicks: value.clicks as string[] };
  });
}

/** `--propensities`: `1,0.5,0.33` or a JSON file holding an array or `{ "theta": [...] }`. */
async function readPropensities(value: string): Promise<number[]> {
  if (/^\s*[-+0-9.eE]+(\s*,\s*[-+0-9.eE]+)*\s*$/.test(value)) return value.split(',').map(Number);
  const json = parseJson(await readText(value, '--propensities'), value);
  const theta = isObject(json) ? json.theta : json;
  if (!Array.isArray(theta)) throw new FusionrankError(`--propensities ${value}: expected a JSON array of θ or an object with "theta"`, 'ERR_FUSIONRANK_PARSE');
  return theta as number[];
}

/**
 * Reads the files and runs `fitWeights`.
 * @example
 * const fit = await runFitWeights({ catalog: 'catalog', ranker: 'ranker.json', requests: 'requests.jsonl', qrels: 'qrels.txt', metric: 'ndcg@10', method: 'coordinate-ascent', split: 'time' });
 * fit.weights; // { text: 0.6, visual: 0.3, likes: 0.1 }
 * @throws {FusionrankError} ERR_FUSIONRANK_INVALID_ARGUMENT when neither or both of --qrels and --clicks are given, or --propensities without --clicks
 * @throws whatever the readers, `Catalog.load`, `new Ranker` and `fitWeights` throw
 */
export async function runFitWeights(opts: FitWeightsCliOptions): Promise<FitWeightsResult> {
  if ((opts.qrels === undefined) === (opts.clicks === undefined))
    throw new FusionrankError('Give the labels with exactly one of --qrels <file> and --clicks <file>', 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  if (opts.propensities !== undefined && opts.clicks === undefined) throw new FusionrankError('--propensities weights clicks: give it with --clicks', 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  const [{ Catalog }, { readQrels }, { fitWeights }] = await Promise.all([import('../catalog/catalog.js'), import('../eval/readers.js'), import('../learn/weights.js')]);
  const options = parseJson(await readText(opts.ranker, '--ranker'), opts.ranker) as RankerOptions;
  if (!isObject(options)) throw new FusionrankError(`--ranker ${opts.ranker}: expected the ranker options as a JSON object { "signals": {...} }`, 'ERR_FUSIONRANK_PARSE');
  const [catalog, requests, labels] = await Promise.all([
    Catalog.load(opts.catalog),
    readRequestsJsonl(opts.requests),
    opts.qrels !== undefined ? readQrels(opts.qrels) : readImpressionsJsonl(opts.clicks!),
  ]);
  const fitOptions: FitWeightsOptions = {
    metric: opts.metric,
    method: opts.method,
    split: opts.split === 'random' ? { by: 'random', testFraction: opts.testFraction, seed: opts.seed } : { by: 'time', testFraction: opts.testFraction },
    missingLabels: opts.skipMissing ? 'skip' : 'error',
    allowPostFusion: opts.allowPostFusion === true,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.pool !== undefined ? { pool: opts.pool } : {}),
    ...(opts.restarts !== undefined ? { restarts: opts.restarts } : {}),
    ...(opts.propensities !== undefined ? { propensities: await readPropensities(opts.propensities) } : {}),
  };
  return fitWeights({ catalog, options }, requests, labels, fitOptions);
}


/**
 * The text `fusionrank fit-weights` prints: the weights (current and
 * fitted), then the metric on the train and held-out queries with the
 * held-out Δ, bootstrap CI95, randomization p and wins / ties / losses.
 * @example
 * console.log(formatFitWeights(await runFitWeights(opts)));
 * @throws never
 */
export function formatFitWeights(fit: FitWeightsResult): string {
  const p = fit.test.paired;
  const splitText = fit.split.by === 'explicit' ? 'explicit split' : `${fit.split.by} split`;
  const parts = [
    `${fit.method} on ${fit.metric} (${fit.labels}) · ${splitText}: ${fit.train.queries} train, ${fit.test.queries} held-out queries · pool ${fit.pool.size}, depth ${fit.pool.depth}`,
    '',
    textTable(
      ['signal', 'current', 'fitted'],
      Object.keys(fit.weights).map((name) => [name, fixed(fit.current[name]), fixed(fit.weights[name])]),
      new Set([1, 2]),
    ),
    '',
    `${fit.metric}`,
    textTable(
      ['queries', 'n', 'current', 'fitted', 'delta', 'CI95', 'p (randomization)', 'W/T/L'],
      [
        ['train', String(fit.train.queries), fixed(fit.train.current), fixed(fit.train.fitted), signed(fit.train.fitted - fit.train.current), '', '', ''],
        ['held-out', String(p.n), fixed(fit.test.current), fixed(fit.test.fitted), signed(p.delta), `[${signed(p.ci95[0])}, ${signed(p.ci95[1])}]`, pText(p.pRandomization), `${p.wins}/${p.ties}/${p.losses}`],
      ],
      new Set([1, 2, 3, 4]),
    ),
  ];
  if (fit.warnings.length) parts.push('', ...fit.warnings.map((w) => `warning: ${w}`));
  return parts.join('\n');
}

function fractionValue(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError('Expected a number in (0, 1).');
  return n;
}

/**
 * Registers `fusionrank fit-weights` on the program.
 * @example
 * registerFitWeights(program);
 * // npx fusionrank fit-weights --catalog catalog/ --ranker ranker.json --requests requests.jsonl --qrels qrels.txt --json fit.json
 * @throws never (the command itself reports errors on stderr and exits with code 1)
 */
export function registerFitWeights(program: Command): void {
  program
    .command('fit-weights')
    .description("fit a ranker's late-fusion weights to qrels or click logs (coordinate ascent on the metric, or pairwise logistic) and compare them with the current weights on held-out queries")
    .requiredOption('--catalog <dir>', 'a saved catalog (Catalog.save)')
    .requiredOption('--ranker <file>', 'the ranker options as JSON ({ "signals": { ... }, ... }); their weights are the current ones')
    .requiredOption('--requests <file>', 'requests as JSON lines: {"id": "q1", "query": {"text": [...]}, "now": 1717171717000}')
    .option('--qrels <file>', 'relevance judgements (TREC: query 0 doc label, or .jsonl) keyed by request id')
    .option('--clicks <file>', 'impression logs as JSON lines: {"query": "q1", "shown": [...], "clicks": [...]}')
    .option('--propensities <list|file>', 'with --clicks: θ per logged position (1,0.5,0.33 or a JSON file) for inverse propensity weighting')
    .option('--metric <name>', 'the metric to optimise and compare', 'ndcg@10')
    .addOption(new Option('--method <method>', 'how to fit').choices(['coordinate-ascent', 'logistic']).default('coordinate-ascent'))
    .addOption(new Option('--split <by>', 'train/test split: the latest requests by their "now" (time) or a seeded shuffle (random)').choices(['time', 'random']).default('time'))
    .option('--test-fraction <f>', 'share of requests held out (default 0.2)', fractionValue)
    .option('--seed <n>', 'seed of the restarts, the random split and the statistics (default 42)', seedValue)
    .option('--pool <n>', 'candidates cached per request (default max(200, k))', positiveInt)
    .option('--restarts <n>', 'coordinate-ascent restarts (default 5)', positiveInt)
    .option('--allow-post-fusion', 'fit the fused order even though the ranker has rerank, diversity or rules')
    .option('--skip-missing', 'skip requests without labels instead of failing')
    .option('--json <file>', 'write the whole result as JSON')
    .option('--write-ranker <file>', 'write the ranker options with the fitted weights as JSON')
    .action(async (opts: FitWeightsCliOptions) => {
      try {
        const fit = await runFitWeights(opts);
        console.log(formatFitWeights(fit));
        if (opts.json) {
          await writeOut(opts.json, `${JSON.stringify(fit, null, 2)}\n`, '--json');
          console.error(`wrote ${opts.json}`);
        }
        if (opts.writeRanker) {
          await writeOut(opts.writeRanker, `${JSON.stringify(fit.options, null, 2)}\n`, '--write-ranker');
          console.error(`wrote ${opts.writeRanker}`);
        }
      } catch (error) {
        const e = error as { code?: string; message?: string };
        console.error(`fusionrank fit-weights: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}`);
        process.exitCode = 1;
      }
    });
}
