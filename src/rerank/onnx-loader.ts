/**
 * Lowers an ONNX graph to the native layer list. The protobuf is decoded by
 * @bufbuild/protobuf with the messages generated from onnx.proto
 * (./onnx_pb.ts, scripts/gen-onnx-proto.sh); the graph must be a chain: one
 * value flows from the input(s) to the output, and every other operand is a
 * constant.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';

import { FusionrankError } from '../errors.js';
import { type Activation, bytesToFloat32, LayerListBuilder, type LayerSpec } from './layers.js';
import type {
  AttributeProto,
  ModelProto,
  NodeProto,
  NodeProtoSchema,
  TensorProto,
  TensorProtoSchema,
  TensorShapeProto_Dimension,
  TypeProto,
  TypeProto_Tensor,
} from './onnx_pb.js';
import { onnxProto } from './onnx-proto.js';

/** A node the fusion passes write in place of a pattern. */
const nodeProto = (init: MessageInitShape<typeof NodeProtoSchema>): NodeProto => onnxProto().create(onnxProto().NodeProto, init);
/** A float tensor made here (Constant attributes, folded constants). */
const tensorProto = (init: MessageInitShape<typeof TensorProtoSchema>): TensorProto => onnxProto().create(onnxProto().TensorProto, init);
/** The tensor type of a value, or undefined (a sequence, map, optional or sparse type, or none). */
const tensorTypeOf = (type: TypeProto | undefined): TypeProto_Tensor | undefined => (type?.value.case === 'tensorType' ? type.value.value : undefined);
/** A dimension's dim_value as a number, or undefined when it is dim_param or unset. */
const dimValueOf = (d: TensorShapeProto_Dimension): number | undefined => (d.value.case === 'dimValue' ? Number(d.value.value) : undefined);

/** The ops FusionMlp lowers; anything else is reported with a pointer to OnnxModel. */
export const SUPPORTED_OPS: readonly string[] = [
  'Gemm', 'MatMul', 'Add', 'Sub', 'Mul', 'Div', 'Relu', 'LeakyRelu', 'Sigmoid', 'Tanh', 'Gelu', 'Erf (in the GELU pattern)', 'SiLU (Mul(x, Sigmoid(x)))', 'Softmax (over features)',
  'Softplus', 'Clip (constant bounds: Hardtanh, ReLU6, clamp)', 'LpNormalization (p=2, over features)', 'F.normalize (ReduceL2 → Clip → [Expand] → Div, over features)',
  'Identity', 'Dropout', 'Flatten', 'BatchNormalization', 'LayerNormalization (and its pre-opset-17 decomposition)', 'Concat (of graph inputs)', 'Constant',
  'Exp / Log / Neg / Sqrt / Reciprocal / Abs / Clip and scalar arithmetic of constants (folded, e.g. logit_scale.exp())',
];

export interface LoweredModel {
  /** Graph inputs in the order their features sit in one flat row. */
  inputs: Array<{ name: string; size: number }>;
  inputSize: number;
  outputName: string;
  outputSize: number;
  layers: LayerSpec[];
  /** A float tensor no node consumes (e.g. a learned "missing" embedding), converted on request. */
  extraTensor(name: string): Float32Array | undefined;
}

/** Extra fields on loader errors, to branch on or show. */
export interface OnnxErrorDetails {
  op?: string;
  node?: string;
}

function fail(message: string, code: string, details: OnnxErrorDetails = {}): never {
  throw Object.assign(new FusionrankError(message, code), details);
}

/** int64 fields decode as bigint: the number (inexact above 2^53, which every size check rejects). */
const num = (v: number | bigint): number => Number(v);

/** onnx.proto's TensorProto.DataType numbers (fixed by the ONNX standard). */
const DATA_TYPE = { FLOAT: 1, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11, BFLOAT16: 16 } as const;
/** TensorProto.DataLocation.EXTERNAL. */
const EXTERNAL = 1;
/** Largest tensor accepted, in elements (1 GiB of f32). */
const MAX_ELEMENTS = 2 ** 28;

interface Constant {
  name: string;
  dims: number[];
  tensor: TensorProto;
  /** Converted on first use. */
  values?: Float32Array;
}

/** Converts a float tensor (f32, f16, bf16, f64; raw or typed fields) to f32. */
function tensorValues(c: Constant): Float32Array {
  if (c.values) return c.values;
  const t = c.tensor;
  const what = `Tensor '${c.name}'`;
  if (t.dataLocation === EXTERNAL) fail(`${what} keeps its data in an external file, which FusionMlp does not read; save the model with all tensors inside the .onnx file`, 'ERR_FUSIONRANK_ONNX_EXTERNAL_DATA');
  if (t.segment) fail(`${what} is segmented, which FusionMlp does not support`, 'ERR_FUSIONRANK_ONNX_BAD_TENSOR');
  const count = c.dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  const type = t.dataType;
  const mismatch = (have: number) => fail(`${what} declares shape [${c.dims.join(', ')}] (${count} values) but holds ${have}`, 'ERR_FUSIONRANK_ONNX_BAD_TENSOR');
  let out: Float32Array;
  if (type === DATA_TYPE.FLOAT) {
    if (raw) out = bytesToFloat32(raw, 'f32', count, what, 'ERR_FUSIONRANK_ONNX_BAD_TENSOR');
    else {
      const data = t.floatData;
      if (data.length !== count) mismatch(data.length);
      out = Float32Array.from(data);
    }
  } else if (type === DATA_TYPE.FLOAT16 || type === DATA_TYPE.BFLOAT16) {
    const dtype = type === DATA_TYPE.FLOAT16 ? 'f16' : 'bf16';
    if (raw) out = bytesToFloat32(raw, dtype, count, what, 'ERR_FUSIONRANK_ONNX_BAD_TENSOR');
    else {
      // 16-bit values are stored one per int32_data entry.
      const data = t.int32Data;
      if (data.length !== count) mismatch(data.length);
      const bytes = new Uint8Array(count * 2);
      const view = new DataView(bytes.buffer);
      data.forEach((v, i) => view.setUint16(i * 2, v & 0xffff, true));
      out = bytesToFloat32(bytes, dtype, count, what, 'ERR_FUSIONRANK_ONNX_BAD_TENSOR');
    }
  } else if (type === DATA_TYPE.DOUBLE) {
    if (raw) out = bytesToFloat32(raw, 'f64', count, what, 'ERR_FUSIONRANK_ONNX_BAD_TENSOR');
    else {
      const data = t.doubleData;
      if (data.length !== count) mismatch(data.length);
      out = Float32Array.from(data);
    }
  } else {
    fail(`${what} has ONNX data type ${type}; FusionMlp weights must be float32, float16, bfloat16 or double`, 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_TYPE');
  }
  c.values = out;
  return out;
}

function constantFromTensor(name: string, t: TensorProto): Constant {
  const dims = t.dims.map(num);
  if (dims.some((d) => !Number.isInteger(d) || d < 0) || dims.reduce((a, b) => a * b, 1) > MAX_ELEMENTS)
    fail(`Tensor '${name}' has an invalid shape [${dims.join(', ')}]`, 'ERR_FUSIONRANK_ONNX_BAD_TENSOR');
  return { name, dims, tensor: t };
}

function attribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}
function attrInt(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? num(a.i) : fallback;
}
function attrFloat(node: NodeProto, name: string, fallback: number): number {
  const a = attribute(node, name);
  return a ? a.f : fallback;
}
function attrString(node: NodeProto, name: string, fallback: string): string {
  const a = attribute(node, name);
  return a ? new TextDecoder().decode(a.s) : fallback;
}

