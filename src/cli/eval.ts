/**
 * `npx fusionrank eval --qrels <file> <run...>`: score runs against
 * relevance judgements, compare each with a baseline (Δ, bootstrap CI95,
 * Holm-adjusted randomization p, wins / ties / losses), measure how much
 * their rankings agree with the baseline's, and optionally write it all as
 * JSON (--json) and as a self-contained HTML report (--report).
 */
import { existsSync } from 'node:fs';
import { basename, extname } from 'node:path';

import { type Command, InvalidArgumentError, Option } from 'commander';

import { FusionrankError, rangeError } from '../errors.js';
import type { ReportData } from '../eval/report.js';
import type { AgreementResult, CompareRow, MetricName, Run } from '../eval/types.js';
import { positiveInt, seedValue } from './options.js';
import { finite, fixed, pText, signed, textTable, writeOut } from './text.js';

// The evaluation modules are imported when the command runs, so the other
// commands neither load them nor depend on them.

/** The measures of the metric@k curves. */
const CURVE_MEASURES = ['P', 'recall', 'ndcg'] as const;
const DEFAULT_K_CURVE = [1, 3, 5, 10, 20, 50, 100];

export interface EvalCliOptions {
  qrels: string;
  metrics: MetricName[];
  baseline?: string;
  json?: string;
  report?: string;
  title?: string;
  permutations?: number;
  bootstrap?: number;
  seed?: number;
  /** Cutoffs of the metric@k curves; false: none. */
  kCurve: number[] | false;
  /** Agreement over each ranking's top k (default: the whole lists). */
  agreementK?: number;
}

/** One run as `--json` writes it. */
export interface EvalRunOutput {
  name: string;
  path: string;
  /** Queries in the run file. */
  queries: number;
  mean: Record<MetricName, number>;
  perQuery: Record<MetricName, Record<string, number>>;
  /** `curves[measure]`: the measure's mean at each cutoff of --k-curve. */
  curves: Record<string, { k: number; value: number }[]>;
}

/** What `fusionrank eval --json` writes. */
export interface EvalOutput {
  qrels: { path: string; queries: number };
  baseline: string;
  metrics: MetricName[];
  options: { correction: 'holm'; test: 'randomization'; permutations: number | null; bootstrap: number | null; seed: number | null; kCurve: number[]; agreementK: number | null };
  runs: EvalRunOutput[];
  /** One row per non-baseline run × metric, as `compare` returns them. */
  comparisons: CompareRow[];
  /** The agreement of each non-baseline run with the baseline. */
  agreement: (AgreementResult & { run: string; baseline: string })[];
}

function metricList(value: string): MetricName[] {
  const metrics = value.split(',').map((m) => m.trim());
  if (metrics.some((m) => !m)) throw new InvalidArgumentError('Expected comma-separated metric names such as ndcg@10,map,mrr.');
  return metrics;
}

function cutoffList(value: string): number[] {
  const ks = value.split(',').map((k) => k.trim());
  if (ks.some((k) => !/^\d+$/.test(k) || Number(k) < 1)) throw new InvalidArgumentError('Expected comma-separated cutoffs ≥ 1 such as 1,3,5,10,20.');
  return [...new Set(ks.map(Number))].sort((a, b) => a - b);
}

/**
 * A run argument as name and path: `name=path` names it; otherwise the name
 * is the file's base name without its extension. An argument that is an
 * existing file is always a path, even with a `=` in it.
 * @example
 * runSpec('runs/bm25.trec'); // { name: 'bm25', path: 'runs/bm25.trec' }
 * runSpec('dense=out/run.txt'); // { name: 'dense', path: 'out/run.txt' }
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when the name or the path is empty
 */
export function runSpec(arg: string): { name: string; path: string } {
  const eq = arg.indexOf('=');
  if (eq >= 0 && !existsSync(arg)) {
    const name = arg.slice(0, eq);
    const path = arg.slice(eq + 1);
    if (!name || !path) throw rangeError(`Run argument '${arg}' is neither a file nor name=path`, 'ERR_FUSIONRANK_INVALID_ARGUMENT');
    return { name, path };
  }
  const name = basename(arg, extname(arg));
  if (!name) throw rangeError(`Run argument '${arg}' has no file name to name the run by; give name=path`, 'ERR_FUSIONRANK_INVALID_ARGUMENT');
  return { name, path: arg };
}

/**
 * Reads the qrels and runs and computes everything `fusionrank eval` shows.
 * @example
 * const out = await runEval(['bm25.trec', 'dense.trec'], { qrels: 'qrels.txt', metrics: ['ndcg@10', 'map'], kCurve: [1, 5, 10] });
 * out.comparisons[0].pAdjusted;
 * @throws {RangeError} ERR_FUSIONRANK_INVALID_METRIC for an unknown metric name
 * @throws {FusionrankError} what `readQrels` / `readRun` throw for a missing file or a malformed line (the message names the file and line)
 * @throws {RangeError} ERR_FUSIONRANK_DUPLICATE_NAME when two runs get the same name; ERR_FUSIONRANK_INVALID_ARGUMENT when --baseline is not a run's name
 * @throws whatever `evaluate`, `compare` and `agreement` throw (e.g. ERR_FUSIONRANK_NO_COMMON_QUERIES)
 */
