/**
 * The CUDA package, `@fusionrank/linux-x64-gnu-cuda`: the same addon plus
 * CUDA kernels. It is an optional peer (never an optional dependency, so CPU
 * users never download it) and is loaded only when a caller asks for a GPU
 * (`device: 'auto' | 'cuda'`, or `cudaCapabilities()`), never at import.
 *
 * Search order, each step inside a try/catch:
 *   1. `FUSIONRANK_CUDA_NATIVE` (an explicit path to a .node file; no fallback)
 *   2. `build-cuda/fusionrank.node` (built by `scripts/build-cuda.sh`: development)
 *   3. the `@fusionrank/linux-x64-gnu-cuda` package, at fusionrank's version
 * A loaded addon is then probed (driver, devices) without creating a CUDA
 * context. What is missing is reported, never thrown, until a caller
 * insists on `'cuda'`.
 *
 * This file must not import `./native.js` at run time: that would load the
 * CPU addon, and the CUDA addon is a whole addon of its own.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FusionrankError, invalidParameter, rangeError, typeError } from './errors.js';
import { processLoaderEnv, readPackageVersion, type LoaderEnv } from './loader-env.js';
import type { NativeBinding } from './native.js';
import type { LayerSpec } from './rerank/layers.js';
import { describeHost } from './platform.js';
import { findPackageRoot } from './util/package-root.js';

/** The npm name of the CUDA package. */
export const CUDA_PACKAGE = '@fusionrank/linux-x64-gnu-cuda';

/** What the addon's `cudaProbe()` returns. */
export interface NativeCudaProbe {
  status: 'ok' | 'no-driver' | 'driver-too-old' | 'no-device' | 'no-supported-device' | 'error';
  /** The CUDA version the driver supports (12040 = 12.4); 0 without a driver. */
  driverVersion: number;
  /** The CUDA runtime linked into the addon (13000 = 13.0). */
  runtimeVersion: number;
  /** Every device the driver reports, supported or not. */
  deviceCount: number;
  /** The oldest compute capability the addon has code for (75 = sm_75). */
  minComputeCapability: number;
  /** `cudaErrorX: text` of the call that failed, or ''. */
  error: string;
  devices: Array<{ index: number; name: string; computeCapability: number; memoryBytes: number; supported: boolean }>;
}

/** Where a `CudaRowSet` keeps its rows: `'auto'` (default) on the GPU while they fit, else pinned host memory streamed per search. */
export type NativeCudaRowPlacement = 'auto' | 'device' | 'host';

/** What `CudaRowSet#topKMany` resolves to: q x k rows and scores, best first (ties: lower row first). */
export interface NativeCudaTopKMany {
  rows: Uint32Array;
  scores: Float32Array;
  /** Results per query: k, clamped to the candidate count (0 with `scoresOnly`). */
  k: number;
  /** Wall time of the job on its pool thread (upload, scoring, selection, download). */
  seconds: number;
}

/**
 * Rows resident on one GPU for exact many-query top-k by dot product (the
 * rows are L2-normalised binary16; scores come from f16 tensor-core tiles with
 * f32 accumulation, the top k is selected on the device). No CUDA call is made
 * before the first `write` or `topKMany`, so arguments are checked (with the
 * CPU API's codes) on any machine.
 */
export interface NativeCudaRowSet {
  dim(): number;
  /** Rows written so far. */
  size(): number;
  /** Bytes held for the rows, on the GPU or pinned on the host. */
  bytes(): number;
  /** `'none'` before the first write and after `release`. */
  placement(): 'none' | 'device' | 'host';
  /**
   * Rows `[firstRow, firstRow + n)` = `rows` (n x dim binary16); `firstRow <= size()`,
   * so a write overwrites and/or appends. Synchronous; waits for searches in flight.
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH, ERR_FUSIONRANK_ROW_OUT_OF_RANGE, ERR_FUSIONRANK_OUT_OF_MEMORY
   * @throws {FusionrankError} ERR_FUSIONRANK_CUDA_UNAVAILABLE, ERR_FUSIONRANK_CUDA_FAILED
   */
  write(firstRow: number, rows: Uint16Array): void;
  /** Frees the rows now (size 0; the set can be written again). */
  release(): void;
  /**
   * Exact top-k of each query (q x dim raw floats, L2-normalised natively; a
   * zero query scores 0 everywhere) over every row or over `rows`. k is at most
   * `CUDA_MAX_K` and is clamped to the candidate count. `scoresOnly` runs the
   * score tiles without the selection (a benchmark of the GEMM alone).
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH, ERR_FUSIONRANK_INVALID_K, ERR_FUSIONRANK_ROW_OUT_OF_RANGE, ERR_FUSIONRANK_NON_FINITE (rejects), ERR_FUSIONRANK_OUT_OF_MEMORY (rejects)
   */
  topKMany(queries: Float32Array, k: number, rows?: Uint32Array, options?: { scoresOnly?: boolean }): Promise<NativeCudaTopKMany>;
}

