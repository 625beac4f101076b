/**
 * Bad ONNX input: every case is an error with a class and a code, never a
 * crash; plus a bounded, seeded fuzz over random bytes, mutated models and
 * random small graphs (checked against onnxruntime whenever both load them).
 */
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { FusionMlp, FusionrankError } from '../src/index.js';
import { buildOnnxModel, type OnnxGraphSpec, type OnnxNodeSpec, type OnnxTensorSpec, randomMlpOnnx } from '../src/rerank/onnx-build.js';
import { expectClose, expectCode, randomArray, rng } from './helpers/mlp.js';

const random = rng(99);

const gemm = (k: number, n: number): { nodes: OnnxNodeSpec[]; initializers: OnnxTensorSpec[] } => ({
  nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'], name: 'fc', attributes: { transB: 1 } }],
  initializers: [
    { name: 'w', dims: [n, k], values: randomArray(n * k, random) },
    { name: 'b', dims: [n], values: randomArray(n, random) },
  ],
});

function graph(over: Partial<OnnxGraphSpec> = {}): OnnxGraphSpec {
  return { inputs: [{ name: 'x', dims: ['batch', 8] }], outputs: [{ name: 'y', dims: ['batch', 4] }], ...gemm(8, 4), ...over };
}

describe('files that are not (whole) ONNX models', () => {
  const valid = randomMlpOnnx([32, 16, 1], random);

  it('truncated files', () => {
    expectCode(() => FusionMlp.fromOnnx(valid.subarray(0, valid.length >> 1)), 'ERR_FUSIONRANK_ONNX_PARSE', FusionrankError);
    for (let cut = 1; cut < valid.length; cut += 97) {
      let caught: unknown;
      try {
        FusionMlp.fromOnnx(valid.subarray(0, cut));
      } catch (error) {
        caught = error;
      }
      expect(caught, `cut at ${cut}`).toBeInstanceOf(FusionrankError);
      expect((caught as FusionrankError).code).toMatch(/^ERR_FUSIONRANK_ONNX_/);
    }
  });

  it('empty bytes, JSON, a PNG header and a safetensors file', () => {
    expectCode(() => FusionMlp.fromOnnx(new Uint8Array(0)), 'ERR_FUSIONRANK_ONNX_PARSE', FusionrankError);
    expectCode(() => FusionMlp.fromOnnx(new TextEncoder().encode('{"model": "not onnx"}')), 'ERR_FUSIONRANK_ONNX_PARSE', FusionrankError);
    expectCode(() => FusionMlp.fromOnnx(Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])), 'ERR_FUSIONRANK_ONNX_PARSE', FusionrankError);
    const header = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}');
    const st = new Uint8Array(8 + header.length + 4);
    new DataView(st.buffer).setBigUint64(0, BigInt(header.length), true);
    st.set(header, 8);
    expectCode(() => FusionMlp.fromOnnx(st), 'ERR_FUSIONRANK_ONNX_PARSE', FusionrankError);
  });
});

