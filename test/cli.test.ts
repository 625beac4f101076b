// The command line a newcomer runs first: `fusionrank info` and a quick
// `fusionrank bench kernels` that writes machine-readable results.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const bin = fileURLToPath(new URL('../bin/fusionrank.js', import.meta.url));

describe('fusionrank CLI', () => {
  it('info prints the capabilities as JSON', async () => {
    const { stdout } = await exec(process.execPath, [bin, 'info']);
    const info = JSON.parse(stdout);
    expect(info.available).toContain(info.isa);
    expect(info.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('bench kernels --quick --json reports percentiles, peers and probe ratios', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'fr-bench-')), 'kernels.json');
    const { stdout } = await exec(process.execPath, [bin, 'bench', 'kernels', '--quick', '--time', '20', '--json', out], {
      env: { ...process.env, FUSIONRANK_BENCH_TOPK_ROWS: '20000' },
      maxBuffer: 1 << 24,
    });
    expect(stdout).toContain('p95 µs');
    const result = JSON.parse(readFileSync(out, 'utf8'));
    const report = result.reports[0];
    expect(report.suite).toBe('kernels');
    const names = report.cases.map((c: { name: string }) => c.name);
    expect(names).toEqual(expect.arrayContaining(['probe: FMA throughput', 'fusionrank cosine f32 1000×768', 'TypeScript loop f32 1000×768']));
    for (const c of report.cases) {
      expect(c.p50Us).toBeGreaterThan(0);
      expect(c.p95Us).toBeGreaterThanOrEqual(c.p50Us);
      expect(c.p99Us).toBeGreaterThanOrEqual(c.p95Us);
    }
    const metrics = report.summary.map((s: { metric: string }) => s.metric);
    expect(metrics).toEqual(expect.arrayContaining(['f32 cosine / memory-read probe', 'TypeScript loop / fusionrank f32', 'f16 / f32 time', 'i8 / f32 time']));
  }, 120_000);

  it('rejects an unknown suite with a non-zero exit', async () => {
    await expect(exec(process.execPath, [bin, 'bench', 'nope'])).rejects.toMatchObject({ code: 2 });
  });
});
