/**
 * FusionMlp end to end: the reranker-shaped models of the bench against
 * onnxruntime-node, every ISA against serial, named inputs and the
 * missing-modality policies, predictAsync, and the argument errors.
 */
import { describe, expect, it } from 'vitest';

import { FusionMlp, FusionrankError } from '../src/index.js';
import { native, nativeCandidates } from '../src/native.js';
import { decodeOnnx, lowerOnnx } from '../src/rerank/onnx-loader.js';
import { buildOnnxModel, type OnnxGraphSpec, randomMlpOnnx } from '../src/rerank/onnx-build.js';
import { expectClose, expectCode, ortRun, randomArray, relativeError, rng, withIsa } from './helpers/mlp.js';

const random = rng(7);

describe('reranker-shaped models', () => {
  for (const [sizes, act] of [[[1344, 256, 64, 1], 'Relu'], [[1024, 256, 1], 'Relu'], [[200, 96, 48, 2], 'Tanh']] as const) {
    it(`${sizes.join('→')} (${act}) equals onnxruntime-node for batches 1…1000`, async () => {
      const bytes = randomMlpOnnx([...sizes], random, { activation: act, finalActivation: 'Sigmoid' });
      const mlp = FusionMlp.fromOnnx(bytes);
      expect(mlp.inputSize).toBe(sizes[0]);
      expect(mlp.outputSize).toBe(sizes[sizes.length - 1]);
      expect(mlp.outputName).toBe('output');
      expect(mlp.flopsPerRow).toBe(sizes.slice(1).reduce((s, n, i) => s + 2 * n * sizes[i], 0));
      for (const batch of [1, 2, 7, 16, 257, 1000]) {
        const x = randomArray(batch * sizes[0], random);
        const expected = await ortRun(bytes, { input: { data: x, dims: [batch, sizes[0]] } });
        expectClose(mlp.predict(x), expected);
      }
    });
  }

  it('repeated calls are bit-identical (small batches alternate the weight walk)', () => {
    const mlp = FusionMlp.fromOnnx(randomMlpOnnx([300, 200, 70, 3], random, { activation: 'Tanh' }));
    for (const batch of [1, 5, 8, 9]) {
      const x = randomArray(batch * 300, random);
      const first = mlp.predict(x);
      for (let i = 0; i < 3; i++) expect(mlp.predict(x)).toEqual(first);
    }
  });

  it('every ISA equals serial on a GELU / LayerNorm network, batch 1…600', async () => {
    const k = 300, h = 130;
    const spec: OnnxGraphSpec = {
      inputs: [{ name: 'x', dims: ['batch', k] }],
      outputs: [{ name: 'y', dims: ['batch', 3] }],
      nodes: [
        { op: 'Gemm', inputs: ['x', 'w1', 'b1'], outputs: ['h1'], attributes: { transB: 1 } },
        { op: 'Gelu', inputs: ['h1'], outputs: ['g1'] },
        { op: 'LayerNormalization', inputs: ['g1', 's', 'o'], outputs: ['n1'] },
        { op: 'Gemm', inputs: ['n1', 'w2', 'b2'], outputs: ['h2'] },
        { op: 'Sigmoid', inputs: ['h2'], outputs: ['y'] },
      ],
      initializers: [
        { name: 'w1', dims: [h, k], values: randomArray(h * k, random, 0.15) },
        { name: 'b1', dims: [h], values: randomArray(h, random) },
        { name: 's', dims: [h], values: randomArray(h, random) },
        { name: 'o', dims: [h], values: randomArray(h, random) },
        { name: 'w2', dims: [h, 3], values: randomArray(h * 3, random, 0.3) },
        { name: 'b2', dims: [3], values: randomArray(3, random) },
      ],
      opset: 20,
    };
    const mlp = FusionMlp.fromOnnx(buildOnnxModel(spec));
    for (const batch of [1, 6, 7, 48, 600]) {
      const x = randomArray(batch * k, random, 2);
      const serial = await withIsa(native, 'serial', () => mlp.predict(x));
      for (const isa of native.capabilities().available) {
        const out = await withIsa(native, isa, () => mlp.predict(x));
        expectClose(out, serial);
      }
    }
    expect(native.capabilities().isa).toBe(native.capabilities().best);
  });
});