/** A fusion MLP's forward pass on one GPU (dense layers in f16 or bf16 on tensor cores, f32 accumulation). */
export interface NativeCudaMlp {
  inputSize(): number;
  outputSize(): number;
  precision(): 'f16' | 'bf16';
  /** batch x outputSize floats; the weights go to the GPU on the first call. */
  forward(x: Float32Array, batch: number): Promise<Float32Array>;
}

/** The largest k `CudaRowSet#topKMany` selects on the device. */
export const CUDA_MAX_K = 2048;

/** The CUDA package's addon: the CPU addon's exports plus the CUDA ones. */
export interface NativeCudaBinding extends NativeBinding {
  cudaProbe(): NativeCudaProbe;
  /** `a * x + y` on a GPU (synchronous): the package's trivial kernel, checked by the tests. */
  cudaSaxpy(a: number, x: Float32Array, y: Float32Array, device?: number): Float32Array;
  /** Times a pinned host-to-device copy of `bytes` (median of five; synchronous): the bus's practical peak. */
  cudaProbeH2D(bytes: number, device?: number): { bytes: number; seconds: number; gbPerSec: number };
  CudaRowSet: new (dim: number, device?: number, placement?: NativeCudaRowPlacement) => NativeCudaRowSet;
  CudaMlp: new (inputSize: number, layers: readonly LayerSpec[], precision: 'f16' | 'bf16', device?: number) => NativeCudaMlp;
}

/** One GPU as the probe saw it. */
export interface CudaGpu {
  index: number;
  name: string;
  /** `'8.6'`. */
  computeCapability: string;
  memoryBytes: number;
  /** Whether the CUDA package has code for it (compute capability 7.5 or newer). */
  supported: boolean;
}

/** Whether fusionrank can run on a GPU here, and if not, why. */
export interface CudaInfo {
  /** A supported GPU, a recent enough driver and the CUDA package were all found. */
  available: boolean;
  /** Supported devices (0 when unavailable). */
  devices: number;
  /** The CUDA version the NVIDIA driver supports (`'12.4'`), or null without a driver or without the package. */
  driver: string | null;
  /** The CUDA runtime in the package (`'13.0'`), or null when it did not load. */
  runtime: string | null;
  /** What is missing (package, platform, driver, device, load error), or null when available. */
  reason: string | null;
  /** How to fix it, or null when available. */
  fix: string | null;
  /** The addon file that was loaded, or null. */
  path: string | null;
  gpus: CudaGpu[];
}

/** The result of loading: the addon (undefined when it did not load) and what the probe found. */
export interface CudaLoad {
  binding: NativeCudaBinding | undefined;
  info: CudaInfo;
}

/** The lowest Linux driver each CUDA major version runs on (minor-version compatibility). */
const MIN_DRIVER: Record<number, string> = { 12: '525.60.13', 13: '580' };

const cudaVersion = (v: number): string | null => (v > 0 ? `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}` : null);
const firstLine = (error: unknown) => String((error as Error)?.message ?? error).split('\n')[0];

function driverFix(runtimeVersion: number): string {
  const major = Math.floor(runtimeVersion / 1000);
  const min = MIN_DRIVER[major];
  return `install or update the NVIDIA driver${min ? ` to ${min} or newer (CUDA ${cudaVersion(runtimeVersion)})` : ''}; \`nvidia-smi\` shows the one installed. In a container, start it with the GPU exposed (docker run --gpus all)`;
}

function unavailable(reason: string, fix: string, extra: Partial<CudaInfo> = {}): CudaInfo {
  return { available: false, devices: 0, driver: null, runtime: null, reason, fix, path: null, gpus: [], ...extra };
}

