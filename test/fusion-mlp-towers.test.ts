/**
 * Two-tower tails in FusionMlp: towers exported by torch.onnx.export from real
 * nn.Modules (scripts/fixtures/towers.py; the fixtures hold PyTorch's outputs,
 * so no Python runs here) against PyTorch and onnxruntime, on every ISA; the
 * F.normalize / LpNormalization / Softplus / Clip / temperature patterns built
 * by hand; and the errors of what falls outside them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { FusionMlp } from '../src/index.js';
import { native } from '../src/native.js';
import { buildOnnxModel, type OnnxGraphSpec, type OnnxNodeSpec } from '../src/rerank/onnx-build.js';
import { expectClose, expectCode, ortRun, randomArray, relativeError, rng, withIsa } from './helpers/mlp.js';

const DIR = join(__dirname, 'fixtures', 'towers');

interface TowerFixture {
  torch: string;
  opset: number;
  rows: number;
  inputDims: Record<string, number>;
  inputs: Record<string, number[]>;
  outputDim: number;
  output: number[];
}

function fixture(name: string): { bytes: Uint8Array; fx: TowerFixture; named: Record<string, Float32Array> } {
  const fx = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as TowerFixture;
  const named = Object.fromEntries(Object.entries(fx.inputs).map(([k, v]) => [k, Float32Array.from(v)]));
  return { bytes: readFileSync(join(DIR, `${name}.onnx`)), fx, named };
}

function rowNorms(out: Float32Array, width: number): number[] {
  const norms: number[] = [];
  for (let r = 0; r < out.length / width; r++) {
    let sq = 0;
    for (let j = 0; j < width; j++) sq += out[r * width + j] ** 2;
    norms.push(Math.sqrt(sq));
  }
  return norms;
}

const TOWERS: Array<{ name: string; layers: string[]; norm?: number }> = [
  { name: 'user-tower', layers: ['dense:relu', 'dense:none', 'l2norm:none'], norm: 1 },
  // Softplus(beta=2) is Mul(2) → Softplus → Div(2): the Mul folds into the dense layer.
  { name: 'softplus-tower', layers: ['dense:softplus', 'dense:softplus', 'affine:none'] },
  // Opset 10 carries Clip's bounds as attributes; relu6 there is Relu → Clip(max=6).
  { name: 'hardtanh-tower', layers: ['dense:clip', 'dense:relu', 'affine:none', 'activation:relu', 'activation:clip', 'dense:clip'] },
  // From opset 11 bounds are inputs, and ReLU → Clip(0, 6) becomes one clip.
  { name: 'hardtanh-tower-opset13', layers: ['dense:clip', 'dense:relu', 'affine:none', 'activation:clip', 'dense:clip'] },
  // logit_scale.exp().clamp(max=100) is folded into the normalisation's scale.
  { name: 'temperature-tower', layers: ['dense:gelu', 'dense:none', 'l2norm:none'], norm: Math.exp(2.6592) },
  { name: 'temperature-tower-opset10', layers: ['dense:gelu', 'dense:none', 'l2norm:none'], norm: Math.exp(2.6592) },
];

describe('towers exported by torch.onnx.export', () => {
  for (const tower of TOWERS) {
    it(`${tower.name}: matches PyTorch and onnxruntime on every ISA`, async () => {
      const { bytes, fx, named } = fixture(tower.name);
      const mlp = FusionMlp.fromOnnx(bytes);
      expect(mlp.layers.map((l) => `${l.kind}:${l.activation}`)).toEqual(tower.layers);
      expect(mlp.inputs.map((x) => [x.name, x.size])).toEqual(Object.entries(fx.inputDims));
      expect(mlp.outputSize).toBe(fx.outputDim);
      const feeds = Object.fromEntries(Object.entries(named).map(([k, v]) => [k, { data: v, dims: [fx.rows, fx.inputDims[k]] }]));
      const ort = await ortRun(bytes, feeds);
      expectClose(ort, fx.output, 1e-5); // the fixture is what onnxruntime computes too
      for (const isa of native.capabilities().available) {
        const out = await withIsa(native, isa, () => mlp.predict(named));
        expectClose(out, fx.output, 1e-5);
        expectClose(out, ort, 1e-5);
        if (tower.norm) for (const n of rowNorms(out, fx.outputDim)) expect(n, isa).toBeCloseTo(tower.norm, 4);
        // Batch 1 (the Ranker's tower) gives each row of the batch.
        for (let r = 0; r < fx.rows; r++) {
          const row = Object.fromEntries(Object.entries(named).map(([k, v]) => [k, v.subarray(r * fx.inputDims[k], (r + 1) * fx.inputDims[k])]));
          const one = await withIsa(native, isa, () => mlp.predict(row));
          expectClose(one, out.subarray(r * fx.outputDim, (r + 1) * fx.outputDim), 1e-6);
        }
      }
    });
  }

  it('the 512 → 256 → 128 tower in bf16 stays normalised and close', () => {
    const { bytes, fx, named } = fixture('user-tower');
    const mlp = FusionMlp.fromOnnx(bytes, { precision: 'bf16' });
    const out = mlp.predict(named);
    for (const n of rowNorms(out, fx.outputDim)) expect(n).toBeCloseTo(1, 5);
    expect(relativeError(out, fx.output)).toBeLessThan(mlp.precision === 'bf16' ? 0.05 : 1e-5);
  });

  it('the fixtures are small', () => {
    const total = TOWERS.reduce((s, t) => s + readFileSync(join(DIR, `${t.name}.onnx`)).byteLength, 0);
    expect(total).toBeLessThan(2 * 1024 * 1024);
  });
});

// ---- hand-built graphs: the pattern variants and their edges

const W = 24;

/** x[batch, W] → Gemm (seeded weights) → `tail`, output 'y'. */
function graph(tail: OnnxNodeSpec[], extra: OnnxGraphSpec['initializers'] = [], opset = 17): Uint8Array {
  const random = rng(7);
  return buildOnnxModel({
    inputs: [{ name: 'x', dims: ['batch', W] }],
    outputs: [{ name: 'y', dims: ['batch', W] }],
    nodes: [{ op: 'Gemm', inputs: ['x', 'w', 'b'], outputs: ['h'] }, ...tail],
    initializers: [{ name: 'w', dims: [W, W], values: randomArray(W * W, random, 0.5) }, { name: 'b', dims: [W], values: randomArray(W, random, 0.1) }, ...extra],
    opset,
  });
}

