/**
 * FusionMlp with `precision: 'bf16'`: the dense layers against a reference
 * that rounds inputs and weights to bfloat16 the same way (nearest even) and
 * sums in float64, the fallback to f32 where the kernels have no bf16 dot
 * product, and the option's errors.
 */
import { describe, expect, it } from 'vitest';

import { capabilities, FusionMlp } from '../src/index.js';
import { native } from '../src/native.js';
import { type DenseLayer } from '../src/rerank/layers.js';
import { decodeOnnx, lowerOnnx } from '../src/rerank/onnx-loader.js';
import { randomMlpOnnx } from '../src/rerank/onnx-build.js';
import { expectCode, randomArray, relativeError, rng, withIsa } from './helpers/mlp.js';

const random = rng(11);
const hasBf16 = capabilities().bf16;

/** float32 -> bfloat16 -> float32, rounding to nearest even. */
function bf16(value: number): number {
  const f = new Float32Array([value]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) << 16;
  return f[0];
}

/** The model's dense layers with bf16-rounded inputs and weights, summed in float64. */
function bf16Reference(bytes: Uint8Array, x: Float32Array, batch: number): Float64Array {
  const { layers } = lowerOnnx(decodeOnnx(bytes));
  let cur = Float64Array.from(x);
  let width = (layers[0] as DenseLayer).in;
  for (const layer of layers) {
    if (layer.kind !== 'dense') throw new Error(`unexpected layer ${layer.kind}`);
    const out = new Float64Array(batch * layer.out);
    for (let r = 0; r < batch; r++)
      for (let j = 0; j < layer.out; j++) {
        let sum = 0;
        for (let k = 0; k < layer.in; k++) {
          const w = layer.outMajor ? layer.weight[j * layer.in + k] : layer.weight[k * layer.out + j];
          // The kernel rounds what it reads: each layer's f32 input, then bf16.
          sum += bf16(Math.fround(cur[r * width + k])) * bf16(w);
        }
        let y = sum + layer.bias[j];
        if (layer.activation === 'relu') y = Math.max(0, y);
        else if (layer.activation !== 'none') throw new Error(`unexpected activation ${layer.activation}`);
        out[r * layer.out + j] = y;
      }
    cur = out;
    width = layer.out;
  }
  return cur;
}

describe('FusionMlp precision', () => {
  it("defaults to f32 and rejects anything but 'f32' or 'bf16'", () => {
    const bytes = randomMlpOnnx([8, 4, 1], random);
    expect(FusionMlp.fromOnnx(bytes).precision).toBe('f32');
    expect(FusionMlp.fromOnnx(bytes, { precision: 'f32' }).precision).toBe('f32');
    for (const bad of ['fp16', 'BF16', 16, false])
      expectCode(() => FusionMlp.fromOnnx(bytes, { precision: bad as never }), 'ERR_FUSIONRANK_INVALID_ARGUMENT', TypeError, /options\.precision/);
  });

  it(`runs in ${hasBf16 ? 'bf16 on this CPU' : 'f32 on this CPU (no AVX512-BF16)'}: odd widths, padding columns and row tails match the bf16 reference`, () => {
    // 37 inputs (an odd pair count), 21 and 19 outputs (partly filled panels).
    const bytes = randomMlpOnnx([37, 21, 19], random, { activation: 'Relu' });
    const mlp = FusionMlp.fromOnnx(bytes, { precision: 'bf16' });
    const f32 = FusionMlp.fromOnnx(bytes);
    expect(mlp.precision).toBe(hasBf16 ? 'bf16' : 'f32');
    for (const batch of [1, 5, 6, 7, 49, 100]) {
      const x = randomArray(batch * 37, random);
      const got = mlp.predict(x);
      if (hasBf16) {
        const expected = bf16Reference(bytes, x, batch);
        // Sums of up to 37 products in f32 against float64: well below the
        // ~4e-3 relative step of bf16 itself, which the f32 model differs by.
        expect(relativeError(got, expected)).toBeLessThan(1e-5);
        expect(relativeError(f32.predict(x), expected)).toBeGreaterThan(1e-4);
      } else {
        expect(got).toEqual(f32.predict(x));
      }
    }
  });

  it('stays close to f32 on the bench reranker (1296 → 128 → 32 → 1)', async () => {
    const bytes = randomMlpOnnx([1296, 128, 32, 1], random, { activation: 'Relu' });
    const mlp = FusionMlp.fromOnnx(bytes, { precision: 'bf16' });
    const f32 = FusionMlp.fromOnnx(bytes);
    const x = randomArray(200 * 1296, random);
    const expected = f32.predict(x);
    const got = mlp.predict(x);
    // Worst output against the outputs' RMS: 1296-term sums of bf16 products.
    expect(relativeError(got, expected)).toBeLessThan(5e-2);
    // What a reranker keeps: the same top 20 of 200, give or take a swap at the edge.
    const top = (v: Float32Array) => new Set([...v.keys()].sort((a, b) => v[b] - v[a]).slice(0, 20));
    const want = top(expected);
    expect([...top(got)].filter((i) => want.has(i)).length).toBeGreaterThanOrEqual(18);
    expect(await mlp.predictAsync(x)).toEqual(got);
  });

  it('falls back to f32 on a tier without a bf16 dot product', async () => {
    const bytes = randomMlpOnnx([64, 32, 2], random);
    const mlp = FusionMlp.fromOnnx(bytes, { precision: 'bf16' });
    const f32 = FusionMlp.fromOnnx(bytes);
    const x = randomArray(9 * 64, random);
    await withIsa(native, 'serial', () => {
      expect(mlp.precision).toBe('f32');
      expect(mlp.predict(x)).toEqual(f32.predict(x));
    });
    expect(mlp.precision).toBe(hasBf16 ? 'bf16' : 'f32');
  });
});
