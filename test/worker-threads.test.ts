// The addon keeps its state per instance, so it loads and works in several
// worker threads at once, each with its own FUSIONRANK_ISA.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));
const script = new URL('./fixtures/worker-cosine.mjs', import.meta.url);

function run(dtype: string, env?: Record<string, string>): Promise<{ isa: string; scores: number[]; top: number[]; error: string }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: { entry: pathToFileURL(entry).href, dtype }, env: env ? { ...process.env, ...env } : undefined });
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
  });
}

describe('worker threads', () => {
  it('two workers load the addon at once and compute independently', async () => {
    const [a, b] = await Promise.all([run('f32'), run('f16', { FUSIONRANK_ISA: 'serial' })]);
    for (const r of [a, b]) {
      expect(r.scores[0]).toBeCloseTo(1, 3);
      expect(r.scores[1]).toBe(0);
      expect(r.scores[2]).toBeCloseTo(Math.SQRT1_2, 3);
      expect(r.top).toEqual([1, 2]);
      expect(r.error).toBe('ERR_FUSIONRANK_DIM_MISMATCH');
    }
    // The ISA override is per thread: one worker forced serial, the other not.
    expect(b.isa).toBe('serial');
    expect(a.isa).not.toBe('serial');
  });

  it('a worker that exits does not disturb the main thread', async () => {
    await run('i8');
    const { VectorStore } = await import('../src/index.js');
    const store = new VectorStore({ dim: 2 });
    store.add(new Float32Array([1, 0]));
    expect(store.cosine(new Float32Array([1, 0]))[0]).toBeCloseTo(1, 6);
  });
});