export async function runEval(runArgs: string[], opts: EvalCliOptions): Promise<EvalOutput> {
  const [{ evaluate, parseMetric }, { readQrels, readRun }, { compare }, { agreement }] = await Promise.all([
    import('../eval/metrics.js'),
    import('../eval/readers.js'),
    import('../eval/stats.js'),
    import('../eval/agreement.js'),
  ]);
  // Bad metric names fail before any file is read. Results are keyed by the
  // canonical names (P_10 → P@10, recip_rank → mrr), so those are used throughout.
  const metrics = [...new Set(opts.metrics.map((metric) => parseMetric(metric).name))];
  const specs = runArgs.map(runSpec);
  const names = specs.map((s) => s.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined)
    throw rangeError(`Two runs are named '${duplicate}'; name them apart with name=path (e.g. ${duplicate}-2=${specs[names.lastIndexOf(duplicate)].path})`, 'ERR_FUSIONRANK_DUPLICATE_NAME');
  const baseline = opts.baseline ?? names[0];
  if (!names.includes(baseline))
    throw rangeError(`--baseline '${baseline}' is not one of the runs: ${names.map((n) => `'${n}'`).join(', ')}`, 'ERR_FUSIONRANK_INVALID_ARGUMENT');

  const [qrels, ...loaded] = await Promise.all([readQrels(opts.qrels), ...specs.map((s) => readRun(s.path))]);
  const runs: Record<string, Run> = Object.fromEntries(names.map((name, i) => [name, loaded[i]]));

  const kCurve = opts.kCurve === false ? [] : opts.kCurve;
  const curveMetrics = CURVE_MEASURES.flatMap((measure) => kCurve.map((k) => `${measure}@${k}`));
  const outputs: EvalRunOutput[] = specs.map(({ name, path }) => {
    const run = runs[name];
    const { mean, perQuery } = evaluate(qrels, run, metrics);
    const curves: EvalRunOutput['curves'] = {};
    if (curveMetrics.length) {
      const at = evaluate(qrels, run, curveMetrics).mean;
      for (const measure of CURVE_MEASURES) curves[measure] = kCurve.map((k) => ({ k, value: at[`${measure}@${k}`] }));
    }
    return { name, path, queries: Object.keys(run).length, mean, perQuery, curves };
  });

  const comparisons =
    names.length > 1 ? compare(qrels, runs, { baseline, metrics, correction: 'holm', test: 'randomization', permutations: opts.permutations, bootstrap: opts.bootstrap, seed: opts.seed }) : [];
  const agreements = names
    .filter((name) => name !== baseline)
    .map((name) => ({ run: name, baseline, ...agreement(runs[baseline], runs[name], opts.agreementK === undefined ? {} : { k: opts.agreementK }) }));

  return {
    qrels: { path: opts.qrels, queries: Object.keys(qrels).length },
    baseline,
    metrics,
    options: {
      correction: 'holm',
      test: 'randomization',
      permutations: opts.permutations ?? null,
      bootstrap: opts.bootstrap ?? null,
      seed: opts.seed ?? null,
      kCurve,
      agreementK: opts.agreementK ?? null,
    },
    runs: outputs,
    comparisons,
    agreement: agreements,
  };
}

/**
 * The report's data from `runEval`'s output.
 * @example
 * const html = await renderReport(reportData(await runEval(args, opts), 'My runs'));
 * @throws never
 */
export function reportData(out: EvalOutput, title?: string): ReportData {
  const byName = <T>(pick: (r: EvalRunOutput) => T): Record<string, T> => Object.fromEntries(out.runs.map((r) => [r.name, pick(r)]));
  const curves = out.runs.some((r) => Object.keys(r.curves).length) ? byName((r) => r.curves) : undefined;
  return {
    ...(title === undefined ? {} : { title }),
    baseline: out.baseline,
    metrics: out.metrics,
    runs: out.runs.map((r) => r.name),
    means: byName((r) => r.mean),
    perQuery: byName((r) => r.perQuery),
    rows: out.comparisons,
    agreement: Object.fromEntries(out.agreement.map(({ run, baseline: _baseline, ...rest }) => [run, rest as AgreementResult])),
    ...(curves ? { curves } : {}),
  };
}

// ---------------------------------------------------------------- text tables


/**
 * `runEval`'s output as the text `fusionrank eval` prints: per metric a row
 * per run with mean, Δ to the baseline, CI95, Holm-adjusted p, wins / ties /
 * losses; then the agreement of each run with the baseline.
 * @example
 * console.log(formatEval(await runEval(args, opts)));
 * @throws never
 */
