/**
 * A fusion MLP's batch forward pass on a GPU (the CUDA package's `CudaMlp`).
 * The model is built once per layer list, binding and precision and kept for
 * as long as the layer list lives (the weights stay on the GPU between calls).
 */
import type { NativeCudaBinding, NativeCudaMlp } from '../cuda.js';
import { FusionrankError, invalidParameter, rangeError, typeError, withCallerStack } from '../errors.js';
import type { LayerSpec } from './layers.js';

export type GpuPrecision = 'f16' | 'bf16';
const PRECISIONS: readonly GpuPrecision[] = ['f16', 'bf16'];

/** Largest batch of one call, as on the CPU. */
const MAX_BATCH = 1 << 24;

interface CachedModel {
  binding: NativeCudaBinding;
  precision: GpuPrecision;
  mlp: NativeCudaMlp;
}

const models = new WeakMap<readonly LayerSpec[], CachedModel[]>();

function model(binding: NativeCudaBinding, layers: readonly LayerSpec[], inputSize: number, precision: GpuPrecision): NativeCudaMlp {
  let cached = models.get(layers);
  if (!cached) models.set(layers, (cached = []));
  const hit = cached.find((m) => m.binding === binding && m.precision === precision);
  if (hit) return hit.mlp;
  const mlp = new binding.CudaMlp(inputSize, layers, precision);
  cached.push({ binding, precision, mlp });
  return mlp;
}

/**
 * `batch x outputSize` predictions of the model `layers` (the lowered layer
 * list of a FusionMlp) on the GPU of `binding`. Dense layers run in `precision`
 * (inputs and weights rounded to f16 or bf16, f32 sums, bias and activation in
 * f32); layer norms, softmax and L2 normalisations run in f32 with the CPU's
 * double sums. f16 holds values up to 65504: activations beyond that become
 * infinite, where bf16 (the range of f32) does not.
 *
 * @example
 * const where = resolveDevice('cuda');
 * if (where.device === 'cuda') scores = await gpuPredict(where.binding, layers, 1024, 1, x, batch, 'bf16');
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT for arguments of the wrong type
 * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH, ERR_FUSIONRANK_INVALID_BATCH, ERR_FUSIONRANK_MLP_SHAPE, ERR_FUSIONRANK_OUT_OF_MEMORY
 * @throws {FusionrankError} ERR_FUSIONRANK_CUDA_UNAVAILABLE, ERR_FUSIONRANK_CUDA_FAILED
 */
export async function gpuPredict(
  binding: NativeCudaBinding,
  layers: readonly LayerSpec[],
  inputSize: number,
  outputSize: number,
  data: Float32Array,
  batch: number,
  precision: GpuPrecision,
): Promise<Float32Array> {
  if (!Array.isArray(layers)) throw typeError(invalidParameter('layers', 'an array of layers', layers));
  if (typeof precision !== 'string') throw typeError(invalidParameter('precision', "'f16' or 'bf16'", precision));
  if (!PRECISIONS.includes(precision)) throw rangeError(invalidParameter('precision', "'f16' or 'bf16'", precision));
  if (typeof batch !== 'number') throw typeError(invalidParameter('batch', `an integer in [1, ${MAX_BATCH}]`, batch), 'ERR_FUSIONRANK_INVALID_BATCH');
  if (!Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) throw rangeError(invalidParameter('batch', `an integer in [1, ${MAX_BATCH}]`, batch), 'ERR_FUSIONRANK_INVALID_BATCH');
  if (!(data instanceof Float32Array)) throw typeError(invalidParameter('data', 'a Float32Array', data));
  if (data.length !== batch * inputSize)
    throw rangeError(`Expected data of ${batch} x ${inputSize} floats but received ${data.length}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
  const caller = new Error();
  try {
    const mlp = model(binding, layers, inputSize, precision);
    if (mlp.inputSize() !== inputSize || mlp.outputSize() !== outputSize)
      throw new FusionrankError(`The layer list maps ${mlp.inputSize()} inputs to ${mlp.outputSize()} outputs, not ${inputSize} to ${outputSize}`, 'ERR_FUSIONRANK_MLP_SHAPE');
    return await mlp.forward(data, batch);
  } catch (error) {
    throw withCallerStack(error, caller);
  }
}
