/**
 * Reads safetensors files (8-byte little-endian header length, a JSON
 * header, then raw little-endian tensors) and lowers a small JSON layer spec
 * over their tensors to the native layer list.
 */
import { createRequire } from 'node:module';

import type * as Valibot from 'valibot';

import { FusionrankError, typeError } from '../errors.js';
import { type Activation, ACTIVATIONS, bytesToFloat32, LayerListBuilder, type TensorDtype } from './layers.js';
import type { LoweredModel } from './onnx-loader.js';

export interface SafetensorsTensor {
  dtype: string;
  shape: number[];
  /** The raw bytes (a view into the file). */
  bytes: Uint8Array;
}

/** Header sizes beyond this are treated as corrupt (safetensors caps it at 100 MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const DTYPE_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, U16: 2, U32: 4, U64: 8 };
const FLOAT_DTYPES: Record<string, TensorDtype> = { F32: 'f32', F16: 'f16', BF16: 'bf16', F64: 'f64' };

function corrupt(message: string): never {
  throw new FusionrankError(`Not a valid safetensors file: ${message}`, 'ERR_FUSIONRANK_SAFETENSORS_PARSE');
}

/** Parses and validates every tensor entry of a safetensors file. */
export function parseSafetensors(bytes: Uint8Array): Map<string, SafetensorsTensor> {
  if (bytes.byteLength < 8) corrupt(`it has ${bytes.byteLength} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.byteLength - 8)))
    corrupt(`the header claims ${headerLength} bytes but the file has ${bytes.byteLength - 8} after the length`);
  const start = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, start)));
  } catch (error) {
    corrupt(`the header is not UTF-8 JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) corrupt('the header is not a JSON object');
  const data = bytes.subarray(start);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') continue;
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') corrupt(`entry '${name}' is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) corrupt(`entry '${name}' has an unknown dtype ${JSON.stringify(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) corrupt(`entry '${name}' has an invalid shape`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1])
      corrupt(`entry '${name}' has invalid data_offsets`);
    const [begin, end] = offsets as [number, number];
    if (end > data.byteLength) corrupt(`entry '${name}' ends at byte ${end} of a ${data.byteLength}-byte data section (truncated file?)`);
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (count * DTYPE_BYTES[e.dtype] !== end - begin)
      corrupt(`entry '${name}' of shape [${(e.shape as number[]).join(', ')}] ${e.dtype} needs ${count * DTYPE_BYTES[e.dtype]} bytes but spans ${end - begin}`);
    tensors.set(name, { dtype: e.dtype, shape: e.shape as number[], bytes: data.subarray(begin, end) });
  }
  return tensors;
}

/** The spec's schema, built on first use (valibot is loaded then, not when fusionrank is imported). */
function buildSchema(v: typeof Valibot) {
  const finite = v.pipe(v.number(), v.finite());
  const nonNegative = v.pipe(v.number(), v.finite(), v.minValue(0));
  const width = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(2 ** 20));
  const activation = v.picklist(ACTIVATIONS as unknown as [Activation, ...Activation[]]);
  const tensorName = v.pipe(v.string(), v.minLength(1));
  const layerSchema = v.variant('type', [
    v.strictObject({
      type: v.literal('linear'),
      weight: tensorName,
      bias: v.optional(tensorName),
      /** 'out-in' is PyTorch's nn.Linear layout (the default); 'in-out' is x @ W. */
      layout: v.optional(v.picklist(['out-in', 'in-out'])),
      activation: v.optional(activation),
      alpha: v.optional(finite),
      /** Bounds of a `clip` activation (default unbounded). */
      min: v.optional(v.number()),
      max: v.optional(v.number()),
    }),
    v.strictObject({ type: v.literal('layernorm'), weight: tensorName, bias: v.optional(tensorName), epsilon: v.optional(nonNegative) }),
    v.strictObject({
      type: v.literal('batchnorm'),
      weight: v.optional(tensorName),
      bias: v.optional(tensorName),
      mean: tensorName,
      variance: tensorName,
      epsilon: v.optional(nonNegative),
    }),
    v.strictObject({ type: v.literal('activation'), activation, alpha: v.optional(finite), min: v.optional(v.number()), max: v.optional(v.number()) }),
    /** x * scale / max(‖x‖₂, epsilon) per row: F.normalize (epsilon default 1e-12), times a temperature. */
    v.strictObject({ type: v.literal('normalize'), epsilon: v.optional(nonNegative), scale: v.optional(finite) }),
    v.strictObject({ type: v.literal('dropout'), p: v.optional(v.number()) }),
    v.strictObject({ type: v.literal('softmax') }),
  ]);
  const specSchema = v.strictObject({
    inputs: v.optional(v.pipe(v.array(v.strictObject({ name: v.pipe(v.string(), v.minLength(1)), size: width })), v.minLength(1))),
    inputSize: v.optional(width),
    layers: v.pipe(v.array(layerSchema), v.minLength(1)),
  });
  return specSchema;
}

let schema: ReturnType<typeof buildSchema> | undefined;
let valibot: typeof Valibot | undefined;
function specParser(): { v: typeof Valibot; schema: ReturnType<typeof buildSchema> } {
  valibot ??= createRequire(import.meta.url)('valibot') as typeof Valibot;
  schema ??= buildSchema(valibot);
  return { v: valibot, schema };
}

/** A layer spec over the tensors of a safetensors file. */
export type SafetensorsSpec = Valibot.InferInput<ReturnType<typeof buildSchema>>;

function specError(issues: ReadonlyArray<Valibot.BaseIssue<unknown>>): TypeError {
  const first = issues[0];
  const path = (first.path ?? []).map((item) => item.key as PropertyKey);
  const at = path.length ? path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '') : '(root)';
  return typeError(`Invalid FusionMlp spec at ${at}: ${first.message}`, 'ERR_FUSIONRANK_INVALID_SPEC');
}

