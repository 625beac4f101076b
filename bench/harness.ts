/**
 * Shared bench plumbing: configuration from the CLI / environment, seeded
 * inputs, tinybench runs with p50/p95/p99, and table output.
 */
import { Bench } from 'tinybench';

export interface BenchConfig {
  /** RNG seed for generated inputs (FUSIONRANK_BENCH_SEED). */
  seed: number;
  /** Time budget per case in ms (FUSIONRANK_BENCH_TIME). */
  timeMs: number;
  /** Smaller inputs and budgets, for smoke runs. */
  quick: boolean;
  /** Free-form size overrides, e.g. { items: 1000000 }. */
  sizes: Record<string, number>;
}

export interface CaseResult {
  suite: string;
  name: string;
  /** Latency percentiles in microseconds. */
  p50Us: number;
  p95Us: number;
  p99Us: number;
  opsPerSec: number;
  samples: number;
  /** Extra per-case figures (bytes, GFLOP/s, ratios...). */
  extra?: Record<string, number | string>;
}

export interface SuiteReport {
  suite: string;
  cases: CaseResult[];
  /** Derived figures: ratios to peers and probes, target checks. */
  summary: Array<Record<string, string | number | boolean>>;
  notes: string[];
}

export type Suite = (config: BenchConfig) => Promise<SuiteReport>;

export function configFromEnv(overrides: Partial<BenchConfig> = {}): BenchConfig {
  return {
    seed: Number(process.env.FUSIONRANK_BENCH_SEED ?? 42),
    timeMs: Number(process.env.FUSIONRANK_BENCH_TIME ?? 1000),
    quick: process.env.FUSIONRANK_BENCH_QUICK === '1',
    sizes: {},
    ...overrides,
  };
}

export { randomVectors, rng } from '../src/util/random.js';

/**
 * Event-loop delay from a `monitorEventLoopDelay` histogram, in ms: the
 * percentile minus the sampling interval. The histogram records the time
 * between consecutive timer callbacks, so an idle loop sampled every 1 ms
 * reads about 1 ms; the delay is how late the callback ran beyond that (what
 * Elastic's APM agent and @fastify/under-pressure report).
 */
export function loopDelayMs(histogram: { percentile(p: number): number }, resolutionMs: number, p: number): number {
  return Math.max(0, histogram.percentile(p) / 1e6 - resolutionMs);
}

/** k distinct row ids from [0, n), in random order. */
export function randomRows(n: number, k: number, random: () => number): Uint32Array {
  const picked = new Set<number>();
  while (picked.size < Math.min(k, n)) picked.add(Math.floor(random() * n));
  return Uint32Array.from(picked);
}

function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const idx = (sorted.length - 1) * p;
  const lo = Math.floor(idx), hi = Math.ceil(idx);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (idx - lo);
}

export interface CaseSpec {
  name: string;
  fn: () => unknown | Promise<unknown>;
  extra?: Record<string, number | string>;
}

/** Runs cases one after another (never concurrently) and returns their latency figures. */
export async function runCases(suite: string, cases: CaseSpec[], config: BenchConfig): Promise<CaseResult[]> {
  const results: CaseResult[] = [];
  for (const spec of cases) {
    const bench = new Bench({
      time: config.quick ? Math.min(config.timeMs, 200) : config.timeMs,
      warmupTime: config.quick ? 20 : 100,
      iterations: config.quick ? 5 : 20,
      retainSamples: true,
      throws: true,
    });
    bench.add(spec.name, spec.fn);
    await bench.run();
    const task = bench.tasks[0];
    const result = task.result as unknown as { latency: { samples?: number[]; samplesCount: number }; throughput: { mean: number } };
    const samples = [...(result.latency.samples ?? [])].sort((a, b) => a - b);
    results.push({
      suite,
      name: spec.name,
      p50Us: percentile(samples, 0.5) * 1000,
      p95Us: percentile(samples, 0.95) * 1000,
      p99Us: percentile(samples, 0.99) * 1000,
      opsPerSec: samples.length ? 1000 / (samples.reduce((s, x) => s + x, 0) / samples.length) : 0,
      samples: samples.length,
      extra: spec.extra,
    });
  }
  return results;
}

function formatNumber(value: unknown): string {
  if (typeof value !== 'number') return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  if (Math.abs(value) >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/** Prints rows as an aligned text table. */
export function formatTable(rows: Array<Record<string, unknown>>, columns?: string[]): string {
  if (rows.length === 0) return '(no rows)';
  const cols = columns ?? [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => cols.map((c) => (r[c] === undefined ? '' : formatNumber(r[c]))));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => values.map((v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]))).join('  ');
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export function caseTable(cases: CaseResult[]): string {
  return formatTable(
    cases.map((c) => ({ case: c.name, 'p50 µs': c.p50Us, 'p95 µs': c.p95Us, 'p99 µs': c.p99Us, 'ops/s': c.opsPerSec, samples: c.samples, ...(c.extra ?? {}) })),
  );
}

/** Loads an optional peer for the bench, or explains why it is skipped. */
export async function optionalPeer<T>(name: string): Promise<T | undefined> {
  try {
    return (await import(name)) as T;
  } catch {
    return undefined;
  }
}
