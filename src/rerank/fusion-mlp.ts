/**
 * The early-fusion reranker: an MLP over [e_text; e_image; e_meta; signals],
 * trained elsewhere, loaded from ONNX or safetensors and run natively in
 * batch (weights packed once, a per-ISA GEMM with bias and activation fused).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import { FusionrankError, invalidParameter, rangeError, typeError, withCallerStack } from '../errors.js';
import { native, type NativeBinding } from '../native.js';
import { optionalOptions, requireFloat32Array, requireInteger } from '../util/validate.js';
import { type LayerSpec, type LayerSummary, summarize } from './layers.js';
import { decodeOnnx, type LoweredModel, lowerOnnx } from './onnx-loader.js';
import { lowerSafetensors, parseSafetensors, type SafetensorsSpec } from './safetensors.js';

export type { Activation, LayerSummary } from './layers.js';
export type { SafetensorsSpec } from './safetensors.js';

interface NativeFusionMlp {
  inputSize(): number;
  outputSize(): number;
  flopsPerRow(): number;
  useBf16(on: boolean): void;
  precision(): Precision;
  predict(input: Float32Array | NativeSegment[], batch: number): Float32Array;
  predictAsync(input: Float32Array | NativeSegment[], batch: number, threads: number): Promise<Float32Array>;
}
interface NativeSegment {
  width: number;
  data?: Float32Array;
  fill?: Float32Array;
  present?: Uint8Array;
}
/** The rows the native GatherInputs builds from segments, for the GPU path. */
function denseInput(data: Float32Array | NativeSegment[], batch: number, size: number): Float32Array {
  if (data instanceof Float32Array) return data;
  const out = new Float32Array(batch * size);
  for (let r = 0; r < batch; r++) {
    let offset = r * size;
    for (const seg of data) {
      const present = seg.data !== undefined && (!seg.present || seg.present[r] !== 0);
      if (present) out.set(seg.data!.subarray(r * seg.width, (r + 1) * seg.width), offset);
      else if (seg.fill) out.set(seg.fill, offset);
      offset += seg.width;
    }
  }
  return out;
}

interface MlpNative {
  NativeFusionMlp: new (inputSize: number, layers: LayerSpec[]) => NativeFusionMlp;
}
const binding = native as unknown as NativeBinding & MlpNative;

/**
 * What to do when a named input is absent (`null` / `undefined`, or a 0 in
 * `present` for some rows). Never zeros silently: a missing image must not
 * look like a black image.
 * - `'error'` (default): throw `ERR_FUSIONRANK_MISSING_INPUT`.
 * - `'mask'` / `{ mask: 'name' }`: the model was trained with a zeroed input
 *   plus a 1-wide mask input (default name `<input>_mask`) that fusionrank
 *   fills with 1 for present rows and 0 for missing ones.
 * - `'embedding'` / `{ embedding: 'tensor' | Float32Array }`: the model holds
 *   a learned "missing" embedding (default tensor name `<input>_missing`, an
 *   initializer no node consumes) that replaces missing rows.
 */
export type MissingPolicy = 'error' | 'mask' | { mask: string } | 'embedding' | { embedding: string | Float32Array };

/** Arithmetic of the dense layers. */
export type Precision = 'f32' | 'bf16';

export interface FusionMlpOptions {
  /** Missing-modality policy per named input (default `'error'` for each). */
  missing?: Record<string, MissingPolicy>;
  /**
   * `'f32'` (default) or `'bf16'`: inputs and weights of the dense layers
   * rounded to bfloat16 (8 significant bits), sums kept in f32. About twice
   * the f32 throughput where the CPU has AVX512-BF16 (Zen 4, Sapphire
   * Rapids; `capabilities().bf16`); elsewhere, or with a lower
   * `FUSIONRANK_ISA`, the model runs in f32 (`mlp.precision` says which).
   */
  precision?: Precision;
}

