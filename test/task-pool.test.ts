import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { TaskPool } from '../src/ingest/task-pool.js';

type Task = { kind: 'echo' | 'crash' | 'hang' | 'sleep' | 'fail'; value?: unknown; ms?: number };
const worker = join(import.meta.dirname, 'fixtures', 'test-worker.mjs');
const pools: Array<TaskPool<Task, unknown>> = [];
function pool(options: ConstructorParameters<typeof TaskPool>[1] = {}): TaskPool<Task, unknown> {
  const p = new TaskPool<Task, unknown>(worker, { threads: 1, idleTimeoutMs: 1000, ...options }, undefined, 'test');
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe('TaskPool', () => {
  it('runs tasks on workers', async () => {
    const p = pool({ threads: 2 });
    expect(await Promise.all([1, 2, 3].map((value) => p.run({ kind: 'echo', value }, [])))).toEqual([1, 2, 3]);
  });

  it('replaces a crashed worker; its task fails with a clear error and the next one runs', async () => {
    const p = pool();
    await expect(p.run({ kind: 'crash' }, [])).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_WORKER_CRASHED', message: expect.stringContaining('replaced') });
    expect(await p.run({ kind: 'echo', value: 'after' }, [])).toBe('after');
  });

  it('times out a hung task, replacing its worker', async () => {
    const p = pool({ timeoutMs: 150 });
    const started = Date.now();
    await expect(p.run({ kind: 'hang' }, [])).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await p.run({ kind: 'echo', value: 1 }, [])).toBe(1);
  });

  it('cancels queued and running tasks with an AbortSignal', async () => {
    const p = pool();
    const controller = new AbortController();
    const running = p.run({ kind: 'hang' }, [], { signal: controller.signal });
    const queued = p.run({ kind: 'echo', value: 2 }, [], { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user cancelled')), 50);
    await expect(running).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_ABORTED', name: 'AbortError' });
    await expect(queued).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_ABORTED' });
    await expect(p.run({ kind: 'echo' }, [], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_ABORTED' });
    expect(await p.run({ kind: 'echo', value: 3 }, [])).toBe(3);
  });

  it('refuses beyond its queue limit and lets producers wait for room', async () => {
    const p = pool({ threads: 1, maxQueue: 2 });
    expect(p.capacity).toBe(3);
    const accepted = [1, 2, 3].map((value) => p.run({ kind: 'sleep', ms: 60, value }, []));
    await expect(p.run({ kind: 'echo', value: 4 }, [])).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_QUEUE_FULL' });
    expect(p.pending).toBe(3);
    await p.whenReady();
    expect(p.pending).toBeLessThan(3);
    expect(await p.run({ kind: 'echo', value: 5 }, [])).toBe(5);
    expect(await Promise.all(accepted)).toEqual([1, 2, 3]);
  });

  it('rebuilds coded errors returned by workers', async () => {
    const p = pool();
    await expect(p.run({ kind: 'fail' }, [])).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_FUSIONRANK_TEST' });
  });

  it('drains on close(), then refuses new tasks', async () => {
    const p = pool();
    const work = [1, 2].map((value) => p.run({ kind: 'sleep', ms: 40, value }, []));
    await p.close();
    expect(await Promise.all(work)).toEqual([1, 2]);
    await expect(p.run({ kind: 'echo', value: 1 }, [])).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_POOL_CLOSED' });
  });

  it('validates options with the shared message shape', () => {
    expect(() => new TaskPool(worker, { threads: 0 }, undefined, 'x')).toThrow('Expected an integer in [1, 256] for threads but received 0 of type number');
    expect(() => new TaskPool(worker, { maxQueue: -1 }, undefined, 'x')).toThrow(RangeError);
    expect(() => new TaskPool(worker, { timeoutMs: '5' as never }, undefined, 'x')).toThrow(TypeError);
  });
});