describe('named inputs and missing modalities', () => {
  const sizes = { text: 12, image: 8, meta: 3 };
  const initializers = [
    { name: 'w', dims: [6, 24], values: randomArray(6 * 24, random, 0.4) },
    { name: 'b', dims: [6], values: randomArray(6, random) },
    { name: 'image_missing', dims: [8], values: randomArray(8, random) },
  ];
  // text, image, a 1-wide image mask and meta, concatenated.
  const bytes = buildOnnxModel({
    inputs: [
      { name: 'text', dims: ['batch', sizes.text] },
      { name: 'image', dims: ['batch', sizes.image] },
      { name: 'image_mask', dims: ['batch', 1] },
      { name: 'meta', dims: ['batch', sizes.meta] },
    ],
    outputs: [{ name: 'y', dims: ['batch', 6] }],
    nodes: [
      { op: 'Concat', inputs: ['text', 'image', 'image_mask', 'meta'], outputs: ['c'], attributes: { axis: 1 } },
      { op: 'Gemm', inputs: ['c', 'w', 'b'], outputs: ['h'], attributes: { transB: 1 } },
      { op: 'Tanh', inputs: ['h'], outputs: ['y'] },
    ],
    initializers,
  });
  const batch = 5;
  const text = randomArray(batch * sizes.text, random);
  const image = randomArray(batch * sizes.image, random);
  const meta = randomArray(batch * sizes.meta, random);
  const reference = (img: Float32Array, mask: Float32Array) =>
    ortRun(bytes, {
      text: { data: text, dims: [batch, sizes.text] },
      image: { data: img, dims: [batch, sizes.image] },
      image_mask: { data: mask, dims: [batch, 1] },
      meta: { data: meta, dims: [batch, sizes.meta] },
    });

  it('named inputs equal the flat layout, in any key order', async () => {
    const mlp = FusionMlp.fromOnnx(bytes);
    const mask = new Float32Array(batch).fill(1);
    const expected = await reference(image, mask);
    expectClose(mlp.predict({ meta, image_mask: mask, image, text }), expected);
    const flat = new Float32Array(batch * mlp.inputSize);
    for (let r = 0; r < batch; r++) {
      flat.set(text.subarray(r * 12, r * 12 + 12), r * 24);
      flat.set(image.subarray(r * 8, r * 8 + 8), r * 24 + 12);
      flat[r * 24 + 20] = 1;
      flat.set(meta.subarray(r * 3, r * 3 + 3), r * 24 + 21);
    }
    expectClose(mlp.predict(flat), expected);
  });

  it("'mask': a missing image is zeros with the mask feature at 0, never a silent black image", async () => {
    const mlp = FusionMlp.fromOnnx(bytes, { missing: { image: 'mask' } });
    expect(mlp.inputs.find((x) => x.name === 'image')).toMatchObject({ missing: 'mask', maskInput: 'image_mask' });
    expect(mlp.inputs.find((x) => x.name === 'image_mask')).toMatchObject({ maskOf: 'image' });
    const allMissing = await reference(new Float32Array(batch * 8), new Float32Array(batch));
    expectClose(mlp.predict({ text, image: null, meta }), allMissing);
    // Per row: rows 1 and 3 have no image.
    const present = Uint8Array.from([1, 0, 1, 0, 1]);
    const img = image.slice();
    const mask = Float32Array.from(present);
    for (const r of [1, 3]) img.fill(0, r * 8, r * 8 + 8);
    const expected = await reference(img, mask);
    expectClose(mlp.predict({ text, image, meta }, { present: { image: present } }), expected);
    expectClose(mlp.predict({ text, image, meta }, { present: { image: [true, false, true, false, true] } }), expected);
    // A present image is not the same as a zero image.
    expect(relativeError(mlp.predict({ text, image: new Float32Array(batch * 8), meta }), allMissing)).toBeGreaterThan(1e-3);
    expectCode(() => mlp.predict({ text, image, meta, image_mask: new Float32Array(batch) }), 'ERR_FUSIONRANK_UNKNOWN_INPUT', RangeError, /fills/);
  });

  it("'embedding': missing rows take the learned embedding stored in the model", async () => {
    const mlp = FusionMlp.fromOnnx(bytes, { missing: { image: 'embedding' } });
    expect(mlp.inputs.find((x) => x.name === 'image')).toMatchObject({ missing: 'embedding' });
    const learned = initializers[2].values;
    // image_mask is an ordinary input under this policy: the caller passes it.
    const ones = new Float32Array(batch).fill(1);
    const img = image.slice();
    img.set(learned, 2 * 8);
    expectClose(mlp.predict({ text, image, image_mask: ones, meta }, { present: { image: Uint8Array.from([1, 1, 0, 1, 1]) } }), await reference(img, ones));
    const allLearned = new Float32Array(batch * 8);
    for (let r = 0; r < batch; r++) allLearned.set(learned, r * 8);
    expectClose(mlp.predict({ text, image: null, image_mask: ones, meta }), await reference(allLearned, ones));
  });

  it("'error' (the default): a missing input throws", () => {
    const mlp = FusionMlp.fromOnnx(bytes);
    const mask = new Float32Array(batch).fill(1);
    expectCode(() => mlp.predict({ text, image: null, image_mask: mask, meta }), 'ERR_FUSIONRANK_MISSING_INPUT', RangeError, /image.*missing-modality policy/);
    expectCode(() => mlp.predict({ text, image, image_mask: mask, meta }, { present: { image: [true, false, true, true, true] } }), 'ERR_FUSIONRANK_MISSING_INPUT', RangeError, /some rows/);
    expectCode(() => mlp.predict({ text, image, image_mask: mask }), 'ERR_FUSIONRANK_MISSING_INPUT', RangeError, /meta/);
    expectCode(() => mlp.predict({}), 'ERR_FUSIONRANK_MISSING_INPUT', RangeError, /'text'/);
    expectCode(() => mlp.predict({ text, image, image_mask: mask, meta, audio: meta }), 'ERR_FUSIONRANK_UNKNOWN_INPUT', RangeError, /audio/);
    expectCode(() => mlp.predict({ text, image: image.subarray(8), image_mask: mask, meta }), 'ERR_FUSIONRANK_DIM_MISMATCH', RangeError);
  });

  it('bad policies are rejected at load', () => {
    expectCode(() => FusionMlp.fromOnnx(bytes, { missing: { audio: 'mask' } }), 'ERR_FUSIONRANK_UNKNOWN_INPUT', RangeError);
    expectCode(() => FusionMlp.fromOnnx(bytes, { missing: { text: 'mask' } }), 'ERR_FUSIONRANK_MISSING_POLICY', RangeError, /text_mask/);
    expectCode(() => FusionMlp.fromOnnx(bytes, { missing: { text: 'embedding' } }), 'ERR_FUSIONRANK_MISSING_POLICY', RangeError, /text_missing/);
    expectCode(() => FusionMlp.fromOnnx(bytes, { missing: { text: { embedding: new Float32Array(3) } } }), 'ERR_FUSIONRANK_MISSING_POLICY', RangeError, /3 values/);
    expectCode(() => FusionMlp.fromOnnx(bytes, { missing: { text: 'zeros' as never } }), 'ERR_FUSIONRANK_MISSING_POLICY', TypeError);
    expectCode(() => FusionMlp.fromOnnx(bytes, { missing: { image: 'mask', image_mask: 'embedding' } }), 'ERR_FUSIONRANK_MISSING_POLICY', RangeError, /is the mask input of 'image'/);
    expectCode(() => FusionMlp.fromOnnx(bytes, { missing: { image_mask: { embedding: new Float32Array(1) }, image: 'mask' } }), 'ERR_FUSIONRANK_MISSING_POLICY', RangeError, /policy of its own/);
  });

  it('an explicit embedding vector and options.batch when every input is missing', async () => {
    const fill = { text: randomArray(12, random), meta: randomArray(3, random) };
    const mlp = FusionMlp.fromOnnx(bytes, { missing: { text: { embedding: fill.text }, meta: { embedding: fill.meta }, image: 'mask' } });
    const out = mlp.predict({}, { batch: 2 });
    const flat = new Float32Array(2 * 24);
    for (let r = 0; r < 2; r++) {
      flat.set(fill.text, r * 24);
      flat.set(fill.meta, r * 24 + 21);
    }
    expectClose(out, FusionMlp.fromOnnx(bytes).predict(flat));
    expectCode(() => mlp.predict({}), 'ERR_FUSIONRANK_INVALID_BATCH', RangeError);
  });
});