describe('graphs FusionMlp does not run', () => {
  it('an unsupported op names the op and node and points to OnnxModel', () => {
    const bytes = buildOnnxModel(graph({
      nodes: [
        { op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['h'], name: 'fc', attributes: { transB: 1 } },
        { op: 'Hardmax', inputs: ['h'], outputs: ['y'], name: 'head/hardmax' },
      ],
    }));
    const err = expectCode(() => FusionMlp.fromOnnx(bytes), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_OP', FusionrankError, /'Hardmax'.*'head\/hardmax'.*OnnxModel\.load/s);
    expect(err).toMatchObject({ op: 'Hardmax', node: 'head/hardmax' });
  });

  it('two outputs', () => {
    const bytes = buildOnnxModel(graph({ outputs: [{ name: 'y', dims: ['batch', 4] }, { name: 'x', dims: ['batch', 8] }] }));
    expectCode(() => FusionMlp.fromOnnx(bytes), 'ERR_FUSIONRANK_ONNX_OUTPUTS', FusionrankError, /2 outputs/);
  });

  it('a dynamic dimension other than batch', () => {
    expectCode(() => FusionMlp.fromOnnx(buildOnnxModel(graph({ inputs: [{ name: 'x', dims: ['batch', 'features'] }] }))), 'ERR_FUSIONRANK_ONNX_DYNAMIC_DIM', FusionrankError, /'features'/);
    expectCode(() => FusionMlp.fromOnnx(buildOnnxModel(graph({ inputs: [{ name: 'x', dims: ['batch'] }] }))), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_SHAPE', FusionrankError);
  });

  it('weights of the wrong size or shape', () => {
    const short = buildOnnxModel(graph({ initializers: [{ name: 'w', dims: [4, 8], values: randomArray(31, random) }, { name: 'b', dims: [4], values: randomArray(4, random) }] }));
    expectCode(() => FusionMlp.fromOnnx(short), 'ERR_FUSIONRANK_ONNX_BAD_TENSOR', FusionrankError, /'w'.*32/);
    const shortFloats = buildOnnxModel(graph({ initializers: [{ name: 'w', dims: [4, 8], values: randomArray(30, random), encoding: 'float_data' }, { name: 'b', dims: [4], values: randomArray(4, random) }] }));
    expectCode(() => FusionMlp.fromOnnx(shortFloats), 'ERR_FUSIONRANK_ONNX_BAD_TENSOR', FusionrankError, /holds 30/);
    const wrongShape = buildOnnxModel(graph({ initializers: [{ name: 'w', dims: [4, 9], values: randomArray(36, random) }, { name: 'b', dims: [4], values: randomArray(4, random) }] }));
    expectCode(() => FusionMlp.fromOnnx(wrongShape), 'ERR_FUSIONRANK_ONNX_SHAPE_MISMATCH', FusionrankError, /does not take 8 features/);
    const wrongBias = buildOnnxModel(graph({ initializers: [{ name: 'w', dims: [4, 8], values: randomArray(32, random) }, { name: 'b', dims: [5], values: randomArray(5, random) }] }));
    expectCode(() => FusionMlp.fromOnnx(wrongBias), 'ERR_FUSIONRANK_ONNX_SHAPE_MISMATCH', FusionrankError, /bias/);
  });

  it('integer inputs, transA, branches and data-dependent operands', () => {
    expectCode(() => FusionMlp.fromOnnx(buildOnnxModel(graph({ inputs: [{ name: 'x', dims: ['batch', 8], elemType: 7 }] }))), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_TYPE', FusionrankError);
    const transA = graph();
    transA.nodes[0].attributes = { transA: 1, transB: 1 };
    expectCode(() => FusionMlp.fromOnnx(buildOnnxModel(transA)), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED', FusionrankError, /transA/);
    const residual = graph({
      inputs: [{ name: 'x', dims: ['batch', 8] }],
      outputs: [{ name: 'y', dims: ['batch', 8] }],
      nodes: [
        { op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['h'] },
        { op: 'Relu', inputs: ['h'], outputs: ['r'] },
        { op: 'Add', inputs: ['r', 'h'], outputs: ['y'] },
      ],
      initializers: [{ name: 'w', dims: [8, 8], values: randomArray(64, random) }, { name: 'b', dims: [8], values: randomArray(8, random) }],
    });
    expectCode(() => FusionMlp.fromOnnx(buildOnnxModel(residual)), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED', FusionrankError, /between the data and a constant/);
    const branch = graph({
      outputs: [{ name: 'y', dims: ['batch', 4] }],
      nodes: [
        { op: 'Relu', inputs: ['x'], outputs: ['r'] },
        { op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['y'], attributes: { transB: 1 } },
      ],
    });
    expectCode(() => FusionMlp.fromOnnx(buildOnnxModel(branch)), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED', FusionrankError, /chain moved on/);
    const twoInputs = graph({ inputs: [{ name: 'x', dims: ['batch', 8] }, { name: 'z', dims: ['batch', 2] }] });
    expectCode(() => FusionMlp.fromOnnx(buildOnnxModel(twoInputs)), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED', FusionrankError, /Concat/);
  });
});

describe('shapes onnxruntime users meet', () => {
  it('a static batch dimension (a PyTorch export without dynamic_axes) still takes any batch', () => {
    const dynamic = graph();
    const fixed = { ...dynamic, inputs: [{ name: 'x', dims: [1, 8] }], outputs: [{ name: 'y', dims: [1, 4] }] };
    const x = randomArray(3 * 8, random);
    expectClose(FusionMlp.fromOnnx(buildOnnxModel(fixed)).predict(x), FusionMlp.fromOnnx(buildOnnxModel(dynamic)).predict(x), 0);
  });

  it('a rank-3 input needs a Flatten before a dense layer', () => {
    const bytes = buildOnnxModel(graph({ inputs: [{ name: 'x', dims: ['batch', 2, 4] }] }));
    expectCode(() => FusionMlp.fromOnnx(bytes), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED', FusionrankError, /Flatten/);
  });
});

describe('fuzz (seeded, bounded)', () => {
  function expectCleanFailureOrModel(bytes: Uint8Array): FusionMlp | undefined {
    try {
      return FusionMlp.fromOnnx(bytes);
    } catch (error) {
      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: string }).code, (error as Error).message).toMatch(/^ERR_FUSIONRANK_/);
      return undefined;
    }
  }

  it('random bytes', () => {
    const r = rng(1234);
    for (let i = 0; i < 400; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(r() * 200) }, () => Math.floor(r() * 256));
      expectCleanFailureOrModel(bytes);
    }
  });

  it('valid models with random bytes flipped', () => {
    const r = rng(4321);
    const valid = randomMlpOnnx([12, 8, 2], r, { finalActivation: 'Sigmoid' });
    for (let i = 0; i < 300; i++) {
      const bytes = valid.slice();
      const flips = 1 + Math.floor(r() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const mlp = expectCleanFailureOrModel(bytes);
      if (mlp) {
        const out = mlp.predict(randomArray(3 * mlp.inputSize, r));
        expect(out.length).toBe(3 * mlp.outputSize);
      }
    }
  });

  it('random small graphs load cleanly or fail with a code, and agree with onnxruntime when both run them', async () => {
    const r = rng(777);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
    const unary = ['Relu', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Identity', 'Dropout', 'Softmax', 'Hardmax', 'Exp', 'Abs'] as const;
    let agreed = 0;
    for (let g = 0; g < 60; g++) {
      let width = 1 + Math.floor(r() * 20);
      const inputWidth = width;
      const nodes: OnnxNodeSpec[] = [];
      const initializers: OnnxTensorSpec[] = [];
      let cur = 'x';
      const steps = 1 + Math.floor(r() * 4);
      for (let s = 0; s < steps; s++) {
        const out = `v${s}`;
        const kind = r();
        if (kind < 0.45) {
          const n = 1 + Math.floor(r() * 20);
          // Occasionally a weight that does not fit, to exercise the shape checks.
          const k = r() < 0.1 ? width + 1 : width;
          const transB = r() < 0.5;
          initializers.push({ name: `w${s}`, dims: transB ? [n, k] : [k, n], values: randomArray(n * k, r, 0.7) });
          initializers.push({ name: `b${s}`, dims: [n], values: randomArray(n, r) });
          nodes.push({ op: 'Gemm', inputs: [cur, `w${s}`, `b${s}`], outputs: [out], attributes: { transB: transB ? 1 : 0 } });
          width = n;
        } else if (kind < 0.6) {
          initializers.push({ name: `c${s}`, dims: [width], values: randomArray(width, r) });
          nodes.push({ op: pick(['Add', 'Mul', 'Sub'] as const), inputs: [cur, `c${s}`], outputs: [out] });
        } else {
          const op = pick(unary);
          nodes.push({ op, inputs: [cur], outputs: [out], ...(op === 'LeakyRelu' ? { attributes: { alpha: 0.1 } } : {}) });
        }
        cur = out;
      }
      nodes.push({ op: 'Identity', inputs: [cur], outputs: ['y'] });
      const bytes = buildOnnxModel({ inputs: [{ name: 'x', dims: ['batch', inputWidth] }], outputs: [{ name: 'y', dims: ['batch', width] }], nodes, initializers });
      const mlp = expectCleanFailureOrModel(bytes);
      if (!mlp) continue;
      let session: ort.InferenceSession | undefined;
      try {
        session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, logSeverityLevel: 3 });
      } catch {
        continue; // onnxruntime rejects it too: nothing to compare
      }
      const batch = 1 + Math.floor(r() * 9);
      const x = randomArray(batch * inputWidth, r);
      const expected = (await session.run({ x: new ort.Tensor('float32', x, [batch, inputWidth]) })).y.data as Float32Array;
      await session.release();
      expectClose(mlp.predict(x), expected);
      agreed++;
    }
    // The generator must mostly produce runnable graphs, or this test checks little.
    expect(agreed).toBeGreaterThan(20);
  }, 60_000);
});