const normalizeTail = (opts: { clip?: 'Clip' | 'Max' | 'none'; expand?: 'shape' | 'const' | 'none'; axesInput?: boolean } = {}): { nodes: OnnxNodeSpec[]; init: NonNullable<OnnxGraphSpec['initializers']> } => {
  const { clip = 'Clip', expand = 'shape', axesInput = false } = opts;
  const nodes: OnnxNodeSpec[] = [
    axesInput
      ? { op: 'ReduceL2', inputs: ['h', 'axes'], outputs: ['n'], attributes: { keepdims: 1 } }
      : { op: 'ReduceL2', inputs: ['h'], outputs: ['n'], attributes: { axes: { ints: [-1] }, keepdims: 1 } },
  ];
  let value = 'n';
  if (clip === 'Clip') nodes.push({ op: 'Clip', inputs: ['n', 'eps', ''], outputs: ['c'] });
  if (clip === 'Max') nodes.push({ op: 'Max', inputs: ['eps', 'n'], outputs: ['c'] });
  if (clip !== 'none') value = 'c';
  if (expand === 'shape') nodes.push({ op: 'Shape', inputs: ['h'], outputs: ['s'] }, { op: 'Expand', inputs: [value, 's'], outputs: ['e'] });
  if (expand === 'const') nodes.push({ op: 'Expand', inputs: [value, 'shape'], outputs: ['e'] });
  if (expand !== 'none') value = 'e';
  nodes.push({ op: 'Div', inputs: ['h', value], outputs: ['y'] });
  return {
    nodes,
    init: [
      { name: 'eps', dims: [], values: [1e-12] },
      { name: 'shape', dims: [2], values: [1, W], encoding: 'int64' },
      { name: 'axes', dims: [1], values: [-1], encoding: 'int64' },
    ],
  };
};