/** Turns the probe of a loaded addon into a CudaInfo. */
export function describeProbe(probe: NativeCudaProbe, path: string, version: string): CudaInfo {
  const gpus = probe.devices.map((d) => ({
    index: d.index,
    name: d.name,
    computeCapability: `${Math.floor(d.computeCapability / 10)}.${d.computeCapability % 10}`,
    memoryBytes: d.memoryBytes,
    supported: d.supported,
  }));
  const base = { driver: cudaVersion(probe.driverVersion), runtime: cudaVersion(probe.runtimeVersion), path, gpus };
  const needs = `CUDA ${cudaVersion(probe.runtimeVersion)}`;
  const min = `${Math.floor(probe.minComputeCapability / 10)}.${probe.minComputeCapability % 10}`;
  switch (probe.status) {
    case 'ok':
      return { available: true, devices: gpus.filter((g) => g.supported).length, reason: null, fix: null, ...base };
    case 'no-driver':
      return unavailable(`no NVIDIA driver was found (libcuda.so.1 could not be loaded; ${probe.error})`, driverFix(probe.runtimeVersion), base);
    case 'driver-too-old':
      return unavailable(`the NVIDIA driver supports CUDA ${base.driver}, but the CUDA package needs ${needs} (${probe.error})`, driverFix(probe.runtimeVersion), base);
    case 'no-device':
      return unavailable(`the NVIDIA driver (CUDA ${base.driver}) reports no CUDA device${probe.error ? ` (${probe.error})` : ''}`, `run on a machine with an NVIDIA GPU of compute capability ${min} or newer, check CUDA_VISIBLE_DEVICES, or start the container with --gpus all`, base);
    case 'no-supported-device':
      return unavailable(`no CUDA device of compute capability ${min} or newer (found ${gpus.map((g) => `${g.name} ${g.computeCapability}`).join(', ')})`, `use a GPU of compute capability ${min} or newer (Turing and later)`, base);
    default:
      return unavailable(`the CUDA probe failed: ${probe.error || 'unknown error'}`, `check the driver with \`nvidia-smi\`, or reinstall ${CUDA_PACKAGE}@${version}`, base);
  }
}

/** The local development builds of scripts/build-cuda.sh (and cmake-js's Release layout). */
export function localCudaBuilds(packageRoot: string): string[] {
  return [join(packageRoot, 'build-cuda', 'fusionrank.node'), join(packageRoot, 'build-cuda', 'Release', 'fusionrank.node')];
}

function defaultEnv(): LoaderEnv {
  const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url))) ?? process.cwd();
  const version = readPackageVersion(join(packageRoot, 'package.json')) ?? '0.0.0';
  return processLoaderEnv({ explicit: process.env.FUSIONRANK_CUDA_NATIVE, packageRoot, version, from: import.meta.url });
}

/**
 * Finds, loads and probes the CUDA addon, never throwing: a failure is the
 * `reason` of an unavailable result. Not memoised (see `loadCuda`).
 * @internal exported for tests, which inject the environment
 */
