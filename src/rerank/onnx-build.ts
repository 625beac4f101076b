/**
 * Writes small ONNX models with @bufbuild/protobuf and the messages generated
 * from onnx.proto (./onnx_pb.ts): the fixtures of the tests and the bench,
 * and a way to hand a FusionMlp-shaped network to onnxruntime.
 * Internal (not exported from the package root).
 */
import { create, type MessageInitShape, toBinary } from '@bufbuild/protobuf';

import {
  type AttributeProto,
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  ModelProtoSchema,
  TensorProto_DataType,
  type TensorProto,
  TensorProtoSchema,
  type ValueInfoProto,
  ValueInfoProtoSchema,
} from './onnx_pb.js';

/** An int64 field's value (dims, attribute ints). */
const int64 = (v: number): bigint => BigInt(v);

export interface OnnxTensorSpec {
  name: string;
  dims: number[];
  values: ArrayLike<number>;
  /** Storage: f32 raw_data (default), f32 float_data, f16 raw_data, or int64 raw_data. */
  encoding?: 'raw' | 'float_data' | 'f16' | 'int64';
}

export interface OnnxNodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  /** Integral numbers become INT, others FLOAT (force with { int } / { float }); strings STRING. */
  attributes?: Record<string, number | string | { int: number } | { float: number } | { ints: number[] } | { tensor: OnnxTensorSpec }>;
}

export interface OnnxGraphSpec {
  /** Inputs with their dims; a string dim is symbolic (e.g. 'batch'). */
  inputs: Array<{ name: string; dims: Array<number | string>; elemType?: number }>;
  outputs: Array<{ name: string; dims: Array<number | string> }>;
  nodes: OnnxNodeSpec[];
  initializers?: OnnxTensorSpec[];
  opset?: number;
}

function floatToHalf(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) return sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 : 0);
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs < 0x38800000) {
    if (abs < 0x33000000) return sign;
    const exponent = abs >>> 23;
    const mantissa = (abs & 0x7fffff) | 0x800000;
    const shift = 126 - exponent;
    let half = mantissa >>> shift;
    const rem = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (abs >>> 13) - (112 << 10);
  const rem = abs & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** The value a float16 weight really holds, for computing references. */
export function roundToHalf(value: number): number {
  const h = floatToHalf(value);
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

export function tensorProto(t: OnnxTensorSpec): TensorProto {
  const encoding = t.encoding ?? 'raw';
  const dims = t.dims.map(int64);
  if (encoding === 'float_data') return create(TensorProtoSchema, { name: t.name, dims, dataType: TensorProto_DataType.FLOAT, floatData: Array.from(t.values) });
  if (encoding === 'int64') {
    const bytes = new Uint8Array(t.values.length * 8);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < t.values.length; i++) view.setBigInt64(i * 8, BigInt(t.values[i]), true);
    return create(TensorProtoSchema, { name: t.name, dims, dataType: TensorProto_DataType.INT64, rawData: bytes });
  }
  if (encoding === 'f16') {
    const bytes = new Uint8Array(t.values.length * 2);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < t.values.length; i++) view.setUint16(i * 2, floatToHalf(t.values[i]), true);
    return create(TensorProtoSchema, { name: t.name, dims, dataType: TensorProto_DataType.FLOAT16, rawData: bytes });
  }
  const bytes = new Uint8Array(t.values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < t.values.length; i++) view.setFloat32(i * 4, t.values[i], true);
  return create(TensorProtoSchema, { name: t.name, dims, dataType: TensorProto_DataType.FLOAT, rawData: bytes });
}

function valueInfo(v: { name: string; dims: Array<number | string>; elemType?: number }): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name: v.name,
    type: {
      value: {
        case: 'tensorType',
        value: {
          elemType: v.elemType ?? TensorProto_DataType.FLOAT,
          shape: { dim: v.dims.map((d) => ({ value: typeof d === 'string' ? { case: 'dimParam' as const, value: d } : { case: 'dimValue' as const, value: int64(d) } })) },
        },
      },
    },
  });
}

function attributeProto(name: string, value: NonNullable<OnnxNodeSpec['attributes']>[string]): AttributeProto {
  const T = AttributeProto_AttributeType;
  const attr = (init: MessageInitShape<typeof AttributeProtoSchema>) => create(AttributeProtoSchema, { name, ...init });
  if (typeof value === 'string') return attr({ type: T.STRING, s: new TextEncoder().encode(value) });
  if (typeof value === 'object' && 'int' in value) return attr({ type: T.INT, i: int64(value.int) });
  if (typeof value === 'object' && 'float' in value) return attr({ type: T.FLOAT, f: value.float });
  if (typeof value === 'object' && 'ints' in value) return attr({ type: T.INTS, ints: value.ints.map(int64) });
  if (typeof value === 'object' && 'tensor' in value) return attr({ type: T.TENSOR, t: tensorProto(value.tensor) });
  return Number.isInteger(value) ? attr({ type: T.INT, i: int64(value) }) : attr({ type: T.FLOAT, f: value });
}

/** Serialises a graph as an ONNX model (IR 8, opset 17 by default). */
export function buildOnnxModel(spec: OnnxGraphSpec): Uint8Array {
  const model = create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'fusionrank',
    opsetImport: [{ domain: '', version: int64(spec.opset ?? 17) }, ...(spec.nodes.some((n) => n.domain === 'com.microsoft') ? [{ domain: 'com.microsoft', version: 1n }] : [])],
    graph: {
      name: 'graph',
      input: spec.inputs.map(valueInfo),
      output: spec.outputs.map(valueInfo),
      initializer: (spec.initializers ?? []).map(tensorProto),
      node: spec.nodes.map((n, i) => ({
        opType: n.op,
        name: n.name ?? `${n.op.toLowerCase()}_${i}`,
        input: n.inputs,
        output: n.outputs,
        domain: n.domain ?? '',
        attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attributeProto(k, v)),
      })),
    },
  });
  return toBinary(ModelProtoSchema, model);
}

/** A dense ReLU MLP with random weights, as Gemm (transB=1, PyTorch layout) nodes. */
export function randomMlpOnnx(sizes: number[], random: () => number, options: { activation?: string; finalActivation?: string } = {}): Uint8Array {
  const nodes: OnnxNodeSpec[] = [];
  const initializers: OnnxTensorSpec[] = [];
  let cur = 'input';
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [k, n] = [sizes[l], sizes[l + 1]];
    const scale = Math.sqrt(2 / k);
    initializers.push({ name: `fc${l}.weight`, dims: [n, k], values: Float32Array.from({ length: n * k }, () => (random() * 2 - 1) * scale) });
    initializers.push({ name: `fc${l}.bias`, dims: [n], values: Float32Array.from({ length: n }, () => (random() * 2 - 1) * 0.1) });
    nodes.push({ op: 'Gemm', inputs: [cur, `fc${l}.weight`, `fc${l}.bias`], outputs: [`h${l}`], attributes: { transB: 1 } });
    cur = `h${l}`;
    const act = l + 2 < sizes.length ? (options.activation ?? 'Relu') : options.finalActivation;
    if (act) {
      nodes.push({ op: act, inputs: [cur], outputs: [`a${l}`] });
      cur = `a${l}`;
    }
  }
  nodes.push({ op: 'Identity', inputs: [cur], outputs: ['output'] });
  return buildOnnxModel({
    inputs: [{ name: 'input', dims: ['batch', sizes[0]] }],
    outputs: [{ name: 'output', dims: ['batch', sizes[sizes.length - 1]] }],
    nodes,
    initializers,
  });
}
