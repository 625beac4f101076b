/**
 * Every supported ONNX op against onnxruntime-node on models the test builds:
 * results must agree within 1e-5 relative (f32), under every ISA.
 */
import { describe, expect, it } from 'vitest';

import { native } from '../src/native.js';
import { FusionMlp } from '../src/index.js';
import { buildOnnxModel, type OnnxGraphSpec, type OnnxNodeSpec, type OnnxTensorSpec, roundToHalf } from '../src/rerank/onnx-build.js';
import { expectClose, ortRun, randomArray, rng, withIsa } from './helpers/mlp.js';

const random = rng(20261122);
const BATCHES = [1, 5, 37];

function dense(name: string, k: number, n: number, transB: boolean, scale = Math.sqrt(2 / k)): OnnxTensorSpec[] {
  return [
    { name: `${name}.weight`, dims: transB ? [n, k] : [k, n], values: randomArray(k * n, random, scale) },
    { name: `${name}.bias`, dims: [n], values: randomArray(n, random, 0.2) },
  ];
}

function singleInput(k: number, nOut: number, nodes: OnnxNodeSpec[], initializers: OnnxTensorSpec[], opset = 17, inputDims: number[] = [k]): OnnxGraphSpec {
  return {
    inputs: [{ name: 'x', dims: ['batch', ...inputDims] }],
    outputs: [{ name: 'y', dims: ['batch', nOut] }],
    nodes,
    initializers,
    opset,
  };
}

/** Loads `spec` both ways and compares on random batches (inputs scaled by `inputScale`). */
async function check(spec: OnnxGraphSpec, inputScale = 1, tolerance = 1e-5): Promise<FusionMlp> {
  const bytes = buildOnnxModel(spec);
  const mlp = FusionMlp.fromOnnx(bytes);
  for (const batch of BATCHES) {
    const feeds: Record<string, { data: Float32Array; dims: number[] }> = {};
    const named: Record<string, Float32Array> = {};
    for (const input of spec.inputs) {
      const dims = input.dims.slice(1) as number[];
      const data = randomArray(batch * dims.reduce((a, b) => a * b, 1), random, inputScale);
      feeds[input.name] = { data, dims: [batch, ...dims] };
      named[input.name] = data;
    }
    const expected = await ortRun(bytes, feeds);
    const actual = spec.inputs.length === 1 ? mlp.predict(Object.values(named)[0]) : mlp.predict(named);
    expectClose(actual, expected, tolerance);
    for (const isa of native.capabilities().available) {
      const viaIsa = await withIsa(native, isa, () => (spec.inputs.length === 1 ? mlp.predict(Object.values(named)[0]) : mlp.predict(named)));
      expectClose(viaIsa, expected, tolerance);
    }
  }
  return mlp;
}