describe('predictAsync', () => {
  const bytes = randomMlpOnnx([96, 64, 4], random, { finalActivation: 'Sigmoid' });
  const mlp = FusionMlp.fromOnnx(bytes);

  it('equals predict, with one thread and split over threads', async () => {
    for (const batch of [1, 300, 2500]) {
      const x = randomArray(batch * 96, random);
      const sync = mlp.predict(x);
      expectClose(await mlp.predictAsync(x, { threads: 1 }), sync, 0);
      expectClose(await mlp.predictAsync(x, { threads: 3 }), sync, 0);
      expectClose(await mlp.predictAsync(x), sync, 0);
    }
  });

  it('copies the input before returning, so the caller may reuse it', async () => {
    for (const rows of [64, 2000, 2000]) {
      const x = randomArray(rows * 96, random);
      const expected = mlp.predict(x);
      const pending = mlp.predictAsync(x);
      x.fill(Number.NaN);
      expectClose(await pending, expected, 0);
    }
  });

  it('rejects bad input with a code and the caller on the stack', async () => {
    await expect(mlp.predictAsync(new Float32Array(95))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' });
    await expect(mlp.predictAsync(new Float32Array(96), { threads: 0 })).rejects.toBeInstanceOf(RangeError);
    await expect(mlp.predictAsync(new Float32Array(0))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_BATCH' });
  });

  it('runs concurrently with other calls without mixing results', async () => {
    // Large enough (> 256 KiB) that input copies go through the reuse pool.
    const inputs = Array.from({ length: 8 }, (_, i) => randomArray((i + 1) * 400 * 96, random));
    const results = await Promise.all(inputs.map((x) => mlp.predictAsync(x, { threads: 2 })));
    results.forEach((r, i) => expectClose(r, mlp.predict(inputs[i]), 0));
  });
});

describe('argument errors and edge values', () => {
  const bytes = randomMlpOnnx([16, 8, 2], random);
  const mlp = FusionMlp.fromOnnx(bytes);

  it('input of the wrong length, batch 0 and wrong types', () => {
    expectCode(() => mlp.predict(new Float32Array(17)), 'ERR_FUSIONRANK_DIM_MISMATCH', RangeError, /multiple of 16/);
    expectCode(() => mlp.predict(new Float32Array(0)), 'ERR_FUSIONRANK_INVALID_BATCH', RangeError);
    expectCode(() => mlp.predict(new Float64Array(16) as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError, /Float64Array/);
    expectCode(() => mlp.predict([1, 2, 3] as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError);
    expectCode(() => mlp.predict(null as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError);
    expectCode(() => mlp.predict(new Float32Array(16), { present: {} }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError);
    expectCode(() => FusionMlp.fromOnnx(42 as never), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError, /file path/);
    expectCode(() => FusionMlp.fromOnnx('/nonexistent/model.onnx'), 'ERR_FUSIONRANK_FILE_READ', FusionrankError, /nonexistent/);
  });

  it('a detached buffer is refused', () => {
    const x = new Float32Array(16);
    structuredClone(x.buffer, { transfer: [x.buffer] });
    expectCode(() => mlp.predict(x), 'ERR_FUSIONRANK_DETACHED_BUFFER', TypeError);
  });

  it('NaN and Infinity propagate to their own row only (documented)', () => {
    const x = randomArray(4 * 16, random);
    x[16 + 3] = Number.NaN;
    x[48 + 0] = Number.POSITIVE_INFINITY;
    for (const isa of native.capabilities().available) {
      native.setIsa(isa);
      const y = mlp.predict(x);
      expect(Number.isFinite(y[0]) && Number.isFinite(y[1]) && Number.isFinite(y[4]) && Number.isFinite(y[5])).toBe(true);
      expect(Number.isNaN(y[2]) && Number.isNaN(y[3])).toBe(true);
      expect(Number.isFinite(y[6]) && Number.isFinite(y[7])).toBe(false);
    }
    native.setIsa(native.capabilities().best);
  });

  it('direct native calls with bad arguments throw instead of crashing', () => {
    const Native = (native as unknown as { NativeFusionMlp: new (...args: unknown[]) => { predict(...args: unknown[]): unknown; predictAsync(...args: unknown[]): unknown } }).NativeFusionMlp;
    expect(() => new Native(4, [{ kind: 'dense', out: 2, weight: new Float32Array(7) }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(() => new Native(4, [{ kind: 'conv' }])).toThrow(RangeError);
    expect(() => new Native(0, [])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_MLP_SHAPE' }));
    expect(() => new Native(4, [{ kind: 'dense', out: 2, weight: new Float32Array(8), activation: 'swish' }])).toThrow(/swish/);
    const m = new Native(4, [{ kind: 'dense', out: 2, weight: new Float32Array(8) }]);
    expect(() => m.predict(new Float32Array(8), 3)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(() => m.predict(new Float32Array(8), 0)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_INVALID_BATCH' }));
    expect(() => m.predict([{ width: 3 }], 1)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(() => m.predict([{ width: 4, data: new Float32Array(3) }], 1)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(() => m.predict([{ width: 4, present: new Uint8Array(2) }], 1)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(() => m.predict('x', 1)).toThrow(TypeError);
    expect(() => m.predictAsync(new Float32Array(4), 1)).toThrow(TypeError);
    expect(m.predict([{ width: 4 }], 2)).toEqual(new Float32Array(4));
  });
});

describe('limits and environments', () => {
  it('batch 16,384, sync and async, equals onnxruntime', async () => {
    const bytes = randomMlpOnnx([40, 24, 2], random, { activation: 'Relu' });
    const mlp = FusionMlp.fromOnnx(bytes);
    const batch = 16_384;
    const x = randomArray(batch * 40, random);
    const expected = await ortRun(bytes, { input: { data: x, dims: [batch, 40] } });
    expectClose(mlp.predict(x), expected);
    expectClose(await mlp.predictAsync(x, { threads: 4 }), expected);
  });

  it('the native model loads and predicts in worker threads (per-environment addon state)', async () => {
    const { Worker } = await import('node:worker_threads');
    const { existsSync } = await import('node:fs');
    const bytes = randomMlpOnnx([32, 16, 1], random, { finalActivation: 'Sigmoid' });
    const lowered = lowerOnnx(decodeOnnx(bytes));
    const x = randomArray(10 * 32, random);
    const expected = FusionMlp.fromOnnx(bytes).predict(x);
    const addon = nativeCandidates().find((p) => existsSync(p));
    // Workers cannot import TypeScript, so they drive the addon with the lowered layer list.
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      (async () => {
        const addon = require(workerData.addon);
        const mlp = new addon.NativeFusionMlp(workerData.inputSize, workerData.layers);
        const batch = workerData.x.length / workerData.inputSize;
        parentPort.postMessage({ sync: mlp.predict(workerData.x, batch), async: await mlp.predictAsync(workerData.x, batch, 2) });
      })().catch((e) => parentPort.postMessage({ error: String((e && e.stack) || e) }));`;
    const results = await Promise.all([0, 1].map(() => new Promise<{ sync: Float32Array; async: Float32Array; error?: string }>((resolve, reject) => {
      const worker = new Worker(source, { eval: true, workerData: { addon, inputSize: lowered.inputSize, layers: lowered.layers, x } });
      worker.once('message', (m) => {
        void worker.terminate();
        resolve(m);
      });
      worker.once('error', reject);
    })));
    for (const r of results) {
      expect(r.error).toBeUndefined();
      expectClose(r.sync, expected, 0);
      expectClose(r.async, expected, 0);
    }
  });
});