describe('normalisation, softplus, clip and temperature patterns', () => {
  const random = rng(3);
  const x = randomArray(5 * W, random, 2);
  // A row the dense layer maps to zero: its bias is cancelled by the input, so only eps keeps it finite.
  const variants: Array<[string, Parameters<typeof normalizeTail>[0]]> = [
    ['ReduceL2 → Clip → Expand(Shape) → Div (torch)', {}],
    ['without the Expand', { expand: 'none' }],
    ['Expand to a constant shape', { expand: 'const' }],
    ['Max(eps, n) instead of Clip', { clip: 'Max' }],
    ['no eps at all', { clip: 'none', expand: 'none' }],
    ['opset 18: ReduceL2 axes as an input', { axesInput: true }],
  ];
  for (const [what, opts] of variants) {
    it(`F.normalize: ${what}`, async () => {
      const { nodes, init } = normalizeTail(opts);
      const bytes = graph(nodes, init, opts?.axesInput ? 18 : 17);
      const mlp = FusionMlp.fromOnnx(bytes);
      expect(mlp.layers.map((l) => l.kind)).toEqual(['dense', 'l2norm']);
      const want = await ortRun(bytes, { x: { data: x, dims: [5, W] } });
      for (const isa of native.capabilities().available) {
        const out = await withIsa(native, isa, () => mlp.predict(x));
        expectClose(out, want, 1e-6);
        for (const n of rowNorms(out, W)) expect(n).toBeCloseTo(1, 6);
      }
    });
  }

  it('LpNormalization p=2 matches onnxruntime, a zero row staying zero', async () => {
    const bytes = buildOnnxModel({
      inputs: [{ name: 'x', dims: ['batch', W] }],
      outputs: [{ name: 'y', dims: ['batch', W] }],
      nodes: [{ op: 'LpNormalization', inputs: ['x'], outputs: ['y'], attributes: { p: 2, axis: -1 } }],
      opset: 17,
    });
    const mlp = FusionMlp.fromOnnx(bytes);
    expect(mlp.layers).toEqual([{ kind: 'l2norm', in: W, out: W, activation: 'none' }]);
    const input = Float32Array.from(x);
    input.fill(0, W, 2 * W);
    const want = await ortRun(bytes, { x: { data: input, dims: [5, W] } });
    for (const isa of native.capabilities().available) {
      const out = await withIsa(native, isa, () => mlp.predict(input));
      expectClose(out, want, 1e-6);
      expect([...out.subarray(W, 2 * W)].every((v) => v === 0)).toBe(true);
    }
  });

  it('F.normalize semantics: x / max(‖x‖, eps), NaN spreading over its row only, huge and tiny rows normalised', async () => {
    const bytes = buildOnnxModel({
      inputs: [{ name: 'x', dims: ['batch', W] }],
      outputs: [{ name: 'y', dims: ['batch', W] }],
      nodes: [
        { op: 'ReduceL2', inputs: ['x'], outputs: ['n'], attributes: { axes: { ints: [1] }, keepdims: 1 } },
        { op: 'Clip', inputs: ['n', 'eps'], outputs: ['c'] },
        { op: 'Div', inputs: ['x', 'c'], outputs: ['y'] },
      ],
      initializers: [{ name: 'eps', dims: [], values: [0.5] }],
      opset: 17,
    });
    const mlp = FusionMlp.fromOnnx(bytes);
    const rows = [
      Array.from({ length: W }, (_, j) => (j === 0 ? 0.1 : 0)), // ‖x‖ = 0.1 < eps: x / 0.5
      Array.from({ length: W }, (_, j) => j - 3),
      Array.from({ length: W }, (_, j) => (j === 5 ? Number.NaN : 1)),
      Array.from({ length: W }, (_, j) => (j + 1) * 1e30), // squares overflow float
      Array.from({ length: W }, (_, j) => (j + 1) * 1e-30), // squares underflow: below eps anyway
    ];
    const input = Float32Array.from(rows.flat());
    for (const isa of native.capabilities().available) {
      const out = await withIsa(native, isa, () => mlp.predict(input));
      expect(out[0]).toBeCloseTo(0.2, 7);
      expect(rowNorms(out.subarray(W, 2 * W), W)[0]).toBeCloseTo(1, 6);
      expect([...out.subarray(2 * W, 3 * W)].every(Number.isNaN), isa).toBe(true);
      expect(rowNorms(out.subarray(3 * W, 4 * W), W)[0], isa).toBeCloseTo(1, 5);
      expect(out[4 * W + 1] / input[4 * W + 1], isa).toBeCloseTo(2, 5);
    }
  });

  it('a temperature after the normalisation is folded into it (Mul, Div, Exp of an initializer)', async () => {
    const { nodes, init } = normalizeTail();
    const tail: OnnxNodeSpec[] = [
      ...nodes.map((n) => (n.outputs[0] === 'y' ? { ...n, outputs: ['u'] } : n)),
      { op: 'Exp', inputs: ['logit_scale'], outputs: ['t'] },
      { op: 'Mul', inputs: ['u', 't'], outputs: ['v'] },
      { op: 'Div', inputs: ['v', 'two'], outputs: ['y'] },
    ];
    const bytes = graph(tail, [...init, { name: 'logit_scale', dims: [], values: [Math.log(10)] }, { name: 'two', dims: [], values: [2] }]);
    const mlp = FusionMlp.fromOnnx(bytes);
    expect(mlp.layers.map((l) => l.kind)).toEqual(['dense', 'l2norm']);
    const want = await ortRun(bytes, { x: { data: x, dims: [5, W] } });
    const out = mlp.predict(x);
    expectClose(out, want, 1e-6);
    for (const n of rowNorms(out, W)) expect(n).toBeCloseTo(5, 5);
  });

  it('Softplus and Clip after a dense layer fuse into its epilogue, or run on their own', async () => {
    const cases: Array<[OnnxNodeSpec[], string[]]> = [
      [[{ op: 'Softplus', inputs: ['h'], outputs: ['y'] }], ['dense:softplus']],
      [[{ op: 'Clip', inputs: ['h', 'lo', 'hi'], outputs: ['y'] }], ['dense:clip']],
      [[{ op: 'Clip', inputs: ['h', '', 'hi'], outputs: ['y'] }], ['dense:clip']],
      [[{ op: 'Relu', inputs: ['h'], outputs: ['r'] }, { op: 'Clip', inputs: ['r', 'zero', 'hi'], outputs: ['y'] }], ['dense:clip']],
      [[{ op: 'Tanh', inputs: ['h'], outputs: ['r'] }, { op: 'Softplus', inputs: ['r'], outputs: ['y'] }], ['dense:tanh', 'activation:softplus']],
      [[{ op: 'Tanh', inputs: ['h'], outputs: ['r'] }, { op: 'Clip', inputs: ['r', 'lo', 'hi'], outputs: ['y'] }], ['dense:tanh', 'activation:clip']],
      // min > max clips everything to max, as ONNX and torch.clamp define.
      [[{ op: 'Clip', inputs: ['h', 'hi', 'lo'], outputs: ['y'] }], ['dense:clip']],
    ];
    const init = [
      { name: 'lo', dims: [], values: [-0.3] },
      { name: 'hi', dims: [], values: [0.4] },
      { name: 'zero', dims: [], values: [0] },
    ];
    for (const [tail, layers] of cases) {
      const bytes = graph(tail, init, 13);
      const mlp = FusionMlp.fromOnnx(bytes);
      expect(mlp.layers.map((l) => `${l.kind}:${l.activation}`)).toEqual(layers);
      const want = await ortRun(bytes, { x: { data: x, dims: [5, W] } });
      for (const isa of native.capabilities().available) expectClose(await withIsa(native, isa, () => mlp.predict(x)), want, 1e-5);
    }
  });

  it('safetensors specs take clip bounds and a normalize layer', () => {
    const random = rng(11);
    const weight = randomArray(W * W, random, 0.5);
    const header = JSON.stringify({ w: { dtype: 'F32', shape: [W, W], data_offsets: [0, W * W * 4] } });
    const headerBytes = new TextEncoder().encode(header);
    const file = new Uint8Array(8 + headerBytes.length + W * W * 4);
    new DataView(file.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
    file.set(headerBytes, 8);
    file.set(new Uint8Array(weight.buffer), 8 + headerBytes.length);
    const mlp = FusionMlp.fromSafetensors(file, {
      layers: [{ type: 'linear', weight: 'w', activation: 'clip', min: -0.2, max: 0.2 }, { type: 'normalize', scale: 3 }],
    });
    expect(mlp.layers.map((l) => `${l.kind}:${l.activation}`)).toEqual(['dense:clip', 'l2norm:none']);
    const out = mlp.predict(x);
    for (const n of rowNorms(out, W)) expect(n).toBeCloseTo(3, 5);
  });
});

describe('what falls outside the patterns is a coded error', () => {
  it('ReduceL2 not over the features, or without keepdims, names F.normalize', () => {
    for (const attributes of [{ axes: { ints: [0] }, keepdims: 1 }, { axes: { ints: [-1] }, keepdims: 0 }]) {
      const bytes = graph([
        { op: 'ReduceL2', inputs: ['h'], outputs: ['n'], attributes },
        { op: 'Div', inputs: ['h', 'n'], outputs: ['y'] },
      ]);
      const err = expectCode(() => FusionMlp.fromOnnx(bytes), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_OP', Error, /ReduceL2 is supported only inside F\.normalize/);
      expect(err).toMatchObject({ op: 'ReduceL2' });
    }
  });

  it('a normalisation whose Div divides something else is not fused', () => {
    const { init } = normalizeTail();
    const bytes = graph(
      [
        { op: 'ReduceL2', inputs: ['h'], outputs: ['n'], attributes: { axes: { ints: [-1] }, keepdims: 1 } },
        { op: 'Clip', inputs: ['n', 'eps', ''], outputs: ['c'] },
        { op: 'Div', inputs: ['c', 'h'], outputs: ['y'] },
      ],
      init,
    );
    expectCode(() => FusionMlp.fromOnnx(bytes), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_OP', Error, /F\.normalize/);
  });

  it('LpNormalization with p=1 or over another axis', () => {
    for (const [attributes, message] of [[{ p: 1, axis: -1 }, /p=1/], [{ p: 2, axis: 0 }, /axis 0/]] as const) {
      const bytes = buildOnnxModel({
        inputs: [{ name: 'x', dims: ['batch', W] }],
        outputs: [{ name: 'y', dims: ['batch', W] }],
        nodes: [{ op: 'LpNormalization', inputs: ['x'], outputs: ['y'], attributes }],
        opset: 17,
      });
      expectCode(() => FusionMlp.fromOnnx(bytes), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED', Error, message);
    }
  });

  it('Clip with a bound computed from the data, or not a scalar', () => {
    const flowBound = graph([{ op: 'Clip', inputs: ['h', 'h', ''], outputs: ['y'] }]);
    expectCode(() => FusionMlp.fromOnnx(flowBound), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED', Error, /Clip min/);
    const vectorBound = graph([{ op: 'Clip', inputs: ['h', 'lo2', ''], outputs: ['y'] }], [{ name: 'lo2', dims: [2], values: [0, 1] }]);
    expectCode(() => FusionMlp.fromOnnx(vectorBound), 'ERR_FUSIONRANK_ONNX_UNSUPPORTED', Error, /scalar constant/);
  });

  it('the native core rejects NaN clip bounds and a bad normalisation directly', () => {
    const binding = native as unknown as { NativeFusionMlp: new (size: number, layers: object[]) => unknown };
    expect(() => new binding.NativeFusionMlp(4, [{ kind: 'activation', activation: 'clip', alpha: Number.NaN, beta: 1 }])).toThrow(
      expect.objectContaining({ code: 'ERR_FUSIONRANK_MLP_SHAPE' }),
    );
    expect(() => new binding.NativeFusionMlp(4, [{ kind: 'l2norm', epsilon: -1 }])).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_MLP_SHAPE' }));
    expect(() => new binding.NativeFusionMlp(4, [{ kind: 'l2norm', epsilon: 1e-12, scale: Number.POSITIVE_INFINITY }])).toThrow(
      expect.objectContaining({ code: 'ERR_FUSIONRANK_MLP_SHAPE' }),
    );
    expect(() => new binding.NativeFusionMlp(4, [{ kind: 'l2norm', epsilon: 'small' }])).toThrow(TypeError);
  });
});

describe('fuzz (seeded, bounded)', () => {
  function cleanFailureOrModel(bytes: Uint8Array): FusionMlp | undefined {
    try {
      return FusionMlp.fromOnnx(bytes);
    } catch (error) {
      expect(error).toBeInstanceOf(Error);
      expect((error as { code?: string }).code, (error as Error).message).toMatch(/^ERR_FUSIONRANK_/);
      return undefined;
    }
  }

  it('the PyTorch temperature tower with random bytes flipped', () => {
    const r = rng(2024);
    const valid = fixture('temperature-tower').bytes;
    for (let i = 0; i < 300; i++) {
      const bytes = valid.slice();
      const flips = 1 + Math.floor(r() * 4);
      for (let f = 0; f < flips; f++) bytes[Math.floor(r() * bytes.length)] = Math.floor(r() * 256);
      const mlp = cleanFailureOrModel(bytes);
      if (mlp) expect(mlp.predict(randomArray(2 * mlp.inputSize, r)).length).toBe(2 * mlp.outputSize);
    }
  });

  it('random chains of the tails agree with onnxruntime', async () => {
    const r = rng(555);
    const x = randomArray(3 * W, r, 2);
    let agreed = 0;
    for (let g = 0; g < 40; g++) {
      const tail: OnnxNodeSpec[] = [];
      const init: NonNullable<OnnxGraphSpec['initializers']> = [];
      let cur = 'h';
      const steps = 1 + Math.floor(r() * 4);
      for (let s = 0; s < steps; s++) {
        const out = s === steps - 1 ? 'y' : `v${s}`;
        const kind = Math.floor(r() * 6);
        if (kind === 0) tail.push({ op: 'Softplus', inputs: [cur], outputs: [out] });
        else if (kind === 1) {
          const lo = r() < 0.2 ? '' : `lo${s}`, hi = r() < 0.2 ? '' : `hi${s}`;
          if (lo) init.push({ name: lo, dims: [], values: [r() * 2 - 1.5] });
          if (hi) init.push({ name: hi, dims: [], values: [r() * 2 - 0.5] });
          tail.push({ op: 'Clip', inputs: [cur, lo, hi], outputs: [out] });
        } else if (kind === 2) tail.push({ op: 'Relu', inputs: [cur], outputs: [out] });
        else if (kind === 3) tail.push({ op: 'LpNormalization', inputs: [cur], outputs: [out], attributes: { p: 2, axis: -1 } });
        else if (kind === 4) {
          init.push({ name: `eps${s}`, dims: [], values: [r() < 0.5 ? 1e-12 : 0.3] });
          tail.push(
            { op: 'ReduceL2', inputs: [cur], outputs: [`n${s}`], attributes: { axes: { ints: [-1] }, keepdims: 1 } },
            { op: 'Clip', inputs: [`n${s}`, `eps${s}`, ''], outputs: [`c${s}`] },
            { op: 'Div', inputs: [cur, `c${s}`], outputs: [out] },
          );
        } else {
          init.push({ name: `t${s}`, dims: [], values: [r() * 3 - 1] });
          tail.push({ op: 'Exp', inputs: [`t${s}`], outputs: [`e${s}`] }, { op: 'Mul', inputs: [cur, `e${s}`], outputs: [out] });
        }
        cur = out;
      }
      const bytes = graph(tail, init, 13);
      const mlp = cleanFailureOrModel(bytes);
      expect(mlp, JSON.stringify(tail.map((n) => n.op))).toBeDefined();
      const want = await ortRun(bytes, { x: { data: x, dims: [3, W] } });
      for (const isa of native.capabilities().available) expectClose(await withIsa(native, isa, () => mlp!.predict(x)), want, 1e-5);
      agreed++;
    }
    expect(agreed).toBe(40);
  }, 60_000);
});