/** One input of the model, in the order its features sit in a flat row. */
export interface FusionMlpInput {
  name: string;
  size: number;
  /** Offset of this input's features in a flat row of `inputSize`. */
  offset: number;
  /** The resolved missing-modality policy. */
  missing: 'error' | 'mask' | 'embedding';
  /** With `missing: 'mask'`: the mask input fusionrank fills. */
  maskInput?: string;
  /** Set on a mask input: the input whose presence it carries (do not pass it). */
  maskOf?: string;
}

export interface PredictOptions {
  /** Per-row presence of named inputs (1 / true = present); needs a missing policy other than 'error' for any 0. */
  present?: Record<string, Uint8Array | boolean[]>;
  /** The batch size, needed only when every named input is missing. */
  batch?: number;
}

export interface PredictAsyncOptions extends PredictOptions {
  /** Threads for one large batch (default: all cores, at most 8; batches under 512 rows use one). */
  threads?: number;
  /**
   * `'cpu'` (default); `'cuda'`: the CUDA package's GPU (dense layers in
   * `gpuPrecision` with f32 accumulation and the same epilogues), or
   * ERR_FUSIONRANK_CUDA_UNAVAILABLE; `'auto'`: the GPU when usable, else the
   * CPU with one warning per process.
   */
  device?: 'cpu' | 'auto' | 'cuda';
  /** Dense-layer arithmetic on the GPU: `'f16'` (default) or `'bf16'`. */
  gpuPrecision?: 'f16' | 'bf16';
}

/** Named inputs: one Float32Array of batch x size per input, or null when missing. */
export type NamedInputs = Record<string, Float32Array | null | undefined>;

const MISSING_SUFFIX = '_missing';
const MASK_SUFFIX = '_mask';

function readModelFile(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new FusionrankError(`Cannot read the ${what} file '${path}': ${(error as Error).message}`, 'ERR_FUSIONRANK_FILE_READ', { cause: error });
  }
}

function toBytes(source: unknown, name: string, what: string): Uint8Array {
  if (typeof source === 'string') return readModelFile(source, what);
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  throw typeError(invalidParameter(name, `a file path, Uint8Array or ArrayBuffer of a ${what} model`, source));
}

/** The native model behind each FusionMlp, for consumers inside the package. */
const nativeModels = new WeakMap<object, object>();
/** Each FusionMlp's one-row input assembly (see towerInputOf). */
const singleRows = new WeakMap<object, (input: unknown, where: string) => Float32Array>();

/**
 * One flat input row of a FusionMlp (inputSize floats, inputs side by side,
 * missing-modality fills applied) from a row of named inputs or a flat row,
 * validated as `predict` validates (messages name `where`); undefined for
 * any other model. A Ranker's user tower reads the request's userFeatures
 * through it.
 * @internal
 */
export function towerInputOf(model: unknown, input: unknown, where: string): Float32Array | undefined {
  const build = typeof model === 'object' && model !== null ? singleRows.get(model) : undefined;
  return build?.(input, where);
}

/**
 * The native model behind a FusionMlp (a Ranker then runs it inside its own
 * native call), or undefined for any other rerank model.
 * @internal
 */
export function nativeModelOf(model: unknown): object | undefined {
  return typeof model === 'object' && model !== null ? nativeModels.get(model) : undefined;
}

/**
 * A fusion MLP running in the native core. NaN or ±Infinity in an input row
 * propagate to that row's outputs (they are never replaced); other rows of
 * the batch are unaffected.
 *
 * @example
 * const mlp = FusionMlp.fromOnnx('rerank.onnx', { missing: { image: 'mask' } });
 * const scores = mlp.predict({ text, image, meta }); // Float32Array, batch x outputSize
 * const same = mlp.predict(flatRows);                // or one Float32Array of batch x inputSize
 */
export class FusionMlp {
  /** Features per flat input row (the sum of every input's size). */
  readonly inputSize: number;
  /** Outputs per row. */
  readonly outputSize: number;
  /** The name of the model's output (as onnxruntime reports it). */
  readonly outputName: string;
  /** The inputs in flat-row order, with their missing-modality policies. */
  readonly inputs: readonly FusionMlpInput[];
  /** The lowered layers (after batch-norm folding and activation fusion). */
  readonly layers: readonly LayerSummary[];
  /** Floating-point operations per row in the dense layers (for GFLOP/s figures). */
  readonly flopsPerRow: number;