/** Lowers a spec to the native layer list, checking every tensor against the running width. */
export function lowerSafetensors(tensors: Map<string, SafetensorsTensor>, specInput: unknown): LoweredModel {
  const { v, schema: specSchema } = specParser();
  const parsed = v.safeParse(specSchema, specInput);
  if (!parsed.success) throw specError(parsed.issues);
  const spec = parsed.output;
  const used = new Set<string>();
  const values = (name: string, where: string, shape?: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new FusionrankError(`Tensor '${name}' named by ${where} is not in the file (it has ${[...tensors.keys()].slice(0, 8).join(', ')}${tensors.size > 8 ? ', ...' : ''})`, 'ERR_FUSIONRANK_SPEC_TENSOR_NOT_FOUND');
    const dtype = FLOAT_DTYPES[t.dtype];
    if (!dtype) throw new FusionrankError(`Tensor '${name}' has dtype ${t.dtype}; weights must be F32, F16, BF16 or F64`, 'ERR_FUSIONRANK_SAFETENSORS_UNSUPPORTED_TYPE');
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, k) => d !== shape[k])))
      throw new FusionrankError(`Tensor '${name}' named by ${where} has shape [${t.shape.join(', ')}] but [${shape.join(', ')}] is expected`, 'ERR_FUSIONRANK_SPEC_SHAPE_MISMATCH');
    used.add(name);
    const count = t.shape.reduce((a, b) => a * b, 1);
    return bytesToFloat32(t.bytes, dtype, count, `Tensor '${name}'`, 'ERR_FUSIONRANK_SAFETENSORS_PARSE');
  };

  const first = spec.layers[0];
  let inputs = spec.inputs;
  if (!inputs) {
    let size = spec.inputSize;
    if (size === undefined && first.type === 'linear') {
      const w = tensors.get(first.weight);
      if (w && w.shape.length === 2) size = (first.layout ?? 'out-in') === 'out-in' ? w.shape[1] : w.shape[0];
    }
    if (size === undefined) throw typeError('Invalid FusionMlp spec at inputs: give inputs or inputSize when the first layer is not linear', 'ERR_FUSIONRANK_INVALID_SPEC');
    inputs = [{ name: 'input', size }];
  } else if (spec.inputSize !== undefined && spec.inputSize !== inputs.reduce((s, x) => s + x.size, 0)) {
    throw typeError('Invalid FusionMlp spec at inputSize: it differs from the sum of inputs[].size', 'ERR_FUSIONRANK_INVALID_SPEC');
  }
  if (new Set(inputs.map((x) => x.name)).size !== inputs.length) throw typeError('Invalid FusionMlp spec at inputs: input names must be unique', 'ERR_FUSIONRANK_INVALID_SPEC');
  const inputSize = inputs.reduce((s, x) => s + x.size, 0);
  const builder = new LayerListBuilder(inputSize);
  const activate = (layer: { activation?: Activation; alpha?: number; min?: number; max?: number }) => {
    const act = layer.activation ?? 'none';
    if (act === 'clip') builder.activation('clip', layer.min ?? -Infinity, layer.max ?? Infinity);
    else builder.activation(act, layer.alpha ?? 0.01);
  };
  spec.layers.forEach((layer, i) => {
    const where = `layers[${i}]`;
    const width = builder.width;
    switch (layer.type) {
      case 'linear': {
        const t = tensors.get(layer.weight);
        const outMajor = (layer.layout ?? 'out-in') === 'out-in';
        const out = t && t.shape.length === 2 ? (outMajor ? t.shape[0] : t.shape[1]) : 0;
        const weight = values(layer.weight, `${where}.weight`, outMajor ? [out, width] : [width, out]);
        const bias = layer.bias ? values(layer.bias, `${where}.bias`, [out]) : undefined;
        builder.dense(weight, out, outMajor, bias);
        activate(layer);
        break;
      }
      case 'layernorm':
        builder.layerNorm(values(layer.weight, `${where}.weight`, [width]), layer.bias ? values(layer.bias, `${where}.bias`, [width]) : undefined, layer.epsilon ?? 1e-5);
        break;
      case 'batchnorm':
        builder.batchNorm(
          layer.weight ? values(layer.weight, `${where}.weight`, [width]) : new Float32Array(width).fill(1),
          layer.bias ? values(layer.bias, `${where}.bias`, [width]) : new Float32Array(width),
          values(layer.mean, `${where}.mean`, [width]),
          values(layer.variance, `${where}.variance`, [width]),
          layer.epsilon ?? 1e-5,
        );
        break;
      case 'activation':
        activate(layer);
        break;
      case 'normalize':
        builder.l2normalize(layer.epsilon ?? 1e-12, layer.scale ?? 1);
        break;
      case 'softmax':
        builder.softmax();
        break;
      case 'dropout':
        break;
    }
  });
  if (builder.layers.length === 0) throw typeError('Invalid FusionMlp spec at layers: no layer computes anything', 'ERR_FUSIONRANK_INVALID_SPEC');
  const extraTensor = (name: string): Float32Array | undefined => {
    const t = tensors.get(name);
    const dtype = t && FLOAT_DTYPES[t.dtype];
    return t && dtype && !used.has(name) ? bytesToFloat32(t.bytes, dtype, t.shape.reduce((a, b) => a * b, 1), `Tensor '${name}'`, 'ERR_FUSIONRANK_SAFETENSORS_PARSE') : undefined;
  };
  return { inputs, inputSize, outputName: 'output', outputSize: builder.width, layers: builder.layers, extraTensor };
}
