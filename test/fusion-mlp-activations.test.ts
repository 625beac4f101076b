/**
 * The activation math of every ISA against float64 references over a wide
 * sweep (the SIMD tiers use polynomial exp / erfc / tanh), and NaN
 * propagation through every fused epilogue.
 */
import { describe, expect, it } from 'vitest';

import { FusionMlp, type MlpActivation } from '../src/index.js';
import { native } from '../src/native.js';
import { buildOnnxModel, type OnnxNodeSpec } from '../src/rerank/onnx-build.js';
import { withIsa } from './helpers/mlp.js';

const WIDTH = 64;

/** erfc in float64: the Maclaurin series of erf below 3, a continued fraction above. */
function erfc(z: number): number {
  if (z < 0) return 2 - erfc(-z);
  if (z < 3) {
    let term = z, sum = z;
    for (let n = 1; n < 200 && Math.abs(term) > 1e-18 * Math.abs(sum); n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = z;
  for (let k = 80; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / (Math.sqrt(Math.PI) * f);
}

const REFERENCE: Record<Exclude<MlpActivation, 'none'>, (x: number) => number> = {
  relu: (x) => Math.max(0, x),
  leakyRelu: (x) => (x < 0 ? 0.1 * x : x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: (x) => Math.tanh(x),
  gelu: (x) => 0.5 * x * erfc(-x / Math.SQRT2),
  geluTanh: (x) => x / (1 + Math.exp(-2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  silu: (x) => x / (1 + Math.exp(-x)),
  softplus: (x) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x))),
  clip: (x) => Math.min(Math.max(x, -2.5), 3.25),
};
const OPS: Record<keyof typeof REFERENCE, { op: string; attributes?: Record<string, number | string>; constants?: string[] }> = {
  relu: { op: 'Relu' },
  leakyRelu: { op: 'LeakyRelu', attributes: { alpha: 0.1 } },
  sigmoid: { op: 'Sigmoid' },
  tanh: { op: 'Tanh' },
  gelu: { op: 'Gelu' },
  geluTanh: { op: 'Gelu', attributes: { approximate: 'tanh' } },
  silu: { op: 'Sigmoid' }, // + Mul(x, ·): see model()
  softplus: { op: 'Softplus' },
  clip: { op: 'Clip', constants: ['lo', 'hi'] },
};

/** An identity dense layer followed by the activation: fused into the GEMM epilogue. */
function model(activation: keyof typeof REFERENCE, standalone: boolean): FusionMlp {
  const identity = new Float32Array(WIDTH * WIDTH);
  for (let i = 0; i < WIDTH; i++) identity[i * WIDTH + i] = 1;
  const { op, attributes, constants = [] } = OPS[activation];
  // SiLU is exported by PyTorch as Mul(x, Sigmoid(x)).
  const apply = (input: string, output: string): OnnxNodeSpec[] =>
    activation === 'silu'
      ? [{ op: 'Sigmoid', inputs: [input], outputs: [`${input}_s`] }, { op: 'Mul', inputs: [`${input}_s`, input], outputs: [output] }]
      : [{ op, inputs: [input, ...constants], outputs: [output], attributes }];
  return FusionMlp.fromOnnx(buildOnnxModel({
    inputs: [{ name: 'x', dims: ['batch', WIDTH] }],
    outputs: [{ name: 'y', dims: ['batch', WIDTH] }],
    nodes: standalone
      ? [
          // A ReLU and an affine map in between keep the activation a layer of its own.
          { op: 'Gemm', inputs: ['x', 'w'], outputs: ['h'] },
          { op: 'Relu', inputs: ['h'], outputs: ['r'] },
          { op: 'Mul', inputs: ['r', 'one'], outputs: ['m'] },
          ...apply('m', 'y'),
        ]
      : [
          { op: 'Gemm', inputs: ['x', 'w'], outputs: ['h'] },
          ...apply('h', 'y'),
        ],
    initializers: [
      { name: 'w', dims: [WIDTH, WIDTH], values: identity },
      { name: 'one', dims: [], values: [1] },
      { name: 'lo', dims: [], values: [-2.5] },
      { name: 'hi', dims: [], values: [3.25] },
    ],
    opset: 20,
  }));
}

// -20 … 20 in steps of 1/64, plus tiny magnitudes where cancellation would show.
const sweep = (() => {
  const values = [0, 1e-7, -1e-7, 1e-4, -1e-4, 0.01, -0.01, 0.299, 0.301, -0.299, -0.301];
  for (let v = -20; v <= 20; v += 1 / 64) values.push(v);
  while (values.length % WIDTH) values.push(0.5);
  return Float32Array.from(values);
})();

describe('activations against float64 references, every ISA', () => {
  for (const activation of Object.keys(REFERENCE) as Array<keyof typeof REFERENCE>) {
    it(activation, async () => {
      const mlp = model(activation, false);
      expect(mlp.layers).toEqual([{ kind: 'dense', in: WIDTH, out: WIDTH, activation }]);
      for (const isa of native.capabilities().available) {
        const out = await withIsa(native, isa, () => mlp.predict(sweep));
        let worst = 0, at = 0;
        for (let i = 0; i < sweep.length; i++) {
          const expected = REFERENCE[activation](sweep[i]);
          // Relative wherever |f(x)| >= 1e-12; below, absolute on that scale (deep in
          // the GELU tail float32 cannot even hold exp's argument to 1e-6).
          const error = Math.abs(out[i] - expected) / Math.max(Math.abs(expected), 1e-12);
          if (Number.isNaN(error) || error > worst) [worst, at] = [Number.isNaN(error) ? Infinity : error, sweep[i]];
        }
        expect(worst, `${isa}: worst relative error ${worst} at x = ${at}`).toBeLessThan(1e-5);
      }
    });
  }

  it('NaN propagates through every fused epilogue and stand-alone activation', async () => {
    const x = new Float32Array(2 * WIDTH).fill(0.5);
    x.fill(Number.NaN, 0, WIDTH);
    for (const activation of Object.keys(REFERENCE) as Array<keyof typeof REFERENCE>) {
      for (const standalone of [false, true]) {
        const mlp = model(activation, standalone);
        if (standalone) expect(mlp.layers.map((l) => l.kind)).toEqual(['dense', 'affine', 'activation']);
        for (const isa of native.capabilities().available) {
          const out = await withIsa(native, isa, () => mlp.predict(x));
          expect(out.subarray(0, WIDTH).every(Number.isNaN), `${activation} ${isa}`).toBe(true);
          expect(out.subarray(WIDTH).every(Number.isFinite), `${activation} ${isa}`).toBe(true);
        }
      }
    }
  });
});
