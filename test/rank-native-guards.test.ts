import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import { describe, expect, test } from 'vitest';

import { rankNative } from '../src/catalog/native-types.js';
import { packageRoot } from '../src/native.js';

describe('native catalog / ranker guards', () => {
  test('direct native misuse throws instead of crashing', () => {
    const c = new rankNative.NativeCatalog();
    expect(c.addVector('v', 4, 'f32')).toBe(0);
    expect(c.addField('n', 'number')).toBe(0);
    expect(() => c.addVector('v', 4, 'f32')).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DUPLICATE_NAME' }));
    expect(() => c.addField('x', 'string')).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_FIELD_TYPE' }));
    c.activate(new Uint32Array([0, 1]));
    expect(() => c.setVectors(0, new Uint32Array([0]), new Float32Array(3), new Uint8Array(1))).toThrow(RangeError);
    expect(() => c.setVectors(3, new Uint32Array([0]), new Float32Array(4), new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR' }));
    expect(() => c.setVectors(0, new Uint32Array([9]), new Float32Array(4), new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_ROW_OUT_OF_RANGE' }));
    expect(() => c.setNumbers(0, new Uint32Array([0]), new Float32Array(1) as never)).toThrow(TypeError);
    expect(() => c.setTags(0, new Uint32Array([0]), new Uint32Array([0, 1]), new Uint32Array([1]))).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_FIELD' }));
    expect(c.getVector(0, 99)).toBeNull();
    expect(() => new rankNative.NativeRanker({} as never, {})).toThrow(TypeError);
    expect(() => new rankNative.NativeRanker(c, { signals: [{ kind: 'nope' }] })).toThrow(TypeError);
    expect(() => new rankNative.NativeRanker(c, { signals: [{ kind: 'similarity', vector: 7, weight: 1 }] })).toThrow(TypeError);
    expect(() => new rankNative.NativeRanker(c, { filter: { op: 'range', column: 5 }, signals: [] })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_FILTER' }));
    // Enum options the TypeScript Ranker validates are checked natively too (no silent default).
    const invalidPlan = expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    expect(() => new rankNative.NativeRanker(c, { signals: [], normalize: 'minmux' })).toThrow(invalidPlan);
    expect(() => new rankNative.NativeRanker(c, { signals: [], missing: 'ignore' })).toThrow(invalidPlan);
    expect(() => new rankNative.NativeRanker(c, { signals: [], rerankMode: 'mix' })).toThrow(invalidPlan);
    expect(() => new rankNative.NativeRanker(c, { signals: [{ kind: 'field', fields: [0], transform: 'cube', weight: 1 }] })).toThrow(invalidPlan);
    expect(() => new rankNative.NativeRanker(c, { signals: [{ kind: 'recency', fields: [0], decay: 'step', weight: 1 }] })).toThrow(invalidPlan);
    expect(() => new rankNative.NativeRanker(c, { signals: [{ kind: 'field', fields: [0], transform: 'sqrt', weight: 1 }], normalize: 'rank', missing: 'zero', rerankMode: 'blend' })).not.toThrow();
    const r = new rankNative.NativeRanker(c, { retrievers: [{ vector: 0, k: 5 }], signals: [{ kind: 'similarity', vector: 0, weight: 1 }], k: 5 });
    expect(() => r.rank(null as never)).toThrow(TypeError);
    expect(() => r.rank({ queries: [new Float32Array(3)], now: 0, ruleRows: [], explain: false })).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(() => r.finish({}, new Float32Array(1))).toThrow(TypeError);
  });

  test('catalogs and rankers work in worker threads (per-environment addon state)', async () => {
    const addon = process.env.FUSIONRANK_NATIVE ?? join(packageRoot, 'build', 'Release', 'fusionrank.node');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const m = require(workerData);
      const c = new m.NativeCatalog();
      c.addVector('v', 4, 'f32');
      c.activate(new Uint32Array([0, 1]));
      c.setVectors(0, new Uint32Array([0, 1]), new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]), new Uint8Array([1, 1]));
      const r = new m.NativeRanker(c, { retrievers: [{ vector: 0, k: 5, exact: true }], signals: [{ kind: 'similarity', vector: 0, weight: 1 }], k: 5 });
      r.rankAsync({ queries: [new Float32Array([0, 1, 0, 0])], now: 0, ruleRows: [], explain: false })
        .then((res) => parentPort.postMessage(Array.from(res[0]))); // [rows, scores, ...]
    `;
    const results = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<number[]>((resolve, reject) => {
            const worker = new Worker(code, { eval: true, workerData: addon });
            worker.once('message', (rows) => {
              resolve(rows as number[]);
              void worker.terminate();
            });
            worker.once('error', reject);
          }),
      ),
    );
    expect(results).toEqual([[1, 0], [1, 0]]);
  });
});
