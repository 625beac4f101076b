import { cudaSummary, type CudaSummary } from './cuda.js';
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
  /** The GPU side, from files only (see `CudaSummary`); `cudaCapabilities()` probes it. */
  cuda: CudaSummary;
}

/**
 * Reports the SIMD tier in use. Set `FUSIONRANK_ISA=serial|avx2|avx512|avx512vnni|neon`
 * before loading to force a lower tier (a tier the CPU lacks is an error).
 * `cuda` says whether a GPU can be used, from files only: it never loads the
 * CUDA package nor initialises the driver (`cudaCapabilities()` does, and
 * once it has, `cuda` reports its probe).
 *
 * @example
 * capabilities();
 * // { isa: 'avx512', best: 'avx512', available: ['avx512', 'avx2', 'serial'], bf16: false, version: '0.1.0',
 * //   cuda: { available: false, devices: 0, driver: null, reason: '@fusionrank/linux-x64-gnu-cuda@0.1.0 is not installed', probed: false } }
 */
export function capabilities(): Capabilities {
  const c = native.capabilities();
  return { isa: c.isa, best: c.best, available: c.available, bf16: c.bf16, version, cuda: cudaSummary() };
}
