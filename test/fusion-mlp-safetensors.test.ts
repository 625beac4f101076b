/**
 * FusionMlp.fromSafetensors: a JSON layer spec over a safetensors file,
 * checked against onnxruntime running the same weights as ONNX, and every
 * malformed file or spec rejected with a code.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { FusionMlp, FusionrankError, type SafetensorsSpec } from '../src/index.js';
import { buildOnnxModel, roundToHalf } from '../src/rerank/onnx-build.js';
import { expectClose, expectCode, ortRun, randomArray, rng } from './helpers/mlp.js';

const random = rng(31337);

interface TensorIn {
  dtype: 'F32' | 'F16' | 'I64';
  shape: number[];
  values: ArrayLike<number>;
}

/** A safetensors writer for the fixtures: header length, JSON header, data. */
function writeSafetensors(tensors: Record<string, TensorIn>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const size = t.dtype === 'F16' ? 2 : t.dtype === 'F32' ? 4 : 8;
    const bytes = new Uint8Array(t.values.length * size);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < t.values.length; i++) {
      if (t.dtype === 'F32') view.setFloat32(i * 4, t.values[i], true);
      else if (t.dtype === 'I64') view.setBigInt64(i * 8, BigInt(t.values[i]), true);
      else view.setUint16(i * 2, f16Bits(t.values[i]), true);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    chunks.push(bytes);
    offset += bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// Exact binary16 bits for values already representable in f16 (the fixtures round first).
function f16Bits(value: number): number {
  if (value === 0) return Object.is(value, -0) ? 0x8000 : 0;
  const sign = value < 0 ? 0x8000 : 0;
  const a = Math.abs(value);
  const e = Math.floor(Math.log2(a));
  if (e < -14) return sign | Math.round(a / 2 ** -24);
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}

const dir = mkdtempSync(join(tmpdir(), 'fusionrank-st-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fromSafetensors', () => {
  const [t, i, h] = [20, 12, 24];
  const tensors: Record<string, TensorIn> = {
    'fc1.weight': { dtype: 'F32', shape: [h, t + i], values: randomArray(h * (t + i), random, 0.3) },
    'fc1.bias': { dtype: 'F32', shape: [h], values: randomArray(h, random) },
    'bn.weight': { dtype: 'F32', shape: [h], values: randomArray(h, random, 2) },
    'bn.bias': { dtype: 'F32', shape: [h], values: randomArray(h, random) },
    'bn.running_mean': { dtype: 'F32', shape: [h], values: randomArray(h, random) },
    'bn.running_var': { dtype: 'F32', shape: [h], values: Float32Array.from({ length: h }, () => 0.2 + random()) },
    'ln.weight': { dtype: 'F32', shape: [h], values: randomArray(h, random) },
    'ln.bias': { dtype: 'F32', shape: [h], values: randomArray(h, random) },
    'out.weight': { dtype: 'F16', shape: [3, h], values: Array.from(randomArray(3 * h, random, 0.4), roundToHalf) },
    'out.bias': { dtype: 'F32', shape: [3], values: randomArray(3, random) },
    image_missing: { dtype: 'F32', shape: [i], values: randomArray(i, random) },
    'num_batches_tracked': { dtype: 'I64', shape: [], values: [100] },
  };
  const spec: SafetensorsSpec = {
    inputs: [{ name: 'text', size: t }, { name: 'image', size: i }],
    layers: [
      { type: 'linear', weight: 'fc1.weight', bias: 'fc1.bias' },
      { type: 'batchnorm', weight: 'bn.weight', bias: 'bn.bias', mean: 'bn.running_mean', variance: 'bn.running_var', epsilon: 1e-5 },
      { type: 'activation', activation: 'gelu' },
      { type: 'dropout', p: 0.1 },
      { type: 'layernorm', weight: 'ln.weight', bias: 'ln.bias' },
      { type: 'linear', weight: 'out.weight', bias: 'out.bias', activation: 'sigmoid' },
    ],
  };
  const file = join(dir, 'model.safetensors');
  writeFileSync(file, writeSafetensors(tensors, { format: 'pt' }));

  // The same network as ONNX, for onnxruntime.
  const f32 = (name: string) => ({ name, dims: tensors[name].shape, values: tensors[name].values });
  const onnx = buildOnnxModel({
    inputs: [{ name: 'text', dims: ['batch', t] }, { name: 'image', dims: ['batch', i] }],
    outputs: [{ name: 'y', dims: ['batch', 3] }],
    nodes: [
      { op: 'Concat', inputs: ['text', 'image'], outputs: ['c'], attributes: { axis: 1 } },
      { op: 'Gemm', inputs: ['c', 'fc1.weight', 'fc1.bias'], outputs: ['h'], attributes: { transB: 1 } },
      { op: 'BatchNormalization', inputs: ['h', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], outputs: ['n'], attributes: { epsilon: 1e-5 } },
      { op: 'Gelu', inputs: ['n'], outputs: ['g'] },
      { op: 'LayerNormalization', inputs: ['g', 'ln.weight', 'ln.bias'], outputs: ['l'], attributes: { epsilon: 1e-5 } },
      { op: 'Gemm', inputs: ['l', 'out.weight', 'out.bias'], outputs: ['o'], attributes: { transB: 1 } },
      { op: 'Sigmoid', inputs: ['o'], outputs: ['y'] },
    ],
    initializers: ['fc1.weight', 'fc1.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'ln.weight', 'ln.bias', 'out.weight', 'out.bias'].map(f32),
    opset: 20,
  });

  it('equals onnxruntime on the same weights (batch norm folded, f16 weights converted)', async () => {
    const mlp = FusionMlp.fromSafetensors(file, spec);
    expect(mlp.layers.map((l) => `${l.kind}:${l.activation}`)).toEqual(['dense:gelu', 'layernorm:none', 'dense:sigmoid']);
    expect(mlp.inputs.map((x) => [x.name, x.offset])).toEqual([['text', 0], ['image', t]]);
    for (const batch of [1, 9, 70]) {
      const text = randomArray(batch * t, random), image = randomArray(batch * i, random);
      const expected = await ortRun(onnx, { text: { data: text, dims: [batch, t] }, image: { data: image, dims: [batch, i] } });
      expectClose(mlp.predict({ text, image }), expected);
    }
  });

  it("a learned missing embedding from the file ('embedding' policy)", async () => {
    const mlp = FusionMlp.fromSafetensors(file, spec, { missing: { image: 'embedding' } });
    const text = randomArray(2 * t, random);
    const image = new Float32Array(2 * i);
    image.set(tensors.image_missing.values, 0);
    image.set(tensors.image_missing.values, i);
    const expected = await ortRun(onnx, { text: { data: text, dims: [2, t] }, image: { data: image, dims: [2, i] } });
    expectClose(mlp.predict({ text, image: null }), expected);
  });

  it("'in-out' layout, and the input size taken from the first weight", () => {
    const w = randomArray(6 * 4, random);
    const bytes = writeSafetensors({ w: { dtype: 'F32', shape: [6, 4], values: w } });
    const mlp = FusionMlp.fromSafetensors(bytes, { layers: [{ type: 'linear', weight: 'w', layout: 'in-out', activation: 'relu' }] });
    expect([mlp.inputSize, mlp.outputSize]).toEqual([6, 4]);
    const x = randomArray(6, random);
    const expected = Array.from({ length: 4 }, (_, j) => Math.max(0, x.reduce((s, v, k) => s + v * w[k * 4 + j], 0)));
    expectClose(mlp.predict(x), expected);
    // The same weights with a softmax head.
    const head = FusionMlp.fromSafetensors(bytes, { layers: [{ type: 'linear', weight: 'w', layout: 'in-out' }, { type: 'softmax' }] });
    const logits = Array.from({ length: 4 }, (_, j) => x.reduce((s, v, k) => s + v * w[k * 4 + j], 0));
    const peak = Math.max(...logits);
    const total = logits.reduce((s, l) => s + Math.exp(l - peak), 0);
    expectClose(head.predict(x), logits.map((l) => Math.exp(l - peak) / total));
  });

  it('malformed files', () => {
    const good = writeSafetensors({ w: { dtype: 'F32', shape: [2, 2], values: [1, 2, 3, 4] } });
    const layers: SafetensorsSpec = { layers: [{ type: 'linear', weight: 'w' }] };
    expectCode(() => FusionMlp.fromSafetensors(good.subarray(0, 5), layers), 'ERR_FUSIONRANK_SAFETENSORS_PARSE', FusionrankError, /fewer than/);
    expectCode(() => FusionMlp.fromSafetensors(good.subarray(0, good.length - 3), layers), 'ERR_FUSIONRANK_SAFETENSORS_PARSE', FusionrankError, /truncated/);
    const hugeHeader = good.slice();
    new DataView(hugeHeader.buffer).setBigUint64(0, 1n << 40n, true);
    expectCode(() => FusionMlp.fromSafetensors(hugeHeader, layers), 'ERR_FUSIONRANK_SAFETENSORS_PARSE', FusionrankError, /header claims/);
    const notJson = good.slice();
    notJson[8] = 0x7b + 1;
    expectCode(() => FusionMlp.fromSafetensors(notJson, layers), 'ERR_FUSIONRANK_SAFETENSORS_PARSE', FusionrankError, /JSON/);
    const badShape = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}');
    const file2 = new Uint8Array(8 + badShape.length + 16);
    new DataView(file2.buffer).setBigUint64(0, BigInt(badShape.length), true);
    file2.set(badShape, 8);
    expectCode(() => FusionMlp.fromSafetensors(file2, layers), 'ERR_FUSIONRANK_SAFETENSORS_PARSE', FusionrankError, /needs 24 bytes/);
    expectCode(() => FusionMlp.fromSafetensors(join(dir, 'absent.safetensors'), layers), 'ERR_FUSIONRANK_FILE_READ', FusionrankError);
  });

  it('specs that do not fit the file or the schema', () => {
    expectCode(() => FusionMlp.fromSafetensors(file, { ...spec, layers: [{ type: 'linear', weight: 'nope' }] }), 'ERR_FUSIONRANK_SPEC_TENSOR_NOT_FOUND', FusionrankError, /'nope'/);
    expectCode(() => FusionMlp.fromSafetensors(file, { ...spec, layers: [{ type: 'linear', weight: 'out.weight' }] }), 'ERR_FUSIONRANK_SPEC_SHAPE_MISMATCH', FusionrankError, /\[3, 24\]/);
    expectCode(() => FusionMlp.fromSafetensors(file, { ...spec, layers: [{ type: 'linear', weight: 'num_batches_tracked' }] }), 'ERR_FUSIONRANK_SAFETENSORS_UNSUPPORTED_TYPE', FusionrankError, /I64/);
    expectCode(() => FusionMlp.fromSafetensors(file, { layers: [{ type: 'conv', weight: 'w' }] } as never), 'ERR_FUSIONRANK_INVALID_SPEC', TypeError, /layers\[0\]/);
    expectCode(() => FusionMlp.fromSafetensors(file, { layers: [] }), 'ERR_FUSIONRANK_INVALID_SPEC', TypeError);
    expectCode(() => FusionMlp.fromSafetensors(file, { ...spec, layers: [{ type: 'linear', weight: 'fc1.weight', activation: 'swish' as never }] }), 'ERR_FUSIONRANK_INVALID_SPEC', TypeError, /activation/);
    expectCode(() => FusionMlp.fromSafetensors(file, { ...spec, extra: 1 } as never), 'ERR_FUSIONRANK_INVALID_SPEC', TypeError);
    expectCode(() => FusionMlp.fromSafetensors(file, { layers: [{ type: 'activation', activation: 'relu' }] }), 'ERR_FUSIONRANK_INVALID_SPEC', TypeError, /inputSize/);
    expectCode(() => FusionMlp.fromSafetensors(file, null as never), 'ERR_FUSIONRANK_INVALID_SPEC', TypeError);
  });

  it('fuzz: random bytes and mutated files fail with a code or load (seeded, bounded)', () => {
    const r = rng(2718);
    const good = writeSafetensors({ w: { dtype: 'F32', shape: [3, 2], values: [1, 2, 3, 4, 5, 6] }, b: { dtype: 'F16', shape: [3], values: [0.5, 1, -2] } });
    const layers: SafetensorsSpec = { layers: [{ type: 'linear', weight: 'w', bias: 'b', activation: 'relu' }] };
    for (let n = 0; n < 400; n++) {
      const bytes = n % 2 ? Uint8Array.from({ length: Math.floor(r() * 120) }, () => Math.floor(r() * 256)) : good.slice();
      if (n % 2 === 0) for (let f = 0; f < 1 + Math.floor(r() * 3); f++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      try {
        const mlp = FusionMlp.fromSafetensors(bytes, layers);
        expect(mlp.predict(new Float32Array(mlp.inputSize)).length).toBe(mlp.outputSize);
      } catch (error) {
        expect((error as { code?: string }).code, (error as Error).message).toMatch(/^ERR_FUSIONRANK_/);
      }
    }
  });
});
