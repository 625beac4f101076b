// The libuv pool threads that run fusionrank's CPU-bound jobs are moved to
// SCHED_BATCH (Linux), so their wakeups cannot preempt the event loop; the
// FUSIONRANK_SCHED_BATCH=0 opt-out leaves them alone. Checked in child
// processes, since the policy sticks to the threads of the process.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const entry = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));

// Runs a few async jobs of each kind, then reports each thread's scheduling
// policy from /proc (field 41 of task/<tid>/stat: 0 normal, 3 batch).
const script = `
import { readdirSync, readFileSync } from 'node:fs';
const { VectorStore } = await import(${JSON.stringify(entry)});
const store = new VectorStore({ dim: 16 });
store.add(Float32Array.from({ length: 16 * 64 }, (_, i) => Math.sin(i)));
await Promise.all(Array.from({ length: 8 }, () => store.topKAsync(Float32Array.from({ length: 16 }, (_, i) => i + 1), 5)));
const policies = {};
for (const tid of readdirSync('/proc/self/task')) {
  const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const policy = Number(fields[41 - 3]);
  policies[policy] = (policies[policy] ?? 0) + 1;
}
console.log(JSON.stringify(policies));
`;

async function threadPolicies(env: Record<string, string>): Promise<Record<string, number>> {
  const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env } });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe.runIf(process.platform === 'linux')('pool threads and the event loop', () => {
  it('moves the pool threads that ran async jobs to SCHED_BATCH, and never the main thread', async () => {
    const policies = await threadPolicies({});
    expect(policies['3']).toBeGreaterThanOrEqual(1);
    // The main thread and V8's own threads stay normal.
    expect(policies['0']).toBeGreaterThanOrEqual(1);
  });

  it('leaves every thread alone with FUSIONRANK_SCHED_BATCH=0', async () => {
    const policies = await threadPolicies({ FUSIONRANK_SCHED_BATCH: '0' });
    expect(policies['3']).toBeUndefined();
    expect(policies['0']).toBeGreaterThanOrEqual(1);
  });
});