export function resolveCuda(env: LoaderEnv = defaultEnv()): CudaLoad {
  const install = `npm install ${CUDA_PACKAGE}@${env.version}`;
  // Loads one candidate; a string is why it did not load.
  const tryLoad = (path: string): { binding: NativeCudaBinding } | string => {
    if (!env.exists(path)) return 'not found';
    try {
      const binding = env.load(path) as NativeCudaBinding;
      if (typeof binding?.cudaProbe !== 'function') return 'is not a CUDA build of fusionrank (it has no cudaProbe)';
      return { binding };
    } catch (error) {
      return `could not be loaded: ${firstLine(error)}`;
    }
  };
  const probe = (binding: NativeCudaBinding, path: string): CudaLoad => {
    try {
      return { binding, info: describeProbe(binding.cudaProbe(), path, env.version) };
    } catch (error) {
      return { binding, info: unavailable(`the CUDA probe of ${path} threw: ${firstLine(error)}`, `reinstall ${CUDA_PACKAGE}@${env.version}`, { path }) };
    }
  };

  if (env.explicit) {
    const path = resolve(env.cwd, env.explicit);
    const loaded = tryLoad(path);
    if (typeof loaded !== 'string') return probe(loaded.binding, path);
    // An explicit path is that binary or nothing, as for FUSIONRANK_NATIVE.
    return { binding: undefined, info: unavailable(`FUSIONRANK_CUDA_NATIVE is set to ${env.explicit}, but ${path} ${loaded}`, `point FUSIONRANK_CUDA_NATIVE at the fusionrank.node of ${CUDA_PACKAGE}, or unset it`) };
  }

  const failures: string[] = [];
  for (const path of localCudaBuilds(env.packageRoot)) {
    const loaded = tryLoad(path);
    if (typeof loaded !== 'string') return probe(loaded.binding, path);
    if (loaded !== 'not found') failures.push(`the local build ${path} ${loaded}`);
  }

  const h = env.host;
  if (h.platform !== 'linux' || h.arch !== 'x64' || (h.libc ?? 'glibc') !== 'glibc') {
    return { binding: undefined, info: unavailable([`${CUDA_PACKAGE} is built for linux-x64 (glibc) only, and this is ${describeHost(h)}`, ...failures].join('; '), "use device: 'cpu' (fusionrank's CUDA package has no build for this platform)") };
  }
  const manifest = env.resolvePackage(CUDA_PACKAGE);
  if (!manifest) return { binding: undefined, info: unavailable([`${CUDA_PACKAGE} is not installed`, ...failures].join('; '), install) };
  const installed = env.readVersion(manifest);
  if (installed !== env.version) {
    return { binding: undefined, info: unavailable(`${CUDA_PACKAGE}@${installed ?? '(unknown version)'} is installed, but fusionrank is ${env.version}: the addon must come from the same release`, install) };
  }
  const path = join(dirname(manifest), 'fusionrank.node');
  const loaded = tryLoad(path);
  if (typeof loaded !== 'string') return probe(loaded.binding, path);
  return { binding: undefined, info: unavailable(`${CUDA_PACKAGE} ${path} ${loaded}`, `reinstall it (${install}); it needs glibc and an x64 CPU`) };
}

let loaded: CudaLoad | undefined;

/**
 * The CUDA addon and what its probe found, loaded on the first call and
 * memoised for the process (the environment, `FUSIONRANK_CUDA_NATIVE`
 * included, is read then).
 */
export function loadCuda(): CudaLoad {
  loaded ??= resolveCuda();
  return loaded;
}

/**
 * Whether fusionrank can use a GPU here, and if not, what is missing.
 * The first call loads the CUDA package (`@fusionrank/linux-x64-gnu-cuda`,
 * when installed) and asks the driver for its devices, which can take from
 * milliseconds to a second with a driver present; later calls return the same
 * answer. `capabilities()` stays free of that cost and never loads it.
 *
 * @example
 * cudaCapabilities();
 * // { available: false, devices: 0, driver: null, runtime: null,
 * //   reason: '@fusionrank/linux-x64-gnu-cuda is not installed',
 * //   fix: 'npm install @fusionrank/linux-x64-gnu-cuda@0.1.0', path: null, gpus: [] }
 */
export function cudaCapabilities(): CudaInfo {
  return structuredClone(loadCuda().info);
}

export type DeviceRequest = 'cpu' | 'auto' | 'cuda';
export type ResolvedDevice = { device: 'cpu' } | { device: 'cuda'; binding: NativeCudaBinding; info: CudaInfo };

const DEVICES: readonly DeviceRequest[] = ['cpu', 'auto', 'cuda'];
let warned = false;

/**
 * Where work asked to run on `device` runs: `'cpu'` on the CPU (the CUDA
 * package is not loaded); `'auto'` on a GPU when one is usable, else on the
 * CPU with one `FUSIONRANK_CUDA_FALLBACK` warning per process naming what is
 * missing; `'cuda'` on a GPU or an error.
 *
 * @example
 * const where = resolveDevice(options.device ?? 'cpu');
 * if (where.device === 'cuda') where.binding.cudaSaxpy(2, x, y);
 * @throws {FusionrankError} ERR_FUSIONRANK_CUDA_UNAVAILABLE when `device` is 'cuda' and no GPU is usable (the message names the reason and the fix)
 * @throws {TypeError|RangeError} ERR_FUSIONRANK_INVALID_ARGUMENT for any other `device`
 */
