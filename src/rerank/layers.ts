/**
 * The layer list the native core runs, shared by the ONNX and safetensors
 * loaders, with the load-time folds: batch norms and constant affine maps are
 * merged into the preceding dense layer whenever no activation sits between.
 */
import { FusionrankError } from '../errors.js';

/**
 * Element-wise functions a layer can end with. `gelu` is the exact (erf)
 * form; `silu` is x * sigmoid(x); `softplus` is log(1 + exp(x)), computed
 * without overflow; `clip` is min(max(x, alpha), beta) (ONNX Clip, PyTorch
 * Hardtanh / ReLU6 / clamp), its bounds possibly infinite.
 */
export type Activation = 'none' | 'relu' | 'leakyRelu' | 'sigmoid' | 'tanh' | 'gelu' | 'geluTanh' | 'silu' | 'softplus' | 'clip';
export const ACTIVATIONS: readonly Activation[] = ['none', 'relu', 'leakyRelu', 'sigmoid', 'tanh', 'gelu', 'geluTanh', 'silu', 'softplus', 'clip'];

/** y = act(x W + b); weight is [in][out], or [out][in] with outMajor. */
export interface DenseLayer {
  kind: 'dense';
  in: number;
  out: number;
  weight: Float32Array;
  outMajor: boolean;
  bias: Float32Array;
  activation: Activation;
  /** LeakyRelu's slope; Clip's lower bound. */
  alpha: number;
  /** Clip's upper bound. */
  beta: number;
}
export interface LayerNormLayer {
  kind: 'layernorm';
  size: number;
  scale: Float32Array;
  shift: Float32Array;
  epsilon: number;
}
/** y = x * scale + shift per feature (a batch norm that could not be folded). */
export interface AffineLayer {
  kind: 'affine';
  size: number;
  scale: Float32Array;
  shift: Float32Array;
}
export interface ActivationLayer {
  kind: 'activation';
  size: number;
  activation: Activation;
  alpha: number;
  beta: number;
}
/** exp(x - max) / sum over each row. */
export interface SoftmaxLayer {
  kind: 'softmax';
  size: number;
}
/** y = x * scale / max(‖x‖₂, epsilon) over each row: PyTorch's F.normalize, times a temperature. */
export interface L2NormLayer {
  kind: 'l2norm';
  size: number;
  epsilon: number;
  scale: number;
}
export type LayerSpec = DenseLayer | LayerNormLayer | AffineLayer | ActivationLayer | SoftmaxLayer | L2NormLayer;

/** What `FusionMlp#layers` reports for each layer. */
export interface LayerSummary {
  kind: LayerSpec['kind'];
  in: number;
  out: number;
  activation: Activation;
}

export function summarize(layer: LayerSpec): LayerSummary {
  if (layer.kind === 'dense') return { kind: 'dense', in: layer.in, out: layer.out, activation: layer.activation };
  if (layer.kind === 'activation') return { kind: 'activation', in: layer.size, out: layer.size, activation: layer.activation };
  return { kind: layer.kind, in: layer.size, out: layer.size, activation: 'none' };
}

/** Builds the layer list of one model, folding as it goes. */
export class LayerListBuilder {
  readonly layers: LayerSpec[] = [];
  width: number;

  constructor(inputSize: number) {
    this.width = inputSize;
  }

  /** True when the last layer is dense with nothing applied after its bias. */
  get denseOpen(): boolean {
    const last = this.layers[this.layers.length - 1];
    return last !== undefined && last.kind === 'dense' && last.activation === 'none';
  }

  dense(weight: Float32Array, out: number, outMajor: boolean, bias?: Float32Array): void {
    this.layers.push({ kind: 'dense', in: this.width, out, weight, outMajor, bias: bias ?? new Float32Array(out), activation: 'none', alpha: 0.01, beta: 0 });
    this.width = out;
  }

