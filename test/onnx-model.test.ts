import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { denseModel, imageEncoderModel, notAnEncoderModel } from '../bench/ingest-fixtures.js';
import { missingCudaProvider } from '../src/models/cuda-provider.js';
import { OnnxModel, resetCudaProbe } from '../src/models/onnx-model.js';

const dir = mkdtempSync(join(tmpdir(), 'fusionrank-onnx-'));
const opened: OnnxModel[] = [];
async function load(...args: Parameters<typeof OnnxModel.load>): Promise<OnnxModel> {
  const model = await OnnxModel.load(...args);
  opened.push(model);
  return model;
}
afterAll(async () => {
  await Promise.all(opened.map((m) => m.close()));
});

describe('OnnxModel', () => {
  it('loads from bytes and from a path, and describes its inputs and outputs', async () => {
    const bytes = imageEncoderModel({ size: 8, dim: 4 });
    const path = join(dir, 'image.onnx');
    writeFileSync(path, bytes);
    for (const source of [bytes, path]) {
      const model = await load(source, { device: 'cpu' });
      expect(model.device).toBe('cpu');
      expect(model.inputs).toEqual([{ name: 'pixel_values', type: 'float32', shape: ['batch', 3, 8, 8] }]);
      expect(model.outputs).toEqual([{ name: 'image_embeds', type: 'float32', shape: ['batch', 4] }]);
    }
  });

  it('runs and returns outputs with dims', async () => {
    const model = await load(notAnEncoderModel(), { device: 'cpu' });
    const x = Float32Array.from({ length: 20 }, (_, i) => i - 10);
    const out = await model.run({ x: { data: x, dims: [2, 10] } });
    expect(out.y.dims).toEqual([2, 10]);
    expect(Array.from(out.y.data as Float32Array)).toEqual(Array.from(x, (v) => Math.max(0, v)));
    expect(x[0]).toBe(-10); // the caller's input is untouched
  });

  it("falls back from CUDA to CPU once with one coded warning under 'auto'", async () => {
    resetCudaProbe();
    const warnings: Array<{ code?: string; message: string }> = [];
    const onWarning = (w: Error & { code?: string }) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const a = await load(notAnEncoderModel(), { device: 'auto' });
      const b = await load(notAnEncoderModel());
      await new Promise((r) => setImmediate(r));
      // This machine has no CUDA provider libraries (onnxruntime-node's install step was skipped).
      expect(a.device).toBe('cpu');
      expect(b.device).toBe('cpu');
      const fallbacks = warnings.filter((w) => w.code === 'FUSIONRANK_CUDA_FALLBACK');
      expect(fallbacks).toHaveLength(1);
      // Without the provider library, CUDA is not even tried (onnxruntime would
      // print an error line of its own first): the warning says what is missing.
      const missing = missingCudaProvider();
      if (missing !== undefined) expect(fallbacks[0].message).toContain(missing);
      const out = await a.run({ x: { data: new Float32Array(10).fill(1), dims: [1, 10] } });
      expect(out.y.data).toEqual(new Float32Array(10).fill(1));
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("fails loudly with a code when 'cuda' is requested and unavailable", async () => {
    await expect(OnnxModel.load(notAnEncoderModel(), { device: 'cuda' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CUDA_UNAVAILABLE' });
  });

  it('rejects bad sources and options with codes', async () => {
    await expect(OnnxModel.load(new Uint8Array([1, 2, 3, 4]), { device: 'cpu' })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_MODEL' });
    await expect(OnnxModel.load(join(dir, 'missing.onnx'))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_FILE_NOT_FOUND' });
    await expect(OnnxModel.load(42 as never)).rejects.toThrow(TypeError);
    await expect(OnnxModel.load(notAnEncoderModel(), { device: 'gpu' as never })).rejects.toThrow(
      "Expected one of 'auto', 'cpu', 'cuda' for device but received 'gpu' of type string",
    );
    await expect(OnnxModel.load(notAnEncoderModel(), { batch: { maxBatch: 0 } })).rejects.toMatchObject({ name: 'RangeError' });
  });

  it('validates feeds before they reach onnxruntime', async () => {
    const model = await load(notAnEncoderModel(), { device: 'cpu' });
    await expect(model.run({})).rejects.toThrow("Missing input 'x'");
    await expect(model.run({ x: { data: new Float32Array(9), dims: [1, 10] } })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' });
    await expect(model.run({ x: { data: new Float32Array(10), dims: [1, 5, 2] } })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' });
    await expect(model.run({ x: { data: new Float32Array(10), dims: [2, 5] } })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' });
    await expect(model.run({ x: { data: new Int32Array(10), dims: [1, 10] } })).rejects.toThrow(TypeError);
  });

  it('micro-batches concurrent requests into one run with the same results as one by one', async () => {
    const model = await load(imageEncoderModel({ size: 8, dim: 6 }), { device: 'cpu', batch: { maxBatch: 16, maxWaitMs: 20 } });
    const inputs = Array.from({ length: 10 }, (_, n) => Float32Array.from({ length: 3 * 64 }, (_, i) => Math.sin(n * 31 + i)));
    const single: Float32Array[] = [];
    for (const px of inputs) single.push((await model.run({ pixel_values: { data: px, dims: [1, 3, 8, 8] } })).image_embeds.data as Float32Array);
    const runsBefore = model.runs;
    const batched = await Promise.all(inputs.map((px) => model.submit({ pixel_values: { data: px, dims: [1, 3, 8, 8] } })));
    expect(model.runs - runsBefore).toBe(1);
    batched.forEach((out, i) => {
      expect(out.image_embeds.dims).toEqual([1, 6]);
      const expected = single[i];
      (out.image_embeds.data as Float32Array).forEach((v, j) => expect(v).toBeCloseTo(expected[j], 5));
    });
  });

  it('moves inputs instead of copying them when asked to', async () => {
    const model = await load(notAnEncoderModel(), { device: 'cpu' });
    const x = new Float32Array(10).fill(-2);
    const out = await model.submit({ x: { data: x, dims: [1, 10] } }, { transfer: true });
    expect(x.byteLength).toBe(0); // detached: it now lives on the session thread
    expect(Array.from(out.y.data as Float32Array)).toEqual(new Array(10).fill(0));
    const view = new Float32Array(new ArrayBuffer(80), 40, 10); // a view into a larger buffer is copied, not moved
    await model.run({ x: { data: view, dims: [1, 10] } }, { transfer: true });
    expect(view.byteLength).toBe(40);
  });

  it('splits the queue at maxBatch rows', async () => {
    const model = await load(imageEncoderModel({ size: 4, dim: 2 }), { device: 'cpu', batch: { maxBatch: 4, maxWaitMs: 50 } });
    const runsBefore = model.runs;
    const outs = await Promise.all(Array.from({ length: 10 }, () => model.submit({ pixel_values: { data: new Float32Array(48).fill(1), dims: [1, 3, 4, 4] } })));
    expect(outs).toHaveLength(10);
    expect(model.runs - runsBefore).toBe(3); // 4 + 4 + 2
  });

  it('runs fixed-batch models one request at a time under submit()', async () => {
    const model = await load(imageEncoderModel({ size: 4, dim: 2, fixedBatch: 1 }), { device: 'cpu' });
    const runsBefore = model.runs;
    await Promise.all([1, 2, 3].map(() => model.submit({ pixel_values: { data: new Float32Array(48), dims: [1, 3, 4, 4] } })));
    expect(model.runs - runsBefore).toBe(3);
  });

  it('keeps the event loop free while a long inference runs', async () => {
    const model = await load(denseModel(1024, 1024), { device: 'cpu', intraOpThreads: 1 });
    const x = { x: { data: new Float32Array(2048 * 1024).fill(0.5), dims: [2048, 1024] } };
    await model.run(x);
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    histogram.enable();
    const started = performance.now();
    await model.run(x);
    await model.run(x);
    const elapsed = performance.now() - started;
    histogram.disable();
    // The runs take hundreds of ms; the loop must not stall for anything like that.
    expect(elapsed).toBeGreaterThan(20);
    // In-thread, each run would stall the loop for its whole duration (about elapsed / 2).
    expect(histogram.max / 1e6).toBeLessThan(Math.max(30, elapsed / 3));
  });

  it('rejects pending and later requests after close()', async () => {
    const model = await OnnxModel.load(notAnEncoderModel(), { device: 'cpu' });
    await model.close();
    await expect(model.run({ x: { data: new Float32Array(10), dims: [1, 10] } })).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_POOL_CLOSED' });
  });

  it('does not warn when the user asked for the CPU', async () => {
    resetCudaProbe();
    const spy = vi.spyOn(process, 'emitWarning');
    await load(notAnEncoderModel(), { device: 'cpu' });
    expect(spy).not.toHaveBeenCalled();
    spy.mockRestore();
  });
});