export function resolveDevice(device: DeviceRequest): ResolvedDevice {
  if (typeof device !== 'string') throw typeError(invalidParameter('device', "one of 'cpu', 'auto', 'cuda'", device));
  if (!DEVICES.includes(device)) throw rangeError(invalidParameter('device', "one of 'cpu', 'auto', 'cuda'", device));
  if (device === 'cpu') return { device: 'cpu' };
  const { binding, info } = loadCuda();
  if (binding && info.available) return { device: 'cuda', binding, info };
  if (device === 'cuda') {
    throw new FusionrankError(`device 'cuda' was requested, but CUDA is unavailable: ${info.reason}. To fix it: ${info.fix}. Or use device 'auto' to fall back to the CPU.`, 'ERR_FUSIONRANK_CUDA_UNAVAILABLE');
  }
  if (!warned) {
    warned = true;
    process.emitWarning(`CUDA is unavailable (${info.reason}); fusionrank runs on the CPU. To use a GPU: ${info.fix}. Pass device: 'cpu' to silence this.`, {
      type: 'FusionrankWarning',
      code: 'FUSIONRANK_CUDA_FALLBACK',
    });
  }
  return { device: 'cpu' };
}

/** `capabilities().cuda`: what can be known about the GPU side without loading anything. */
export interface CudaSummary {
  /**
   * true when the CUDA addon is present (package at fusionrank's version, a
   * local build or FUSIONRANK_CUDA_NATIVE), the NVIDIA driver is loaded and
   * it has a GPU; after `cudaCapabilities()` has run, its probed answer.
   */
  available: boolean;
  /** GPUs the NVIDIA kernel driver knows (/proc/driver/nvidia/gpus), or the probed count. */
  devices: number;
  /** The NVIDIA driver version (`'580.65.06'`, from /proc/driver/nvidia/version), or null without one. */
  driver: string | null;
  /** What is missing, or null; `'not probed …'` when only `cudaCapabilities()` can tell. */
  reason: string | null;
  /** false: from files only (no addon loaded, no driver initialised); true: from `cudaCapabilities()`'s probe. */
  probed: boolean;
}

/** What the summary reads (injectable for tests). */
export interface SummaryEnv {
  loader: LoaderEnv;
  readText(path: string): string | undefined;
  list(path: string): string[] | undefined;
}

function defaultSummaryEnv(): SummaryEnv {
  return {
    loader: defaultEnv(),
    readText: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    list: (path) => {
      try {
        return readdirSync(path);
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * The GPU side of `capabilities()`, cheaply: never loads the CUDA addon nor
 * initialises the driver (both are `cudaCapabilities()`'s). Reads whether the
 * addon is there, the NVIDIA driver's version and GPU count from /proc; once
 * `cudaCapabilities()` (or a GPU request) has probed, reports that instead.
 * @internal exported for tests, which inject the environment
 */
export function cudaSummary(env: SummaryEnv = defaultSummaryEnv(), probed: CudaInfo | undefined = loaded?.info): CudaSummary {
  if (probed) return { available: probed.available, devices: probed.devices, driver: probed.driver, reason: probed.reason, probed: true };
  const l = env.loader;
  const nvidia = env.readText('/proc/driver/nvidia/version');
  const driver = nvidia ? (/Kernel Module\s+(?:for \S+\s+)?([0-9][0-9.]+)/.exec(nvidia)?.[1] ?? null) : null;
  const devices = nvidia ? (env.list('/proc/driver/nvidia/gpus')?.length ?? 0) : 0;
  const h = l.host;
  const addon = l.explicit ? l.exists(resolve(l.cwd, l.explicit)) : localCudaBuilds(l.packageRoot).some((p) => l.exists(p)) || (() => {
    if (h.platform !== 'linux' || h.arch !== 'x64' || (h.libc ?? 'glibc') !== 'glibc') return false;
    const manifest = l.resolvePackage(CUDA_PACKAGE);
    return manifest !== undefined && l.readVersion(manifest) === l.version;
  })();
  const missing = !addon
    ? h.platform !== 'linux' || h.arch !== 'x64' || (h.libc ?? 'glibc') !== 'glibc'
      ? `${CUDA_PACKAGE} is built for linux-x64 (glibc) only, and this is ${describeHost(h)}`
      : `${CUDA_PACKAGE}@${l.version} is not installed`
    : !nvidia
      ? 'no NVIDIA driver is loaded (/proc/driver/nvidia/version is missing)'
      : devices === 0
        ? 'the NVIDIA driver reports no GPU'
        : null;
  return {
    available: missing === null,
    devices,
    driver,
    reason: missing ?? 'not probed: cudaCapabilities() loads the CUDA package and checks the driver version and compute capability',
    probed: false,
  };
}