  /**
   * y = x * scale + shift per feature (scalars broadcast). Folded into an
   * open dense layer (columns and bias scaled), else a layer of its own.
   */
  affine(scale: Float32Array | number, shift: Float32Array | number): void {
    const n = this.width;
    const s = typeof scale === 'number' ? new Float32Array(n).fill(scale) : scale;
    const t = typeof shift === 'number' ? new Float32Array(n).fill(shift) : shift;
    if (this.denseOpen) {
      const d = this.layers[this.layers.length - 1] as DenseLayer;
      const w = new Float32Array(d.weight); // never modify a caller's array
      if (d.outMajor) {
        for (let o = 0; o < d.out; o++) for (let k = 0; k < d.in; k++) w[o * d.in + k] *= s[o];
      } else {
        for (let k = 0; k < d.in; k++) for (let o = 0; o < d.out; o++) w[k * d.out + o] *= s[o];
      }
      const b = new Float32Array(d.out);
      for (let o = 0; o < d.out; o++) b[o] = Math.fround(d.bias[o] * s[o]) + t[o];
      d.weight = w;
      d.bias = b;
      return;
    }
    const last = this.layers[this.layers.length - 1];
    // A scalar scale after an L2 normalisation (a learned temperature) is its scale.
    if (last !== undefined && last.kind === 'l2norm' && s.every((v) => v === s[0]) && t.every((v) => v === 0)) {
      last.scale = Math.fround(last.scale * s[0]);
      return;
    }
    if (last !== undefined && last.kind === 'affine') {
      for (let j = 0; j < n; j++) {
        last.scale[j] = last.scale[j] * s[j];
        last.shift[j] = last.shift[j] * s[j] + t[j];
      }
      return;
    }
    this.layers.push({ kind: 'affine', size: n, scale: Float32Array.from(s), shift: Float32Array.from(t) });
  }

  /** Inference batch norm as an affine map: scale = gamma / sqrt(var + eps), shift = beta - mean * scale. */
  batchNorm(gamma: Float32Array, beta: Float32Array, mean: Float32Array, variance: Float32Array, epsilon: number): void {
    const n = this.width;
    const scale = new Float32Array(n), shift = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      const s = gamma[j] / Math.sqrt(variance[j] + epsilon);
      scale[j] = s;
      shift[j] = beta[j] - mean[j] * s;
    }
    this.affine(scale, shift);
  }

  layerNorm(scale: Float32Array, shift: Float32Array | undefined, epsilon: number): void {
    this.layers.push({ kind: 'layernorm', size: this.width, scale, shift: shift ?? new Float32Array(this.width), epsilon });
  }

  softmax(): void {
    this.layers.push({ kind: 'softmax', size: this.width });
  }

  /** x * scale / max(‖x‖₂, epsilon) per row. */
  l2normalize(epsilon: number, scale = 1): void {
    this.layers.push({ kind: 'l2norm', size: this.width, epsilon, scale });
  }

  /**
   * Ends the open dense layer with the activation, else appends one. `alpha`
   * and `beta` are LeakyRelu's slope or Clip's bounds. A clip with a lower
   * bound >= 0 after a ReLU replaces it (ReLU6 exported as Relu → Clip).
   */
  activation(activation: Activation, alpha = 0.01, beta = 0): void {
    if (activation === 'none') return;
    const last = this.layers[this.layers.length - 1];
    if (activation === 'clip' && alpha >= 0 && last !== undefined && (last.kind === 'dense' || last.kind === 'activation') && last.activation === 'relu') {
      last.activation = 'clip';
      last.alpha = alpha;
      last.beta = beta;
      return;
    }
    if (this.denseOpen) {
      const d = last as DenseLayer;
      d.activation = activation;
      d.alpha = alpha;
      d.beta = beta;
      return;
    }
    this.layers.push({ kind: 'activation', size: this.width, activation, alpha, beta });
  }
}

/** IEEE binary16 bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** bfloat16 bits to a number. */
export function bfloat16ToFloat(h: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, (h & 0xffff) << 16);
  return view.getFloat32(0);
}

export type TensorDtype = 'f32' | 'f16' | 'bf16' | 'f64';
const BYTES: Record<TensorDtype, number> = { f32: 4, f16: 2, bf16: 2, f64: 8 };

/** Little-endian tensor bytes of `dtype` to f32 (copied, so the result is aligned and owned). */
export function bytesToFloat32(bytes: Uint8Array, dtype: TensorDtype, count: number, what: string, code: string): Float32Array {
  if (bytes.byteLength !== count * BYTES[dtype])
    throw new FusionrankError(`${what} declares ${count} ${dtype} values (${count * BYTES[dtype]} bytes) but holds ${bytes.byteLength} bytes`, code);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(count);
  switch (dtype) {
    case 'f32':
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'f16':
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case 'bf16':
      for (let i = 0; i < count; i++) out[i] = bfloat16ToFloat(view.getUint16(i * 2, true));
      break;
    case 'f64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      break;
  }
  return out;
}
