/**
 * `npx fusionrank bench startup`: the cost of `import 'fusionrank'` in a new
 * process (loading the TypeScript modules and the native addon, then
 * `capabilities()`), measured inside fresh Node processes, next to the floor:
 * a fresh process importing one built-in module. Target (issue 13): ≤ 50 ms cold.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { packageRoot } from '../src/native.js';
import type { BenchConfig, SuiteReport } from './harness.js';

const exec = promisify(execFile);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function measure(script: string, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script]);
    out.push(Number(stdout.trim().split('\n').pop()));
  }
  return out.sort((a, b) => a - b);
}

export async function benchStartup(config: BenchConfig): Promise<SuiteReport> {
  const runs = config.quick ? 5 : 25;
  // What `import 'fusionrank'` loads (package.json exports).
  const entry = pathToFileURL(join(packageRoot, 'dist', 'bundle', 'index.js')).href;
  const fusionrank = await measure(`const t = performance.now(); const m = await import(${JSON.stringify(entry)}); m.capabilities(); console.log(performance.now() - t);`, runs);
  const floor = await measure(`const t = performance.now(); await import('node:zlib'); console.log(performance.now() - t);`, runs);
  const row = (name: string, ms: number[]) => ({
    suite: 'startup',
    name,
    p50Us: percentile(ms, 0.5) * 1000,
    p95Us: percentile(ms, 0.95) * 1000,
    p99Us: percentile(ms, 0.99) * 1000,
    opsPerSec: 1000 / percentile(ms, 0.5),
    samples: ms.length,
  });
  const p50 = percentile(fusionrank, 0.5);
  return {
    suite: 'startup',
    cases: [row("cold import 'fusionrank' + capabilities(), fresh process", fusionrank), row("probe: cold import 'node:zlib', fresh process", floor)],
    summary: [{ check: "cold import of fusionrank + capabilities() ≤ 50 ms (p50)", value: `${p50.toFixed(1)} ms`, pass: p50 <= 50 }],
    notes: [`${runs} fresh processes each; the time runs from before the import to after capabilities(), inside the process (Node's own start-up excluded)`],
  };
}