  /**
   * The arithmetic predictions run in now: `'bf16'` when it was asked for and
   * the kernels in use have a bf16 dot product, else `'f32'`.
   * @example FusionMlp.fromOnnx(bytes, { precision: 'bf16' }).precision; // 'bf16' on Zen 4
   */
  get precision(): Precision {
    return this.#native.precision();
  }
  readonly #native: NativeFusionMlp;
  /** The lowered layers, kept for the GPU copy of the model (predictAsync with device). */
  readonly #layerSpecs: readonly LayerSpec[];
  readonly #fills: Map<string, Float32Array | undefined>;

  private constructor(model: LoweredModel, options: FusionMlpOptions) {
    const missing = optionalOptions<Record<string, MissingPolicy>>(options.missing, 'options.missing');
    const names = new Set(model.inputs.map((x) => x.name));
    const inputs: FusionMlpInput[] = [];
    let offset = 0;
    for (const x of model.inputs) {
      inputs.push({ name: x.name, size: x.size, offset, missing: 'error' });
      offset += x.size;
    }
    const fills = new Map<string, Float32Array | undefined>();
    for (const [name, policy] of Object.entries(missing)) {
      const input = inputs.find((x) => x.name === name);
      if (!input) throw rangeError(invalidParameter(`options.missing key '${name}'`, `one of the model inputs (${[...names].join(', ')})`, name), 'ERR_FUSIONRANK_UNKNOWN_INPUT');
      const where = `options.missing.${name}`;
      if (policy === 'error') continue;
      if (input.maskOf) throw rangeError(`${where}: '${name}' is the mask input of '${input.maskOf}', filled by fusionrank`, 'ERR_FUSIONRANK_MISSING_POLICY');
      if (policy === 'mask' || (typeof policy === 'object' && policy !== null && 'mask' in policy)) {
        const maskName = policy === 'mask' ? `${name}${MASK_SUFFIX}` : policy.mask;
        const mask = inputs.find((x) => x.name === maskName);
        if (!mask || mask.size !== 1 || mask.name === name)
          throw rangeError(`${where}: the model has no 1-wide mask input '${maskName}' (inputs: ${inputs.map((x) => `${x.name}[${x.size}]`).join(', ')})`, 'ERR_FUSIONRANK_MISSING_POLICY');
        if (mask.missing !== 'error') throw rangeError(`${where}: mask input '${maskName}' has a missing policy of its own`, 'ERR_FUSIONRANK_MISSING_POLICY');
        if (mask.maskOf) throw rangeError(`${where}: mask input '${maskName}' already carries the presence of '${mask.maskOf}'`, 'ERR_FUSIONRANK_MISSING_POLICY');
        input.missing = 'mask';
        input.maskInput = maskName;
        mask.maskOf = name;
        fills.set(name, undefined);
      } else if (policy === 'embedding' || (typeof policy === 'object' && policy !== null && 'embedding' in policy)) {
        const source = policy === 'embedding' ? `${name}${MISSING_SUFFIX}` : policy.embedding;
        const vector = typeof source === 'string' ? model.extraTensor(source) : source instanceof Float32Array ? Float32Array.from(source) : undefined;
        if (!vector)
          throw rangeError(
            typeof source === 'string'
              ? `${where}: the model has no unused float tensor '${source}' to serve as the learned missing embedding`
              : invalidParameter(`${where}.embedding`, 'a tensor name or a Float32Array', source),
            'ERR_FUSIONRANK_MISSING_POLICY',
          );
        if (vector.length !== input.size)
          throw rangeError(`${where}: the missing embedding has ${vector.length} values but input '${name}' has ${input.size} features`, 'ERR_FUSIONRANK_MISSING_POLICY');
        input.missing = 'embedding';
        fills.set(name, vector);
      } else {
        throw typeError(invalidParameter(where, "'error', 'mask', { mask: name }, 'embedding' or { embedding: name | Float32Array }", policy), 'ERR_FUSIONRANK_MISSING_POLICY');
      }
    }
    const precision = options.precision ?? 'f32';
    if (precision !== 'f32' && precision !== 'bf16') throw typeError(invalidParameter('options.precision', "'f32' or 'bf16'", precision));
    this.#native = new binding.NativeFusionMlp(model.inputSize, model.layers);
    this.#layerSpecs = model.layers;
    if (precision === 'bf16') this.#native.useBf16(true);
    nativeModels.set(this, this.#native);
    singleRows.set(this, (input, where) => this.#singleRow(input, where));
    this.#fills = fills;
    this.inputs = Object.freeze(inputs.map((x) => Object.freeze(x)));
    this.inputSize = this.#native.inputSize();
    this.outputSize = this.#native.outputSize();
    this.outputName = model.outputName;
    this.flopsPerRow = this.#native.flopsPerRow();
    this.layers = Object.freeze(model.layers.map(summarize));
  }

  /**
   * Loads an ONNX model: Gemm (alpha, beta, transB), MatMul + Add, Relu,
   * LeakyRelu, Sigmoid, Tanh, Gelu (and PyTorch's erf pattern), SiLU
   * (PyTorch's Mul(x, Sigmoid(x))), Identity, Dropout, Flatten,
   * BatchNormalization (folded into the preceding dense layer),
   * LayerNormalization (and the decomposition PyTorch exports below opset
   * 17), Softmax over the features, element-wise Add/Sub/Mul/Div by
   * constants and a Concat of the graph inputs (named inputs such as `text`,
   * `image`, `meta`). Weights may be float32, float16, bfloat16 or double. Only the
   * first (batch) dimension of an input may be dynamic; a static batch
   * dimension is treated as dynamic too.
   *
   * Two-tower tails, as `torch.onnx.export` writes them: F.normalize
   * (ReduceL2(keepdims) → Clip(min=eps) → [Shape/Expand] → Div, or Max for
   * the Clip; x / max(‖x‖₂, eps) per row) and LpNormalization (p=2),
   * Softplus (any beta: Mul → Softplus → Div), Clip with constant bounds
   * (Hardtanh, ReLU6, clamp; either bound optional, attributes before opset
   * 11), and a learned temperature: Exp / Clip / scalar arithmetic of
   * initializers are folded at load (`x * logit_scale.exp()`), and a scalar
   * Mul or Div after the normalisation becomes its scale. Softplus and Clip
   * after a Gemm / MatMul run in its epilogue. Unlike an f32 runtime, rows
   * whose sum of squares overflows float still normalise (redone in double).
   *
   * @example
   * const mlp = FusionMlp.fromOnnx('rerank.onnx');
   * const mlp2 = FusionMlp.fromOnnx(await readFile('rerank.onnx'), { missing: { image: 'embedding' } });
   * const userTower = FusionMlp.fromOnnx('user-tower.onnx'); // layers: dense relu, dense, l2norm
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when source is not a path, Uint8Array or ArrayBuffer
   * @throws {FusionrankError} ERR_FUSIONRANK_FILE_READ when the file cannot be read
   * @throws {FusionrankError} ERR_FUSIONRANK_ONNX_PARSE when the bytes are not an ONNX model (truncated, another format)
   * @throws {FusionrankError} ERR_FUSIONRANK_ONNX_UNSUPPORTED_OP naming the op and node, when the graph is not an MLP (a ReduceL2 outside the F.normalize pattern says so): run it with `OnnxModel.load(path)` instead
   * @throws {FusionrankError} ERR_FUSIONRANK_ONNX_UNSUPPORTED / _UNSUPPORTED_SHAPE / _UNSUPPORTED_TYPE for supported ops used in unsupported ways (branches, transA=1, integer inputs...)
   * @throws {FusionrankError} ERR_FUSIONRANK_ONNX_OUTPUTS when the graph has more than one output
   * @throws {FusionrankError} ERR_FUSIONRANK_ONNX_DYNAMIC_DIM when a dimension other than batch is dynamic
   * @throws {FusionrankError} ERR_FUSIONRANK_ONNX_BAD_TENSOR / _SHAPE_MISMATCH when a weight's data or shape does not fit
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_INPUT / ERR_FUSIONRANK_MISSING_POLICY for a bad `options.missing`
   */
  static fromOnnx(source: string | Uint8Array | ArrayBuffer, options?: FusionMlpOptions): FusionMlp {
    const opts = optionalOptions<FusionMlpOptions>(options, 'options');
    const bytes = toBytes(source, 'source', 'ONNX');
    return new FusionMlp(lowerOnnx(decodeOnnx(bytes)), opts);
  }

  /**
   * Loads weights from a safetensors file with a small JSON layer spec, for
   * models exported without ONNX. Linear weights default to PyTorch's
   * `[out, in]` layout (`layout: 'in-out'` for `x @ W`). Batch norms are
   * folded into the preceding linear layer. A `clip` activation takes
   * `min` / `max`; `{ type: 'normalize', epsilon?, scale? }` is F.normalize
   * (epsilon default 1e-12) times an optional temperature.
   *
   * @example
   * const mlp = FusionMlp.fromSafetensors('rerank.safetensors', {
   *   inputs: [{ name: 'text', size: 768 }, { name: 'image', size: 512 }, { name: 'meta', size: 64 }],
   *   layers: [
   *     { type: 'linear', weight: 'fc1.weight', bias: 'fc1.bias', activation: 'gelu' },
   *     { type: 'layernorm', weight: 'ln.weight', bias: 'ln.bias' },
   *     { type: 'linear', weight: 'out.weight', bias: 'out.bias', activation: 'sigmoid' },
   *   ],
   * });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_SPEC when the spec is malformed (the message names the field)
   * @throws {FusionrankError} ERR_FUSIONRANK_SAFETENSORS_PARSE when the file is not valid safetensors
   * @throws {FusionrankError} ERR_FUSIONRANK_SPEC_TENSOR_NOT_FOUND / ERR_FUSIONRANK_SPEC_SHAPE_MISMATCH when a named tensor is absent or has the wrong shape
   */
  static fromSafetensors(source: string | Uint8Array | ArrayBuffer, spec: SafetensorsSpec, options?: FusionMlpOptions): FusionMlp {
    const opts = optionalOptions<FusionMlpOptions>(options, 'options');
    const bytes = toBytes(source, 'source', 'safetensors');
    return new FusionMlp(lowerSafetensors(parseSafetensors(bytes), spec), opts);
  }

  /**
   * Scores a batch on the calling thread: a flat Float32Array of
   * batch x inputSize (inputs side by side in `inputs` order), or named
   * inputs `{ text, image, meta }`, each batch x its size; batches of 1 to
   * 2^24 rows. About 20 µs for
   * one row of a 1344→256→64→1 model; prefer `predictAsync` for batches of
   * thousands of rows.
   *
   * @example
   * const scores = mlp.predict({ text, image: null, meta }); // image missing for every row
   * const some = mlp.predict({ text, image, meta }, { present: { image: hasImage } });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when input is neither a Float32Array nor an object of Float32Arrays
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_BATCH when the batch is empty
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when a length is not batch x the input's size
   * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_INPUT when a named input is not in the model
   * @throws {RangeError} ERR_FUSIONRANK_MISSING_INPUT when an input is missing and its policy is 'error'
   */
  predict(input: Float32Array | NamedInputs, options?: PredictOptions): Float32Array {
    const { data, batch } = this.#prepare(input, optionalOptions<PredictOptions>(options, 'options'));
    return this.#native.predict(data, batch);
  }

  /**
   * `predict` on the libuv thread pool (the event loop stays free), split
   * over internal threads for large batches. Inputs are copied before it
   * returns, so the caller may reuse its arrays at once.
   *
   * @example
   * const scores = await mlp.predictAsync(rows, { threads: 4 });
   * @throws {TypeError|RangeError} the errors of `predict`, as a rejected promise
   * @throws {RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT when threads is not an integer in [1, 256]
   */
  async predictAsync(input: Float32Array | NamedInputs, options?: PredictAsyncOptions): Promise<Float32Array> {
    const opts = optionalOptions<PredictAsyncOptions>(options, 'options');
    const threads = opts.threads === undefined ? Math.min(8, availableParallelism()) : requireInteger(opts.threads, 'options.threads', 1, 256);
    const { data, batch } = this.#prepare(input, opts);
    const caller = new Error();
    try {
      if (opts.device !== undefined && opts.device !== 'cpu') {
        const { resolveDevice } = await import('../cuda.js');
        const where = resolveDevice(opts.device);
        if (where.device === 'cuda') {
          const precision = opts.gpuPrecision ?? 'f16';
          if (precision !== 'f16' && precision !== 'bf16') throw typeError(invalidParameter('options.gpuPrecision', "'f16' or 'bf16'", precision));
          const { gpuPredict } = await import('./gpu-mlp.js');
          try {
            return await gpuPredict(where.binding, this.#layerSpecs, this.inputSize, this.outputSize, denseInput(data, batch, this.inputSize), batch, precision);
          } catch (error) {
            // 'auto' falls back to the CPU for this call when the GPU runs out of memory.
            if (opts.device !== 'auto' || (error as { code?: string })?.code !== 'ERR_FUSIONRANK_OUT_OF_MEMORY') throw error;
            process.emitWarning(`predictAsync: the GPU ran out of memory (${(error as Error).message}); this call runs on the CPU`, { type: 'FusionrankWarning', code: 'FUSIONRANK_CUDA_FALLBACK' });
          }
        }
      }
      return await this.#native.predictAsync(data, batch, threads);
    } catch (error) {
      throw withCallerStack(error, caller);
    }
  }

  #prepare(input: unknown, options: Partial<PredictOptions>): { data: Float32Array | NativeSegment[]; batch: number } {
    if (input instanceof Float32Array) {
      const x = requireFloat32Array(input, 'input');
      if (x.length === 0) throw rangeError(invalidParameter('input', `a non-empty batch of rows of ${this.inputSize} floats`, x), 'ERR_FUSIONRANK_INVALID_BATCH');
      if (x.length % this.inputSize !== 0)
        throw rangeError(invalidParameter('input', `a Float32Array whose length is a multiple of ${this.inputSize}`, x), 'ERR_FUSIONRANK_DIM_MISMATCH');
      if (options.present !== undefined) throw typeError('options.present applies to named inputs only; pass { name: rows, ... } to use it');
      return { data: x, batch: x.length / this.inputSize };
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input) || ArrayBuffer.isView(input))
      throw typeError(invalidParameter('input', 'a Float32Array or an object of named Float32Arrays', input));
    return this.#segments(input as NamedInputs, options);
  }

  #singleRow(input: unknown, where: string): Float32Array {
    if (input instanceof Float32Array) {
      const x = requireFloat32Array(input, where);
      if (x.length !== this.inputSize) throw rangeError(invalidParameter(where, `a Float32Array of ${this.inputSize} floats (one row of the model's inputs)`, x), 'ERR_FUSIONRANK_DIM_MISMATCH');
      return x;
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input) || ArrayBuffer.isView(input))
      throw typeError(invalidParameter(where, 'a Float32Array or an object of named Float32Arrays', input));
    const { data } = this.#segments(input as NamedInputs, { batch: 1 }, where);
    const row = new Float32Array(this.inputSize);
    let at = 0;
    for (const segment of data) {
      // A missing input with a mask policy has neither: zeros, as natively.
      const source = segment.data ?? segment.fill;
      if (source) row.set(source.subarray(0, segment.width), at);
      at += segment.width;
    }
    return row;
  }

  #segments(named: NamedInputs, options: Partial<PredictOptions>, where = 'input'): { data: NativeSegment[]; batch: number } {
    const userInputs = this.inputs.filter((x) => !x.maskOf);
    const expected = () => userInputs.map((x) => `${x.name}[${x.size}]`).join(', ');
    for (const key of Object.keys(named))
      if (!userInputs.some((x) => x.name === key))
        throw rangeError(
          this.inputs.some((x) => x.name === key)
            ? `Input '${key}' is a mask that fusionrank fills from the presence of '${this.inputs.find((x) => x.name === key)!.maskOf}'; do not pass it`
            : `Unknown input '${key}'; the model takes ${expected()}`,
          'ERR_FUSIONRANK_UNKNOWN_INPUT',
        );
    let batch = options.batch === undefined ? undefined : requireInteger(options.batch, 'options.batch', 1, 2 ** 24, 'ERR_FUSIONRANK_INVALID_BATCH');
    const arrays = new Map<string, Float32Array>();
    for (const x of userInputs) {
      const value = named[x.name];
      if (value === null || value === undefined) continue;
      const a = requireFloat32Array(value, `${where}.${x.name}`);
      const rows = a.length / x.size;
      if (a.length === 0) throw rangeError(invalidParameter(`${where}.${x.name}`, `a non-empty batch of rows of ${x.size} floats`, a), 'ERR_FUSIONRANK_INVALID_BATCH');
      if (!Number.isInteger(rows) || (batch !== undefined && rows !== batch))
        throw rangeError(invalidParameter(`${where}.${x.name}`, batch === undefined ? `a Float32Array whose length is a multiple of ${x.size}` : `a Float32Array of ${batch} x ${x.size}`, a), 'ERR_FUSIONRANK_DIM_MISMATCH');
      batch = rows;
      arrays.set(x.name, a);
    }
    if (batch === undefined) {
      const required = userInputs.find((x) => x.missing === 'error');
      if (required) throw rangeError(`Input '${required.name}' is missing and has no missing-modality policy; pass it, or load the model with { missing: { ${required.name}: 'mask' | 'embedding' } }`, 'ERR_FUSIONRANK_MISSING_INPUT');
      throw rangeError('Every named input is missing: pass options.batch to score rows from missing-modality fills only', 'ERR_FUSIONRANK_INVALID_BATCH');
    }
    const presentOption = optionalOptions<Record<string, Uint8Array | boolean[]>>(options.present, 'options.present');
    const presence = new Map<string, Uint8Array>();
    for (const [name, flags] of Object.entries(presentOption)) {
      const x = userInputs.find((u) => u.name === name);
      if (!x) throw rangeError(`Unknown input '${name}' in options.present; the model takes ${expected()}`, 'ERR_FUSIONRANK_UNKNOWN_INPUT');
      if (!(flags instanceof Uint8Array) && !Array.isArray(flags)) throw typeError(invalidParameter(`options.present.${name}`, 'a Uint8Array or boolean[] with one flag per row', flags));
      if (flags.length !== batch) throw rangeError(invalidParameter(`options.present.${name}`, `${batch} flags (one per row)`, flags), 'ERR_FUSIONRANK_DIM_MISMATCH');
      const bytes = flags instanceof Uint8Array ? flags : Uint8Array.from(flags, (f) => (f ? 1 : 0));
      presence.set(name, bytes);
    }
    const isMissing = (name: string): 'all' | 'some' | 'none' => {
      if (!arrays.has(name)) return 'all';
      const p = presence.get(name);
      return p && p.includes(0) ? 'some' : 'none';
    };
    const segments: NativeSegment[] = [];
    for (const x of this.inputs) {
      if (x.maskOf) {
        const owner = x.maskOf;
        const mask = new Float32Array(batch);
        const state = isMissing(owner);
        if (state === 'none') mask.fill(1);
        else if (state === 'some') presence.get(owner)!.forEach((f, r) => (mask[r] = f ? 1 : 0));
        segments.push({ width: 1, data: mask });
        continue;
      }
      const state = isMissing(x.name);
      if (state !== 'none' && x.missing === 'error')
        throw rangeError(
          `Input '${x.name}' is missing${state === 'some' ? ' for some rows' : ''} and has no missing-modality policy; pass it, or load the model with { missing: { ${x.name}: 'mask' | 'embedding' } }`,
          'ERR_FUSIONRANK_MISSING_INPUT',
        );
      const segment: NativeSegment = { width: x.size };
      const data = arrays.get(x.name);
      if (data) segment.data = data;
      const fill = this.#fills.get(x.name);
      if (fill) segment.fill = fill;
      if (state === 'some') segment.present = presence.get(x.name)!;
      segments.push(segment);
    }
    return { data: segments, batch };
  }
}