export function formatEval(out: EvalOutput): string {
  const rows = new Map(out.comparisons.map((r) => [`${r.metric}\u0000${r.run}`, r]));
  const order = [out.baseline, ...out.runs.map((r) => r.name).filter((n) => n !== out.baseline)];
  const runsByName = new Map(out.runs.map((r) => [r.name, r]));
  const parts: string[] = [];
  const tests = out.comparisons.length;
  parts.push(
    `qrels ${out.qrels.path} (${out.qrels.queries} queries) · ${out.runs.length} run${out.runs.length === 1 ? '' : 's'} · baseline ${out.baseline}` +
      (tests ? ` · p: randomization test, Holm-adjusted over ${tests} comparison${tests === 1 ? '' : 's'} (* p < 0.05)` : ''),
  );
  for (const metric of out.metrics) {
    const body = order.map((name) => {
      const mean = fixed(runsByName.get(name)!.mean[metric]);
      if (name === out.baseline) return [name, mean, 'baseline', '', '', '', ''];
      const r = rows.get(`${metric}\u0000${name}`);
      if (!r) return [name, mean, '-', '-', '-', '-', '-'];
      return [name, mean, signed(r.delta), `[${signed(r.ci95[0])}, ${signed(r.ci95[1])}]`, pText(r.pAdjusted), `${r.wins}/${r.ties}/${r.losses}`, String(r.n)];
    });
    parts.push(`\n${metric}\n${textTable(['run', 'mean', 'delta', 'CI95', 'p (Holm)', 'W/T/L', 'n'], body, new Set([1, 2, 6]))}`);
  }
  if (out.agreement.length) {
    const body = out.agreement.map((a) => [a.run, String(a.queries), fixed(a.kendallTau, 3), fixed(a.rbo, 3), fixed(a.overlap, 3), finite(a.top1) ? `${(a.top1 * 100).toFixed(1)}%` : '-', fixed(a.positionsMoved, 2)]);
    const depth = out.options.agreementK === null ? 'whole rankings' : `top ${out.options.agreementK}`;
    parts.push(`\nagreement with ${out.baseline} (${depth})\n${textTable(['run', 'queries', 'tau', 'RBO', 'overlap', 'top-1 same', 'positions moved'], body, new Set([1, 2, 3, 4, 5, 6]))}`);
  }
  return parts.join('\n');
}

/**
 * Registers `fusionrank eval` on the program.
 * @example
 * registerEval(program);
 * // npx fusionrank eval --qrels qrels.txt bm25.trec dense.trec --metrics ndcg@10,map --report report.html
 * @throws never (the command itself reports errors on stderr and exits with code 1)
 */
export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('score runs against qrels, compare them with a baseline (delta, CI95, Holm-adjusted p, wins/ties/losses) and their rankings\' agreement; --json and an offline HTML --report')
    .argument('<runs...>', 'run files (TREC: query Q0 doc rank score tag, or .jsonl); name=path to name one (default: the file name without extension)')
    .requiredOption('--qrels <file>', 'relevance judgements (TREC: query 0 doc label, or .jsonl)')
    .addOption(new Option('--metrics <list>', 'comma-separated metrics (ndcg, ndcg@k, map, mrr, P@k, recall@k, hit@k, rprec, …; trec_eval names too)').argParser(metricList).default(['ndcg@10', 'map', 'mrr'], 'ndcg@10,map,mrr'))
    .option('--baseline <name>', 'the run the others are compared with (default: the first)')
    .option('--json <file>', 'write everything as JSON')
    .option('--report <file>', 'write a self-contained HTML report (needs vega and vega-lite)')
    .option('--title <text>', "the report's title")
    .option('--permutations <n>', 'randomization-test permutations (default 10000)', positiveInt)
    .option('--bootstrap <n>', 'bootstrap resamples of the CI (default 10000)', positiveInt)
    .option('--seed <n>', 'seed of the permutations and resamples (default 42)', seedValue)
    .addOption(new Option('--k-curve <list>', 'cutoffs of the P/recall/ndcg@k curves').argParser(cutoffList).default(DEFAULT_K_CURVE, DEFAULT_K_CURVE.join(',')))
    .option('--no-k-curve', 'no metric@k curves')
    .option('--agreement-k <k>', "compare each ranking's top k only (default: whole rankings)", positiveInt)
    .action(async (runArgs: string[], opts: EvalCliOptions) => {
      try {
        const out = await runEval(runArgs, opts);
        console.log(formatEval(out));
        if (opts.json) {
          await writeOut(opts.json, `${JSON.stringify(out, null, 2)}\n`, '--json');
          console.error(`wrote ${opts.json}`);
        }
        if (opts.report) {
          const { renderReport } = await import('../eval/report.js');
          await writeOut(opts.report, await renderReport(reportData(out, opts.title)), '--report');
          console.error(`wrote ${opts.report}`);
        }
      } catch (error) {
        const e = error as { code?: string; message?: string };
        console.error(`fusionrank eval: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}`);
        process.exitCode = 1;
      }
    });
}