describe('Gemm', () => {
  for (const [k, n] of [[7, 5], [64, 33], [300, 17]] as const) {
    for (const transB of [false, true]) {
      it(`${k}→${n} transB=${transB ? 1 : 0}`, async () => {
        const mlp = await check(singleInput(k, n, [{ op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['y'], attributes: { transB: transB ? 1 : 0 } }], dense('fc', k, n, transB)));
        expect(mlp.layers).toEqual([{ kind: 'dense', in: k, out: n, activation: 'none' }]);
      });
    }
  }

  it('alpha and beta scale the product and the bias', async () => {
    await check(singleInput(20, 9, [{ op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['y'], attributes: { transB: 1, alpha: 0.37, beta: -1.75 } }], dense('fc', 20, 9, true)));
  });

  it('without a bias, and with a [1, n] and a scalar bias', async () => {
    await check(singleInput(16, 8, [{ op: 'Gemm', inputs: ['x', 'fc.weight'], outputs: ['y'] }], dense('fc', 16, 8, false).slice(0, 1)));
    await check(singleInput(16, 8, [{ op: 'Gemm', inputs: ['x', 'fc.weight', 'b'], outputs: ['y'] }], [...dense('fc', 16, 8, false).slice(0, 1), { name: 'b', dims: [1, 8], values: randomArray(8, random) }]));
    await check(singleInput(16, 8, [{ op: 'Gemm', inputs: ['x', 'fc.weight', 'b'], outputs: ['y'] }], [...dense('fc', 16, 8, false).slice(0, 1), { name: 'b', dims: [1], values: [0.625] }]));
  });

  it('weights stored as float_data, float16 and a Constant node', async () => {
    const w = randomArray(12 * 6, random, 0.5);
    await check(singleInput(12, 6, [
      { op: 'Constant', inputs: [], outputs: ['b'], attributes: { value: { tensor: { name: 'b', dims: [6], values: randomArray(6, random) } } } },
      { op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'] },
    ], [{ name: 'w', dims: [12, 6], values: w, encoding: 'float_data' }]));
    // onnxruntime rejects f16 weights with f32 data, so float16 is checked against the rounded weights.
    const bytes = buildOnnxModel(singleInput(12, 6, [{ op: 'Gemm', inputs: ['x', 'w'], outputs: ['y'] }], [{ name: 'w', dims: [12, 6], values: w, encoding: 'f16' }]));
    const mlp = FusionMlp.fromOnnx(bytes);
    const x = randomArray(12, random);
    const expected = new Float64Array(6);
    for (let j = 0; j < 6; j++) for (let k = 0; k < 12; k++) expected[j] += x[k] * roundToHalf(w[k * 6 + j]);
    expectClose(mlp.predict(x), expected);
  });
});

describe('MatMul + Add and constant element-wise ops', () => {
  it('MatMul then Add folds the bias into the dense layer', async () => {
    const mlp = await check(singleInput(24, 10, [
      { op: 'MatMul', inputs: ['x', 'fc.weight'], outputs: ['m'] },
      { op: 'Add', inputs: ['fc.bias', 'm'], outputs: ['y'] },
    ], dense('fc', 24, 10, false)));
    expect(mlp.layers).toHaveLength(1);
  });

  it('Sub, Mul and Div by constants (scalars and per feature)', async () => {
    await check(singleInput(10, 6, [
      { op: 'MatMul', inputs: ['x', 'fc.weight'], outputs: ['m'] },
      { op: 'Sub', inputs: ['m', 'c1'], outputs: ['s'] },
      { op: 'Mul', inputs: ['c2', 's'], outputs: ['p'] },
      { op: 'Relu', inputs: ['p'], outputs: ['r'] },
      { op: 'Div', inputs: ['r', 'c3'], outputs: ['d'] },
      { op: 'Sub', inputs: ['c4', 'd'], outputs: ['y'] },
    ], [...dense('fc', 10, 6, false).slice(0, 1),
      { name: 'c1', dims: [6], values: randomArray(6, random) },
      { name: 'c2', dims: [], values: [1.5] },
      { name: 'c3', dims: [1, 6], values: Float32Array.from({ length: 6 }, (_, i) => 0.5 + i) },
      { name: 'c4', dims: [1], values: [0.25] }]));
  });
});

describe('activations, fused into the dense epilogue', () => {
  const cases: Array<[string, Record<string, number | string> | undefined, number]> = [
    ['Relu', undefined, 17],
    ['LeakyRelu', { alpha: 0.2 }, 17],
    ['Sigmoid', undefined, 17],
    ['Tanh', undefined, 17],
    ['Gelu', undefined, 20],
    ['Gelu', { approximate: 'tanh' }, 20],
  ];
  for (const [op, attributes, opset] of cases) {
    it(`${op}${attributes ? ` ${JSON.stringify(attributes)}` : ''}`, async () => {
      // Pre-activations spread over about [-8, 8], through 0.
      const mlp = await check(singleInput(32, 40, [
        { op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['h'], attributes: { transB: 1 } },
        { op, inputs: ['h'], outputs: ['y'], attributes },
      ], dense('fc', 32, 40, true, 0.6), opset), 1.5);
      expect(mlp.layers).toHaveLength(1);
      expect(mlp.layers[0].activation).not.toBe('none');
    });
  }

  it('SiLU as PyTorch exports it, Mul(x, Sigmoid(x)), is fused', async () => {
    const mlp = await check(singleInput(16, 24, [
      { op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['h'] },
      { op: 'Sigmoid', inputs: ['h'], outputs: ['s'] },
      { op: 'Mul', inputs: ['h', 's'], outputs: ['y'] },
    ], dense('fc', 16, 24, false, 0.8)), 1.5);
    expect(mlp.layers).toEqual([{ kind: 'dense', in: 16, out: 24, activation: 'silu' }]);
  });

  it('com.microsoft Gelu', async () => {
    await check(singleInput(16, 24, [
      { op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['h'] },
      { op: 'Gelu', domain: 'com.microsoft', inputs: ['h'], outputs: ['y'] },
    ], dense('fc', 16, 24, false, 0.8)), 1.5);
  });

  // The three placements of the 0.5 in the erf-based GELU PyTorch exports.
  const erfPatterns: Record<string, OnnxNodeSpec[]> = {
    'Mul(Mul(x, 1 + erf), 0.5)': [
      { op: 'Div', inputs: ['h', 'sqrt2'], outputs: ['d'] },
      { op: 'Erf', inputs: ['d'], outputs: ['e'] },
      { op: 'Add', inputs: ['e', 'one'], outputs: ['a'] },
      { op: 'Mul', inputs: ['h', 'a'], outputs: ['m'] },
      { op: 'Mul', inputs: ['m', 'half'], outputs: ['y'] },
    ],
    'Mul(Mul(x, 0.5), 1 + erf)': [
      { op: 'Mul', inputs: ['h', 'invsqrt2'], outputs: ['d'] },
      { op: 'Erf', inputs: ['d'], outputs: ['e'] },
      { op: 'Add', inputs: ['one', 'e'], outputs: ['a'] },
      { op: 'Mul', inputs: ['h', 'half'], outputs: ['hh'] },
      { op: 'Mul', inputs: ['hh', 'a'], outputs: ['y'] },
    ],
    'Mul(x, Mul(1 + erf, 0.5))': [
      { op: 'Constant', inputs: [], outputs: ['k'], attributes: { value_float: { float: Math.SQRT2 } } },
      { op: 'Div', inputs: ['h', 'k'], outputs: ['d'] },
      { op: 'Erf', inputs: ['d'], outputs: ['e'] },
      { op: 'Add', inputs: ['e', 'one'], outputs: ['a'] },
      { op: 'Mul', inputs: ['a', 'half'], outputs: ['m'] },
      { op: 'Mul', inputs: ['h', 'm'], outputs: ['y'] },
    ],
  };
  for (const [name, pattern] of Object.entries(erfPatterns)) {
    it(`the erf GELU pattern ${name} becomes one fused GELU`, async () => {
      const mlp = await check(singleInput(16, 24, [
        { op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['h'], attributes: { transB: 1 } },
        ...pattern,
      ], [...dense('fc', 16, 24, true, 0.8),
        { name: 'sqrt2', dims: [], values: [Math.SQRT2] },
        { name: 'invsqrt2', dims: [], values: [Math.SQRT1_2] },
        { name: 'one', dims: [], values: [1] },
        { name: 'half', dims: [], values: [0.5] }]), 1.5);
      expect(mlp.layers).toEqual([{ kind: 'dense', in: 16, out: 24, activation: 'gelu' }]);
    });
  }

  it('an Erf outside the pattern is reported as unsupported', () => {
    const bytes = buildOnnxModel(singleInput(4, 4, [{ op: 'Erf', inputs: ['x'], outputs: ['y'] }], []));
    expect(() => FusionMlp.fromOnnx(bytes)).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_OP', op: 'Erf' }));
  });
});

describe('normalisation', () => {
  function batchNorm(name: string, n: number): OnnxTensorSpec[] {
    return [
      { name: `${name}.scale`, dims: [n], values: randomArray(n, random, 2) },
      { name: `${name}.bias`, dims: [n], values: randomArray(n, random) },
      { name: `${name}.mean`, dims: [n], values: randomArray(n, random) },
      { name: `${name}.var`, dims: [n], values: Float32Array.from({ length: n }, () => 0.1 + random() * 3) },
    ];
  }
  const bnInputs = (x: string, name: string) => [x, `${name}.scale`, `${name}.bias`, `${name}.mean`, `${name}.var`];

  it('BatchNormalization after a dense layer is folded into it', async () => {
    const mlp = await check(singleInput(30, 20, [
      { op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['h'], attributes: { transB: 1 } },
      { op: 'BatchNormalization', inputs: bnInputs('h', 'bn'), outputs: ['b'], attributes: { epsilon: 1e-3 } },
      { op: 'Relu', inputs: ['b'], outputs: ['r'] },
      { op: 'MatMul', inputs: ['r', 'fc2.weight'], outputs: ['m'] },
      { op: 'BatchNormalization', inputs: bnInputs('m', 'bn2'), outputs: ['y'] },
    ], [...dense('fc', 30, 20, true), ...batchNorm('bn', 20), ...dense('fc2', 20, 20, false), ...batchNorm('bn2', 20)]));
    expect(mlp.layers.map((l) => l.kind)).toEqual(['dense', 'dense']);
  });

  it('BatchNormalization after an activation or on the input stays an affine layer', async () => {
    const mlp = await check(singleInput(12, 8, [
      { op: 'BatchNormalization', inputs: bnInputs('x', 'bn0'), outputs: ['n'] },
      { op: 'Gemm', inputs: ['n', 'fc.weight', 'fc.bias'], outputs: ['h'] },
      { op: 'Tanh', inputs: ['h'], outputs: ['t'] },
      { op: 'BatchNormalization', inputs: bnInputs('t', 'bn'), outputs: ['y'] },
    ], [...batchNorm('bn0', 12), ...dense('fc', 12, 8, false), ...batchNorm('bn', 8)]));
    expect(mlp.layers.map((l) => l.kind)).toEqual(['affine', 'dense', 'affine']);
  });

  it('LayerNormalization with and without a bias, then a stand-alone activation', async () => {
    for (const withBias of [true, false]) {
      const mlp = await check(singleInput(40, 16, [
        { op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['h'], attributes: { transB: 1 } },
        { op: 'LayerNormalization', inputs: withBias ? ['h', 'ln.scale', 'ln.bias'] : ['h', 'ln.scale'], outputs: ['n'], attributes: { epsilon: 1e-5, axis: -1 } },
        { op: 'Sigmoid', inputs: ['n'], outputs: ['y'] },
      ], [...dense('fc', 40, 16, true), { name: 'ln.scale', dims: [16], values: randomArray(16, random, 2) }, { name: 'ln.bias', dims: [16], values: randomArray(16, random) }]));
      expect(mlp.layers.map((l) => l.kind)).toEqual(['dense', 'layernorm', 'activation']);
    }
  });
});

describe('the LayerNorm PyTorch exports below opset 17', () => {
  const decomposed = (square: 'Pow' | 'Mul', affine: boolean, opset: number): OnnxNodeSpec[] => {
    const mean = (input: string, output: string): OnnxNodeSpec =>
      opset >= 18 ? { op: 'ReduceMean', inputs: [input, 'axes'], outputs: [output] } : { op: 'ReduceMean', inputs: [input], outputs: [output], attributes: { axes: { ints: [-1] } } };
    return [
      { op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['h'], attributes: { transB: 1 } },
      mean('h', 'm'),
      { op: 'Sub', inputs: ['h', 'm'], outputs: ['d'] },
      square === 'Pow' ? { op: 'Pow', inputs: ['d', 'two'], outputs: ['p'] } : { op: 'Mul', inputs: ['d', 'd'], outputs: ['p'] },
      mean('p', 'v'),
      { op: 'Add', inputs: ['v', 'eps'], outputs: ['e'] },
      { op: 'Sqrt', inputs: ['e'], outputs: ['s'] },
      { op: 'Div', inputs: ['d', 's'], outputs: affine ? ['n'] : ['y'] },
      ...(affine ? [{ op: 'Mul', inputs: ['n', 'gamma'], outputs: ['g'] }, { op: 'Add', inputs: ['g', 'beta'], outputs: ['y'] }] : []),
    ];
  };
  const constants = (): OnnxTensorSpec[] => [
    ...dense('fc', 20, 12, true),
    { name: 'two', dims: [], values: [2] },
    { name: 'eps', dims: [], values: [1e-5] },
    { name: 'gamma', dims: [12], values: randomArray(12, random, 2) },
    { name: 'beta', dims: [12], values: randomArray(12, random) },
    { name: 'axes', dims: [1], values: [-1], encoding: 'int64' },
  ];
  for (const [square, affine, opset] of [['Pow', true, 13], ['Mul', false, 13], ['Pow', true, 18]] as const) {
    it(`${square}${affine ? ' with gamma and beta' : ''}, opset ${opset}, becomes one LayerNormalization`, async () => {
      const mlp = await check(singleInput(20, 12, decomposed(square, affine, opset), constants(), opset));
      expect(mlp.layers.map((l) => l.kind)).toEqual(['dense', 'layernorm']);
    });
  }
});

describe('Softmax', () => {
  it('over the features of a classifier head, default and explicit axis', async () => {
    for (const attributes of [undefined, { axis: 1 }, { axis: -1 }]) {
      const mlp = await check(singleInput(20, 7, [
        { op: 'Gemm', inputs: ['x', 'fc.weight', 'fc.bias'], outputs: ['h'], attributes: { transB: 1 } },
        { op: 'Softmax', inputs: ['h'], outputs: ['y'], attributes },
      ], dense('fc', 20, 7, true, 1.5)), 2);
      expect(mlp.layers.map((l) => l.kind)).toEqual(['dense', 'softmax']);
    }
  });
});

describe('graph plumbing', () => {
  it('Identity, Dropout and Flatten of a [batch, 4, 6] input', async () => {
    await check(singleInput(24, 5, [
      { op: 'Flatten', inputs: ['x'], outputs: ['f'], attributes: { axis: 1 } },
      { op: 'Identity', inputs: ['f'], outputs: ['i'] },
      { op: 'Gemm', inputs: ['i', 'fc.weight', 'fc.bias'], outputs: ['h'], attributes: { transB: 1 } },
      { op: 'Dropout', inputs: ['h'], outputs: ['y'] },
    ], dense('fc', 24, 5, true), 17, [4, 6]));
  });

  it('Concat of named inputs text, image and meta', async () => {
    const mlp = await check({
      inputs: [{ name: 'text', dims: ['batch', 24] }, { name: 'image', dims: ['batch', 16] }, { name: 'meta', dims: ['batch', 5] }],
      outputs: [{ name: 'y', dims: ['batch', 1] }],
      nodes: [
        { op: 'Concat', inputs: ['image', 'text', 'meta'], outputs: ['c'], attributes: { axis: 1 } },
        { op: 'Gemm', inputs: ['c', 'fc1.weight', 'fc1.bias'], outputs: ['h'], attributes: { transB: 1 } },
        { op: 'Relu', inputs: ['h'], outputs: ['r'] },
        { op: 'Gemm', inputs: ['r', 'fc2.weight', 'fc2.bias'], outputs: ['o'], attributes: { transB: 1 } },
        { op: 'Sigmoid', inputs: ['o'], outputs: ['y'] },
      ],
      initializers: [...dense('fc1', 45, 32, true), ...dense('fc2', 32, 1, true)],
    });
    // Flat rows follow the Concat order, not the declaration order.
    expect(mlp.inputs.map((x) => [x.name, x.offset, x.size])).toEqual([['image', 0, 16], ['text', 16, 24], ['meta', 40, 5]]);
  });

  it('a deep mixed network with widths that are not multiples of 16', async () => {
    await check(singleInput(67, 3, [
      { op: 'Gemm', inputs: ['x', 'a.weight', 'a.bias'], outputs: ['h1'], attributes: { transB: 1 } },
      { op: 'LeakyRelu', inputs: ['h1'], outputs: ['r1'], attributes: { alpha: 0.05 } },
      { op: 'MatMul', inputs: ['r1', 'b.weight'], outputs: ['m2'] },
      { op: 'Add', inputs: ['m2', 'b.bias'], outputs: ['h2'] },
      { op: 'Tanh', inputs: ['h2'], outputs: ['r2'] },
      { op: 'Gemm', inputs: ['r2', 'c.weight', 'c.bias'], outputs: ['y'] },
    ], [...dense('a', 67, 129, true), ...dense('b', 129, 33, false), ...dense('c', 33, 3, false)]));
  });
});