function describeNode(node: NodeProto, index: number): string {
  return `node ${node.name ? `'${node.name}' ` : ''}#${index} (${node.opType})`;
}

function unsupported(node: NodeProto, index: number, why?: string, hint?: string): never {
  const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}.${node.opType}` : String(node.opType);
  fail(
    `${why ?? `ONNX op '${op}' is not supported by FusionMlp${hint ? ` (${hint})` : ''}`} at ${describeNode(node, index)}. ` +
      `FusionMlp runs MLPs only (${SUPPORTED_OPS.join(', ')}). ` +
      `Run this model with onnxruntime instead: import { OnnxModel } from 'fusionrank'; const model = await OnnxModel.load(path).`,
    why ? 'ERR_FUSIONRANK_ONNX_UNSUPPORTED' : 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_OP',
    { op, node: node.name },
  );
}

/** Decodes bytes as an ONNX ModelProto, or throws ERR_FUSIONRANK_ONNX_PARSE. */
export function decodeOnnx(bytes: Uint8Array): ModelProto {
  let model: ModelProto;
  try {
    // Unknown fields (a newer ONNX's) are skipped, not kept: nothing reads them.
    model = onnxProto().fromBinary(onnxProto().ModelProto, bytes, { readUnknownFields: false });
  } catch (error) {
    fail(`Not a valid ONNX file: the protobuf could not be decoded (${(error as Error).message})`, 'ERR_FUSIONRANK_ONNX_PARSE');
  }
  if (!model.graph || model.graph.node.length === 0)
    fail('Not a valid ONNX file: it holds no graph with nodes (is it truncated, or another format?)', 'ERR_FUSIONRANK_ONNX_PARSE');
  return model;
}

const SQRT2 = Math.SQRT2;
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.abs(b);

/**
 * Replaces the erf-based GELU that PyTorch exports,
 *   Div(x, √2) | Mul(x, 1/√2) → Erf → Add(·, 1) → Mul(x, ·) → Mul(·, 0.5)
 * (and the two other placements of the 0.5), by one Gelu node.
 */
function fuseErfGelu(nodes: NodeProto[], scalarOf: (name: string) => number | undefined): NodeProto[] {
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) producer.set(o, i);
    for (const x of new Set(n.input ?? [])) if (x) consumers.set(x, [...(consumers.get(x) ?? []), i]);
  });
  const only = (value: string): number | undefined => {
    const c = consumers.get(value);
    return c && c.length === 1 ? c[0] : undefined;
  };
  const isOp = (i: number | undefined, op: string) => i !== undefined && nodes[i].opType === op && (!nodes[i].domain || nodes[i].domain === 'ai.onnx');
  // The other operand of a binary node, given one of them.
  const other = (i: number, value: string) => {
    const ins = nodes[i].input ?? [];
    return ins[0] === value ? ins[1] : ins[1] === value ? ins[0] : undefined;
  };
  // Mul(value, c) with c ≈ target: returns the non-constant operand.
  const mulBy = (i: number | undefined, target: number): string | undefined => {
    if (!isOp(i, 'Mul')) return undefined;
    const [a, b] = nodes[i!].input ?? [];
    if (a && b && scalarOf(b) !== undefined && close(scalarOf(b)!, target)) return a;
    if (a && b && scalarOf(a) !== undefined && close(scalarOf(a)!, target)) return b;
    return undefined;
  };
  const removed = new Set<number>();
  const replacement = new Map<number, NodeProto>();
  nodes.forEach((erf, e) => {
    if (!isOp(e, 'Erf')) return;
    const scaledIn = erf.input?.[0];
    const d = scaledIn ? producer.get(scaledIn) : undefined;
    if (d === undefined || only(scaledIn!) !== e) return;
    let x: string | undefined;
    if (isOp(d, 'Div')) {
      const [a, b] = nodes[d].input ?? [];
      if (b && scalarOf(b) !== undefined && close(scalarOf(b)!, SQRT2)) x = a;
    } else x = mulBy(d, 1 / SQRT2);
    if (!x) return;
    const a = only(erf.output![0]);
    if (!isOp(a, 'Add')) return;
    const one = other(a!, erf.output![0]);
    if (!one || scalarOf(one) === undefined || !close(scalarOf(one)!, 1)) return;
    const aOut = nodes[a!].output![0];
    const m1 = only(aOut);
    if (!isOp(m1, 'Mul')) return;
    const m1Other = other(m1!, aOut);
    const m1Out = nodes[m1!].output![0];
    let pattern: number[] | undefined;
    let last: number | undefined;
    if (m1Other === x) {
      // Mul(x, 1 + erf) then Mul(·, 0.5)
      const m2 = only(m1Out);
      if (mulBy(m2, 0.5) === m1Out) (pattern = [d, e, a!, m1!, m2!]), (last = m2);
    } else if (m1Other && producer.has(m1Other) && mulBy(producer.get(m1Other), 0.5) === x && only(m1Other) === m1) {
      // Mul(Mul(x, 0.5), 1 + erf)
      (pattern = [d, e, a!, producer.get(m1Other)!, m1!]), (last = m1);
    } else if (mulBy(m1, 0.5) === aOut) {
      // Mul(x, Mul(1 + erf, 0.5))
      const m2 = only(m1Out);
      if (isOp(m2, 'Mul') && other(m2!, m1Out) === x) (pattern = [d, e, a!, m1!, m2!]), (last = m2);
    }
    if (!pattern || last === undefined) return;
    for (const i of pattern) removed.add(i);
    replacement.set(last, nodeProto({ opType: 'Gelu', name: `${erf.name || `erf#${e}`} (erf GELU pattern)`, input: [x], output: [nodes[last].output![0]] }));
  });
  if (!removed.size) return nodes;
  return nodes.flatMap((n, i) => (replacement.has(i) ? [replacement.get(i)!] : removed.has(i) ? [] : [n]));
}

/** Replaces SiLU as PyTorch exports it, Mul(x, Sigmoid(x)), by one Silu node. */
function fuseSilu(nodes: NodeProto[]): NodeProto[] {
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    for (const x of new Set(n.input ?? [])) if (x) consumers.set(x, [...(consumers.get(x) ?? []), i]);
  });
  const standard = (n: NodeProto) => !n.domain || n.domain === 'ai.onnx';
  const removed = new Set<number>();
  const replacement = new Map<number, NodeProto>();
  nodes.forEach((sig, s) => {
    if (sig.opType !== 'Sigmoid' || !standard(sig)) return;
    const x = sig.input?.[0], out = sig.output?.[0];
    const uses = out ? consumers.get(out) ?? [] : [];
    if (!x || uses.length !== 1) return;
    const m = uses[0];
    const mul = nodes[m];
    const ins = mul.input ?? [];
    if (mul.opType !== 'Mul' || !standard(mul) || ins.length !== 2 || !((ins[0] === x && ins[1] === out) || (ins[1] === x && ins[0] === out))) return;
    removed.add(s);
    replacement.set(m, nodeProto({ opType: 'Silu', name: `${mul.name || `mul#${m}`} (SiLU pattern)`, input: [x], output: [mul.output![0]] }));
  });
  if (!removed.size) return nodes;
  return nodes.flatMap((n, i) => (replacement.has(i) ? [replacement.get(i)!] : removed.has(i) ? [] : [n]));
}

/** Integer values of a constant (int64 / int32, raw or typed), or undefined. */
function intValues(c: Constant | undefined): number[] | undefined {
  if (!c) return undefined;
  const t = c.tensor;
  const type = t.dataType;
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : undefined;
  if (type === DATA_TYPE.INT64) {
    if (raw) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: raw.byteLength >> 3 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    }
    return t.int64Data.map(num);
  }
  if (type === DATA_TYPE.INT32) {
    if (raw) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: raw.byteLength >> 2 }, (_, i) => view.getInt32(i * 4, true));
    }
    return t.int32Data;
  }
  return undefined;
}

interface FusionContext {
  scalarOf(name: string): number | undefined;
  constant(name: string): Constant | undefined;
  /** Adds a float constant (shape `[values.length]` unless `dims` is given). */
  addConstant(name: string, values: Float32Array, dims?: number[]): void;
}

/**
 * Replaces the layer norm that PyTorch exports below opset 17,
 *   m = ReduceMean(x) → d = Sub(x, m) → Pow(d, 2) | Mul(d, d) → ReduceMean
 *   → Add(·, eps) → Sqrt → n = Div(d, ·) [→ Mul(n, gamma) → Add(·, beta)]
 * (reductions over the last axis, keepdims), by one LayerNormalization node.
 */
function fuseDecomposedLayerNorm(nodes: NodeProto[], ctx: FusionContext): NodeProto[] {
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) producer.set(o, i);
    for (const x of new Set(n.input ?? [])) if (x) consumers.set(x, [...(consumers.get(x) ?? []), i]);
  });
  const isOp = (i: number | undefined, op: string) => i !== undefined && nodes[i].opType === op && (!nodes[i].domain || nodes[i].domain === 'ai.onnx');
  const usesOf = (value: string) => consumers.get(value) ?? [];
  const only = (value: string): number | undefined => (usesOf(value).length === 1 ? usesOf(value)[0] : undefined);
  const out = (i: number) => nodes[i].output![0];
  const other = (i: number, value: string) => {
    const ins = nodes[i].input ?? [];
    return ins[0] === value ? ins[1] : ins[1] === value ? ins[0] : undefined;
  };
  const lastAxisMean = (i: number | undefined): boolean => {
    if (!isOp(i, 'ReduceMean')) return false;
    const n = nodes[i!];
    if (attrInt(n, 'keepdims', 1) !== 1) return false;
    const axesAttr = attribute(n, 'axes');
    const axes = axesAttr ? (axesAttr.ints ?? []).map(num) : intValues(n.input?.[1] ? ctx.constant(n.input[1]) : undefined);
    return axes !== undefined && axes.length === 1 && (axes[0] === -1 || axes[0] === 1);
  };
  const removed = new Set<number>();
  const replacement = new Map<number, NodeProto>();
  nodes.forEach((_, m1) => {
    if (!lastAxisMean(m1) || removed.has(m1)) return;
    const x = nodes[m1].input?.[0];
    const sub = only(out(m1));
    if (!x || !isOp(sub, 'Sub') || nodes[sub!].input?.[0] !== x || nodes[sub!].input?.[1] !== out(m1)) return;
    const d = out(sub!);
    const dUses = usesOf(d);
    const square = dUses.find((u) => (isOp(u, 'Pow') && nodes[u].input?.[0] === d && ctx.scalarOf(nodes[u].input?.[1] ?? '') === 2) || (isOp(u, 'Mul') && nodes[u].input?.[0] === d && nodes[u].input?.[1] === d));
    const div = dUses.find((u) => isOp(u, 'Div') && nodes[u].input?.[0] === d);
    if (square === undefined || div === undefined || dUses.length !== 2) return;
    const m2 = only(out(square));
    if (!lastAxisMean(m2)) return;
    const add = only(out(m2!));
    if (!isOp(add, 'Add')) return;
    const epsilon = ctx.scalarOf(other(add!, out(m2!)) ?? '');
    if (epsilon === undefined || !(epsilon >= 0)) return;
    const sqrt = only(out(add!));
    if (!isOp(sqrt, 'Sqrt') || only(out(sqrt!)) !== div || nodes[div].input?.[1] !== out(sqrt!)) return;
    const pattern = [m1, sub!, square, m2!, add!, sqrt!, div];
    let last = div;
    let scale: string | undefined, shift: string | undefined;
    const mul = only(out(div));
    const gamma = mul !== undefined && isOp(mul, 'Mul') ? other(mul, out(div)) : undefined;
    if (gamma && ctx.constant(gamma)) {
      scale = gamma;
      pattern.push(mul!);
      last = mul!;
      const addBeta = only(out(mul!));
      const beta = addBeta !== undefined && isOp(addBeta, 'Add') ? other(addBeta, out(mul!)) : undefined;
      if (beta && ctx.constant(beta)) {
        shift = beta;
        pattern.push(addBeta!);
        last = addBeta!;
      }
    }
    if (!scale) {
      scale = `${out(div)}::layernorm_scale`;
      ctx.addConstant(scale, new Float32Array([1]));
    }
    for (const i of pattern) removed.add(i);
    replacement.set(last, nodeProto({
      opType: 'LayerNormalization',
      name: `${nodes[m1].name || `reducemean#${m1}`} (decomposed LayerNorm pattern)`,
      input: shift ? [x, scale, shift] : [x, scale],
      output: [out(last)],
      attribute: [{ name: 'epsilon', f: epsilon }, { name: 'axis', i: -1n }],
    }));
  });
  if (!removed.size) return nodes;
  return nodes.flatMap((n, i) => (replacement.has(i) ? [replacement.get(i)!] : removed.has(i) ? [] : [n]));
}

/** The single float of a constant, or undefined (absent, not a scalar, not float). */
type ScalarOf = (name: string) => number | undefined;

/** Reduction axes of a Reduce* node: the `axes` attribute (opset < 18) or its second input. */
function reduceAxes(n: NodeProto, ctx: FusionContext): number[] | undefined {
  const axesAttr = attribute(n, 'axes');
  if (axesAttr) return axesAttr.ints.map(num);
  return n.input?.[1] ? intValues(ctx.constant(n.input[1])) : undefined;
}

/**
 * Replaces the L2 row normalisation PyTorch exports for F.normalize(x, dim=-1),
 *   n = ReduceL2(x, axes=[-1], keepdims=1) → Clip(n, eps) | Max(n, eps)
 *   → [Expand(·, Shape(x))] → Div(x, ·)
 * (the Clip / Max may be absent: eps = 0), by one L2Normalize node.
 */
function fuseL2Normalize(nodes: NodeProto[], ctx: FusionContext): NodeProto[] {
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) producer.set(o, i);
    for (const x of new Set(n.input ?? [])) if (x) consumers.set(x, [...(consumers.get(x) ?? []), i]);
  });
  const isOp = (i: number | undefined, op: string) => i !== undefined && nodes[i].opType === op && (!nodes[i].domain || nodes[i].domain === 'ai.onnx');
  const only = (value: string): number | undefined => {
    const c = consumers.get(value);
    return c && c.length === 1 ? c[0] : undefined;
  };
  const out = (i: number) => nodes[i].output![0];
  const removed = new Set<number>();
  const replacement = new Map<number, NodeProto>();
  nodes.forEach((reduce, r) => {
    if (!isOp(r, 'ReduceL2') || attrInt(reduce, 'keepdims', 1) !== 1) return;
    const axes = reduceAxes(reduce, ctx);
    const x = reduce.input?.[0];
    if (!x || !axes || axes.length !== 1 || (axes[0] !== -1 && axes[0] !== 1)) return;
    const pattern = [r];
    let value = out(r);
    let epsilon = 0;
    let next = only(value);
    if (isOp(next, 'Clip') || isOp(next, 'Max')) {
      const n = nodes[next!];
      const ins = n.input ?? [];
      let eps: number | undefined;
      if (n.opType === 'Clip') {
        // Clip(n, min[, max]) from opset 11, or the min / max attributes before.
        const hasMax = ins[2] ? true : attribute(n, 'max') !== undefined;
        eps = ins.length >= 2 ? (ins[1] ? ctx.scalarOf(ins[1]) : undefined) : attribute(n, 'min') ? attrFloat(n, 'min', 0) : undefined;
        if (hasMax || ins[0] !== value) return;
      } else {
        if (ins.length !== 2) return;
        eps = ctx.scalarOf(ins[0] === value ? ins[1] : ins[0]);
      }
      if (eps === undefined || !(eps >= 0) || !Number.isFinite(eps)) return;
      epsilon = eps;
      pattern.push(next!);
      value = out(next!);
      next = only(value);
    }
    if (isOp(next, 'Expand') && nodes[next!].input?.[0] === value) {
      // The shape operand is Shape(x) (dropped with the pattern when nothing
      // else reads it) or a constant.
      const shapeName = nodes[next!].input?.[1];
      const s = shapeName ? producer.get(shapeName) : undefined;
      if (s !== undefined) {
        if (!isOp(s, 'Shape') || nodes[s].input?.[0] !== x) return;
        if (only(shapeName!) === next) pattern.push(s);
      } else if (!shapeName || !ctx.constant(shapeName)) return;
      pattern.push(next!);
      value = out(next!);
      next = only(value);
    }
    if (!isOp(next, 'Div') || nodes[next!].input?.[0] !== x || nodes[next!].input?.[1] !== value) return;
    pattern.push(next!);
    for (const i of pattern) removed.add(i);
    replacement.set(next!, nodeProto({
      opType: 'L2Normalize',
      name: `${reduce.name || `reducel2#${r}`} (F.normalize pattern)`,
      input: [x],
      output: [out(next!)],
      attribute: [{ name: 'epsilon', f: epsilon }],
    }));
  });
  if (!removed.size) return nodes;
  return nodes.flatMap((n, i) => (replacement.has(i) ? [replacement.get(i)!] : removed.has(i) ? [] : [n]));
}

const FOLD_UNARY: Record<string, (x: number) => number> = {
  Exp: Math.exp,
  Log: Math.log,
  Neg: (x) => -x,
  Sqrt: Math.sqrt,
  Reciprocal: (x) => 1 / x,
  Abs: Math.abs,
  Identity: (x) => x,
};
const FOLD_BINARY: Record<string, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
  Pow: (a, b) => a ** b,
};

/**
 * Computes nodes whose every input is a constant (in float32 steps, as a
 * runtime would): unary math on any constant, Clip with constant bounds, and
 * arithmetic where one side is a scalar. PyTorch exports a learned
 * temperature `x * logit_scale.exp()` as Exp(initializer) → Mul, and a
 * clamped one as Exp → Clip → Mul. Returns the nodes left to lower.
 */
function foldConstants(nodes: NodeProto[], ctx: FusionContext & { values(name: string): Float32Array | undefined; dims(name: string): number[] | undefined }): NodeProto[] {
  const standard = (n: NodeProto) => !n.domain || n.domain === 'ai.onnx';
  return nodes.filter((n) => {
    const op = n.opType ?? '';
    const ins = (n.input ?? []).filter(Boolean);
    const output = n.output?.[0];
    if (!standard(n) || !output || ins.length === 0 || !ins.every((x) => ctx.constant(x))) return true;
    let result: Float32Array | undefined;
    let dims: number[] | undefined;
    const first = ins[0];
    if (FOLD_UNARY[op] && ins.length === 1) {
      const f = FOLD_UNARY[op];
      result = ctx.values(first)?.map((v) => f(v));
      dims = ctx.dims(first);
    } else if (op === 'Clip') {
      const all = n.input ?? [];
      const lo = all[1] ? ctx.scalarOf(all[1]) : attribute(n, 'min') ? attrFloat(n, 'min', -Infinity) : -Infinity;
      const hi = all[2] ? ctx.scalarOf(all[2]) : attribute(n, 'max') ? attrFloat(n, 'max', Infinity) : Infinity;
      if (lo === undefined || hi === undefined) return true;
      result = ctx.values(first)?.map((v) => (Number.isNaN(v) ? v : Math.min(Math.max(v, lo), hi)));
      dims = ctx.dims(first);
    } else if (FOLD_BINARY[op] && ins.length === 2) {
      const f = FOLD_BINARY[op];
      const [a, b] = [ctx.values(ins[0]), ctx.values(ins[1])];
      if (!a || !b) return true;
      if (b.length === 1) (result = a.map((v) => f(v, b[0]))), (dims = ctx.dims(ins[0]));
      else if (a.length === 1) (result = b.map((v) => f(a[0], v))), (dims = ctx.dims(ins[1]));
      else return true;
    }
    if (!result || !dims) return true;
    ctx.addConstant(output, result, dims);
    return false;
  });
}

/** Where a value comes from while lowering. */
type Value =
  | { kind: 'const'; c: Constant }
  | { kind: 'input'; index: number }
  /** The activation flowing through the chain; `step` tells stale copies apart. */
  | { kind: 'flow'; step: number; dims: number[] };

const ACTIVATION_OPS: Record<string, Activation> = { Relu: 'relu', Sigmoid: 'sigmoid', Tanh: 'tanh', LeakyRelu: 'leakyRelu' };

/** Lowers a decoded model. Throws FusionrankError with an ERR_FUSIONRANK_ONNX_* code. */
export function lowerOnnx(model: ModelProto): LoweredModel {
  const graph = model.graph!;
  const values = new Map<string, Value>();
  const constants = new Map<string, Constant>();
  for (const t of graph.initializer) {
    if (!t.name) fail('An initializer has no name', 'ERR_FUSIONRANK_ONNX_PARSE');
    const c = constantFromTensor(t.name, t);
    constants.set(t.name, c);
    values.set(t.name, { kind: 'const', c });
  }
  // Constant nodes become constants up front (they may feed the GELU pattern).
  const nodesIn = graph.node;
  for (const n of nodesIn) {
    if (n.opType !== 'Constant' || (n.domain && n.domain !== 'ai.onnx')) continue;
    const out = n.output?.[0];
    if (!out) continue;
    const a = n.attribute[0];
    let t: TensorProto | undefined;
    if (a?.name === 'value' && a.t) t = a.t;
    else if (a?.name === 'value_float') t = tensorProto({ dataType: DATA_TYPE.FLOAT, dims: [], floatData: [a.f] });
    else if (a?.name === 'value_floats') t = tensorProto({ dataType: DATA_TYPE.FLOAT, dims: [BigInt(a.floats.length)], floatData: a.floats });
    if (!t) unsupported(n, nodesIn.indexOf(n), `A Constant with attribute '${a?.name ?? '(none)'}' is not supported`);
    const c = constantFromTensor(out, t);
    constants.set(out, c);
    values.set(out, { kind: 'const', c });
  }
  const scalarOf = (name: string): number | undefined => {
    const c = constants.get(name);
    if (!c || c.dims.reduce((a, b) => a * b, 1) !== 1) return undefined;
    try {
      return tensorValues(c)[0];
    } catch {
      return undefined;
    }
  };

  // Graph inputs (initializers may be listed as inputs too, in old IR versions).
  const inputs: Array<{ name: string; size: number; dims: number[] }> = [];
  for (const vi of graph.input) {
    if (!vi.name || constants.has(vi.name)) continue;
    const tensorType = tensorTypeOf(vi.type);
    if (!tensorType) fail(`Graph input '${vi.name}' is not a tensor`, 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_TYPE');
    if (tensorType.elemType !== DATA_TYPE.FLOAT)
      fail(`Graph input '${vi.name}' has ONNX element type ${tensorType.elemType}; FusionMlp takes float32 inputs`, 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_TYPE');
    const dims = tensorType.shape?.dim ?? [];
    if (dims.length < 2)
      fail(`Graph input '${vi.name}' must have shape [batch, features...] but has rank ${dims.length}`, 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_SHAPE');
    const rest = dims.slice(1).map((d, i) => {
      const v = dimValueOf(d) ?? NaN;
      if (!(v > 0))
        fail(
          `Graph input '${vi.name}' has a dynamic dimension ${i + 1} (${d.value.case === 'dimParam' && d.value.value ? `'${d.value.value}'` : 'unknown'}); only the first (batch) dimension may be dynamic`,
          'ERR_FUSIONRANK_ONNX_DYNAMIC_DIM',
        );
      return v;
    });
    const size = rest.reduce((a, b) => a * b, 1);
    if (size > 2 ** 20) fail(`Graph input '${vi.name}' has ${size} features, more than 2^20`, 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_SHAPE');
    values.set(vi.name, { kind: 'input', index: inputs.length });
    inputs.push({ name: vi.name, size, dims: rest });
  }
  if (inputs.length === 0) fail('The graph has no float input', 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_SHAPE');
  const outputs = graph.output;
  if (outputs.length !== 1)
    fail(`The graph has ${outputs.length} outputs; FusionMlp runs graphs with exactly one output (run others with OnnxModel)`, 'ERR_FUSIONRANK_ONNX_OUTPUTS');
  const outputName = outputs[0].name;
  const outputType = tensorTypeOf(outputs[0].type);
  if (outputType && outputType.elemType !== 0 && outputType.elemType !== DATA_TYPE.FLOAT)
    fail(`Graph output '${outputName}' has ONNX element type ${outputType.elemType}; FusionMlp produces float32`, 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_TYPE');

  const fusion: FusionContext = {
    scalarOf,
    constant: (name) => constants.get(name),
    addConstant: (name, v, dims) => {
      const c: Constant = { name, dims: dims ?? [v.length], tensor: tensorProto({ dataType: DATA_TYPE.FLOAT }), values: v };
      constants.set(name, c);
      values.set(name, { kind: 'const', c });
    },
  };
  const plain = nodesIn.filter((n) => n.opType !== 'Constant' || (n.domain && n.domain !== 'ai.onnx'));
  const folded = foldConstants(plain, {
    ...fusion,
    values: (name) => {
      const c = constants.get(name);
      if (!c || c.tensor.dataType === DATA_TYPE.INT64 || c.tensor.dataType === DATA_TYPE.INT32) return undefined;
      try {
        return tensorValues(c);
      } catch {
        return undefined;
      }
    },
    dims: (name) => constants.get(name)?.dims,
  });
  const nodes = fuseSilu(fuseL2Normalize(fuseDecomposedLayerNorm(fuseErfGelu(folded, scalarOf), fusion), fusion));
  const used = new Set<string>();
  let order: number[] | undefined; // graph-input order in the flat row
  let builder: LayerListBuilder | undefined;
  let step = 0;
  let flow: { step: number; dims: number[] } | undefined;

  const start = (n: NodeProto, i: number, inputIndexes: number[]): void => {
    if (order) unsupported(n, i, 'The graph inputs are used more than once (FusionMlp needs one chain from the inputs to the output)');
    order = inputIndexes;
    const dims = inputIndexes.length === 1 ? inputs[inputIndexes[0]].dims : [inputIndexes.reduce((s, k) => s + inputs[k].size, 0)];
    builder = new LayerListBuilder(dims.reduce((a, b) => a * b, 1));
    flow = { step, dims };
  };

  // Errors cite a node's index in the file's graph, not in the fused list.
  const originalIndex = new Map(nodesIn.map((n, k) => [n, k]));
  nodes.forEach((n, position) => {
    const i = originalIndex.get(n) ?? position;
    const op = n.opType ?? '';
    if (n.domain && n.domain !== 'ai.onnx' && !(n.domain === 'com.microsoft' && op === 'Gelu')) unsupported(n, i);
    const ins = n.input ?? [];
    const get = (name: string): Value => {
      const v = values.get(name);
      if (!v) unsupported(n, i, `Input '${name}' is not produced by any supported node before this one`);
      used.add(name);
      return v;
    };
    // The one flowing operand of this node; starts the chain from a lone graph input.
    const flowing = (name: string): { step: number; dims: number[] } => {
      const v = get(name);
      if (v.kind === 'input') {
        if (inputs.length > 1) unsupported(n, i, `Graph input '${name}' must reach the network through a Concat of all inputs`);
        start(n, i, [0]);
        values.set(name, { kind: 'flow', ...flow! });
        return flow!;
      }
      if (v.kind !== 'flow') unsupported(n, i, `Operand '${name}' is a constant where the data was expected`);
      if (v.step !== flow!.step) unsupported(n, i, `Value '${name}' is used after the chain moved on (branches and residual connections are not supported)`);
      return v;
    };
    const constant = (name: string | undefined, what: string): Constant => {
      if (!name) unsupported(n, i, `Missing ${what}`);
      const v = get(name);
      if (v.kind !== 'const') unsupported(n, i, `The ${what} '${name}' must be a constant (an initializer or Constant node)`);
      return v.c;
    };
    const produce = (dims: number[]): void => {
      step++;
      flow = { step, dims };
      const out = n.output?.[0];
      if (!out) unsupported(n, i, 'The node has no output');
      values.set(out, { kind: 'flow', ...flow });
    };
    const alias = (): void => {
      const out = n.output?.[0];
      if (!out) unsupported(n, i, 'The node has no output');
      values.set(out, { kind: 'flow', ...flow! });
    };
    const width = () => builder!.width;
    const requireMatrix = (f: { dims: number[] }) => {
      if (f.dims.length !== 1) unsupported(n, i, `'${op}' needs a [batch, features] operand but gets rank ${f.dims.length + 1} (add a Flatten first)`);
    };
    // A constant that broadcasts per feature over [batch, width]: a scalar or width values.
    const perFeature = (c: Constant, what: string): Float32Array | number => {
      const count = c.dims.reduce((a, b) => a * b, 1);
      const trailing = c.dims.filter((d, k) => d !== 1 || k === c.dims.length - 1);
      if (count === 1 && c.dims.length <= 2) return tensorValues(c)[0];
      if (count === width() && trailing.length === 1 && c.dims.length <= 2) return tensorValues(c);
      fail(
        `The ${what} '${c.name}' of ${describeNode(n, i)} has shape [${c.dims.join(', ')}], which does not broadcast per feature over [batch, ${width()}]`,
        'ERR_FUSIONRANK_ONNX_SHAPE_MISMATCH',
        { op, node: n.name ?? '' },
      );
    };
    const shapeMismatch = (message: string): never => fail(`${message} at ${describeNode(n, i)}`, 'ERR_FUSIONRANK_ONNX_SHAPE_MISMATCH', { op, node: n.name ?? '' });

    switch (op) {
      case 'Concat': {
        const axis = attrInt(n, 'axis', 1);
        const indexes = ins.map((name) => {
          const v = get(name);
          if (v.kind !== 'input') unsupported(n, i, 'Concat is supported only over graph inputs, as the first node');
          return v.index;
        });
        if (new Set(indexes).size !== indexes.length || indexes.length !== inputs.length)
          unsupported(n, i, 'Concat must take every graph input exactly once');
        for (const k of indexes) if (inputs[k].dims.length !== 1) unsupported(n, i, `Concat input '${inputs[k].name}' must have shape [batch, features]`);
        if (axis !== 1 && axis !== -1) unsupported(n, i, `Concat along axis ${axis} is not supported (only the feature axis, 1)`);
        start(n, i, indexes);
        produce(flow!.dims);
        break;
      }
      case 'Gemm': {
        if (attrInt(n, 'transA', 0) !== 0) unsupported(n, i, 'Gemm with transA=1 (batch must be the leading dimension of the data)');
        const f = flowing(ins[0]);
        requireMatrix(f);
        const b = constant(ins[1], 'weight (Gemm input B)');
        const transB = attrInt(n, 'transB', 0) !== 0;
        const alpha = attrFloat(n, 'alpha', 1), beta = attrFloat(n, 'beta', 1);
        if (b.dims.length !== 2) shapeMismatch(`Gemm weight '${b.name}' has rank ${b.dims.length}; expected 2`);
        const [rows, cols] = b.dims;
        const k = transB ? cols : rows, out = transB ? rows : cols;
        if (k !== width()) shapeMismatch(`Gemm weight '${b.name}' has shape [${b.dims.join(', ')}]${transB ? ' (transB=1)' : ''}, which does not take ${width()} features`);
        let weight = tensorValues(b);
        if (alpha !== 1) weight = weight.map((w) => w * alpha);
        let bias: Float32Array | undefined;
        if (ins[2]) {
          const c = constant(ins[2], 'bias (Gemm input C)');
          const count = c.dims.reduce((x, y) => x * y, 1);
          const okShape = count === 1 || (count === out && c.dims.filter((d, q) => d !== 1 || q === c.dims.length - 1).length === 1);
          if (!okShape || c.dims.length > 2) shapeMismatch(`Gemm bias '${c.name}' has shape [${c.dims.join(', ')}], which does not broadcast to [batch, ${out}]`);
          const v = tensorValues(c);
          bias = count === 1 ? new Float32Array(out).fill(v[0] * beta) : v.map((x) => x * beta);
        }
        builder!.dense(weight, out, transB, bias);
        produce([out]);
        break;
      }
      case 'MatMul': {
        const f = flowing(ins[0]);
        requireMatrix(f);
        const b = constant(ins[1], 'weight (MatMul input B)');
        if (b.dims.length !== 2) shapeMismatch(`MatMul weight '${b.name}' has rank ${b.dims.length}; expected 2`);
        if (b.dims[0] !== width()) shapeMismatch(`MatMul weight '${b.name}' has shape [${b.dims.join(', ')}], which does not take ${width()} features`);
        builder!.dense(tensorValues(b), b.dims[1], false);
        produce([b.dims[1]]);
        break;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        if (ins.length !== 2 || !ins[0] || !ins[1]) unsupported(n, i, `'${op}' needs two inputs`);
        const [a, b] = ins.map((name) => get(name));
        const flowFirst = a.kind !== 'const';
        if ((a.kind === 'const') === (b.kind === 'const')) unsupported(n, i, `'${op}' is supported only between the data and a constant`);
        const f = flowing(flowFirst ? ins[0] : ins[1]);
        requireMatrix(f);
        const c = perFeature(constant(flowFirst ? ins[1] : ins[0], `${op} operand`), `${op} operand`);
        const neg = (v: Float32Array | number) => (typeof v === 'number' ? -v : v.map((x) => -x));
        const inv = (v: Float32Array | number) => (typeof v === 'number' ? 1 / v : v.map((x) => 1 / x));
        if (op === 'Add') builder!.affine(1, c);
        else if (op === 'Sub') flowFirst ? builder!.affine(1, neg(c)) : builder!.affine(-1, c);
        else if (op === 'Mul') builder!.affine(c, 0);
        else if (flowFirst) builder!.affine(inv(c), 0);
        else unsupported(n, i, 'Div of a constant by the data is not supported');
        produce(f.dims);
        break;
      }
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh':
      case 'LeakyRelu': {
        const f = flowing(ins[0]);
        builder!.activation(ACTIVATION_OPS[op], op === 'LeakyRelu' ? attrFloat(n, 'alpha', 0.01) : 0.01);
        produce(f.dims);
        break;
      }
      case 'Silu': {
        const f = flowing(ins[0]);
        builder!.activation('silu');
        produce(f.dims);
        break;
      }
      case 'Softplus': {
        const f = flowing(ins[0]);
        builder!.activation('softplus');
        produce(f.dims);
        break;
      }
      case 'Clip': {
        const f = flowing(ins[0]);
        // Bounds are inputs 1 and 2 from opset 11 ('' = absent), attributes before.
        const bound = (k: number, attr: string, fallback: number): number => {
          if (ins[k]) {
            const v = scalarOf(constant(ins[k], `Clip ${attr}`).name);
            if (v === undefined) unsupported(n, i, `Clip ${attr} '${ins[k]}' must be a scalar constant`);
            return v;
          }
          return attrFloat(n, attr, fallback);
        };
        const lo = bound(1, 'min', -Infinity), hi = bound(2, 'max', Infinity);
        if (Number.isNaN(lo) || Number.isNaN(hi)) unsupported(n, i, 'Clip with a NaN bound');
        builder!.activation('clip', lo, hi);
        produce(f.dims);
        break;
      }
      case 'L2Normalize': {
        const f = flowing(ins[0]);
        requireMatrix(f);
        builder!.l2normalize(attrFloat(n, 'epsilon', 0));
        produce(f.dims);
        break;
      }
      case 'LpNormalization': {
        const f = flowing(ins[0]);
        requireMatrix(f);
        const p = attrInt(n, 'p', 2), axis = attrInt(n, 'axis', -1);
        if (p !== 2) unsupported(n, i, `LpNormalization with p=${p} (only p=2, the L2 norm)`);
        if (axis !== -1 && axis !== 1) unsupported(n, i, `LpNormalization over axis ${axis} (only the feature axis)`);
        // x / ‖x‖ leaving zero rows zero (as onnxruntime does): the smallest normal float as epsilon.
        builder!.l2normalize(1.1754943508222875e-38);
        produce(f.dims);
        break;
      }
      case 'ReduceL2':
      case 'Expand':
      case 'Shape':
        unsupported(n, i, undefined, `${op} is supported only inside F.normalize over the feature axis: ReduceL2(keepdims=1) → Clip(min=eps) → [Expand(·, Shape(x))] → Div(x, ·)`);
        break;
      case 'Softmax': {
        const f = flowing(ins[0]);
        requireMatrix(f);
        // Opset 13 made the default axis -1; before, 1 (the same on [batch, features]).
        const axis = attrInt(n, 'axis', -1);
        if (axis !== -1 && axis !== 1) unsupported(n, i, `Softmax over axis ${axis} (only the feature axis)`);
        builder!.softmax();
        produce(f.dims);
        break;
      }
      case 'Gelu': {
        const f = flowing(ins[0]);
        const approximate = attrString(n, 'approximate', 'none');
        if (approximate !== 'none' && approximate !== 'tanh') unsupported(n, i, `Gelu with approximate='${approximate}'`);
        builder!.activation(approximate === 'tanh' ? 'geluTanh' : 'gelu');
        produce(f.dims);
        break;
      }
      case 'Identity':
        flowing(ins[0]);
        alias();
        break;
      case 'Dropout':
        // Inference: the identity. A consumed mask output is reported when used.
        flowing(ins[0]);
        if (ins[2]) {
          const training = constant(ins[2], 'training_mode');
          if (num(training.tensor.int32Data?.[0] ?? 0) !== 0 || (training.tensor.rawData?.[0] ?? 0) !== 0)
            unsupported(n, i, 'Dropout in training mode');
        }
        alias();
        break;
      case 'Flatten': {
        const f = flowing(ins[0]);
        const axis = attrInt(n, 'axis', 1);
        if (axis !== 1 && !(axis === -1 && f.dims.length === 1)) unsupported(n, i, `Flatten with axis=${axis} (only axis=1 keeps the batch dimension)`);
        produce([f.dims.reduce((a, b) => a * b, 1)]);
        break;
      }
      case 'BatchNormalization': {
        const f = flowing(ins[0]);
        requireMatrix(f);
        if (attrInt(n, 'training_mode', 0) !== 0) unsupported(n, i, 'BatchNormalization in training mode');
        if ((n.output ?? []).filter(Boolean).length > 1) unsupported(n, i, 'BatchNormalization with running-statistics outputs');
        const parts = ['scale', 'B', 'input_mean', 'input_var'].map((what, k) => {
          const c = constant(ins[k + 1], `BatchNormalization ${what}`);
          const v = tensorValues(c);
          if (v.length !== width()) shapeMismatch(`BatchNormalization ${what} '${c.name}' has ${v.length} values for ${width()} features`);
          return v;
        });
        builder!.batchNorm(parts[0], parts[1], parts[2], parts[3], attrFloat(n, 'epsilon', 1e-5));
        produce(f.dims);
        break;
      }
      case 'LayerNormalization': {
        const f = flowing(ins[0]);
        requireMatrix(f);
        const axis = attrInt(n, 'axis', -1);
        if (axis !== -1 && axis !== 1) unsupported(n, i, `LayerNormalization over axis ${axis} (only the feature axis)`);
        const scale = constant(ins[1], 'LayerNormalization scale');
        const scaleValues = tensorValues(scale);
        const bias = ins[2] ? tensorValues(constant(ins[2], 'LayerNormalization bias')) : undefined;
        const broadcast = (v: Float32Array, what: string) => {
          if (v.length === width()) return v;
          if (v.length === 1) return new Float32Array(width()).fill(v[0]);
          return shapeMismatch(`LayerNormalization ${what} has ${v.length} values for ${width()} features`);
        };
        builder!.layerNorm(broadcast(scaleValues, 'scale'), bias ? broadcast(bias, 'bias') : undefined, attrFloat(n, 'epsilon', 1e-5));
        produce(f.dims);
        break;
      }
      default:
        unsupported(n, i);
    }
  });

  if (!builder || !flow) fail('The graph has no supported node between its input and output', 'ERR_FUSIONRANK_ONNX_UNSUPPORTED');
  const out = values.get(outputName);
  if (!out || out.kind !== 'flow' || out.step !== flow.step)
    fail(`Graph output '${outputName}' is not the end of the chain of supported nodes`, 'ERR_FUSIONRANK_ONNX_UNSUPPORTED');
  if (flow.dims.length !== 1) fail(`Graph output '${outputName}' has rank ${flow.dims.length + 1}; FusionMlp produces [batch, features]`, 'ERR_FUSIONRANK_ONNX_UNSUPPORTED_SHAPE');
  if (builder.layers.length === 0) fail('The graph computes nothing FusionMlp can run (no layer between input and output)', 'ERR_FUSIONRANK_ONNX_UNSUPPORTED');
  const declared = outputType?.shape?.dim;
  const declaredWidth = declared && declared.length === 2 ? dimValueOf(declared[1]) : undefined;
  if (declaredWidth !== undefined && declaredWidth !== builder.width)
    fail(`Graph output '${outputName}' declares ${declaredWidth} features but the graph computes ${builder.width}`, 'ERR_FUSIONRANK_ONNX_SHAPE_MISMATCH');

  const extraTensor = (name: string): Float32Array | undefined => {
    const c = constants.get(name);
    return c && !used.has(name) ? tensorValues(c) : undefined;
  };
  const ordered = order!.map((k) => ({ name: inputs[k].name, size: inputs[k].size }));
  return { inputs: ordered, inputSize: ordered.reduce((s, x) => s + x.size, 0), outputName, outputSize: builder.width, layers: builder.layers, extraTensor };
}
