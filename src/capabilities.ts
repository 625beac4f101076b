import { native, version, type NativeIsa } from './native.js';

/** What the native core runs on this machine. */
export interface Capabilities {
  /** The instruction set the kernels use now (best available, or as forced by `FUSIONRANK_ISA`). */
  isa: NativeIsa;
  /** The best instruction set this CPU supports. */
  best: NativeIsa;
  /** Every instruction set this CPU can run, best first; `serial` is always last. */
  available: NativeIsa[];
  /** Whether the CPU has AVX512-BF16 dot products (used by `FusionMlp` with `precision: 'bf16'`). */
  bf16: boolean;
  /** The fusionrank package version. */
  version: string;
}

/**
 * Reports the SIMD tier in use. Set `FUSIONRANK_ISA=serial|avx2|avx512|avx512vnni|neon`
 * before loading to force a lower tier (a tier the CPU lacks is an error).
 * GPUs are reported by `cudaCapabilities()`, which loads the CUDA package:
 * this function stays free of that cost.
 *
 * @example
 * capabilities(); // { isa: 'avx512', best: 'avx512', available: ['avx512', 'avx2', 'serial'], bf16: false, version: '0.1.0' }
 */
export function capabilities(): Capabilities {
  const c = native.capabilities();
  return { isa: c.isa, best: c.best, available: c.available, bf16: c.bf16, version };
}
