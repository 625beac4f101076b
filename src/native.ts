/**
 * The one loader of the native addon. Search order:
 *   1. `FUSIONRANK_NATIVE` (an explicit path to a .node file)
 *   2. `build/Release/fusionrank.node` (built from source by cmake-js / node-gyp)
 *   3. `prebuilds/<platform>-<arch>/fusionrank.node` (shipped in the package)
 * and otherwise an error that lists what was tried and how to fix it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FusionrankError } from './errors.js';
import { findPackageRoot } from './util/package-root.js';

export type NativeIsa = 'avx512vnni' | 'avx512' | 'avx2' | 'neon' | 'serial';

export interface NativeTopK {
  rows: Uint32Array;
  scores: Float32Array;
}

export interface NativeVectorStore {
  add(vectors: Float32Array): number;
  set(row: number, vectors: Float32Array): void;
  get(row: number): Float32Array;
  isZero(row: number): boolean;
  size(): number;
  memoryBytes(): number;
  cosine(query: Float32Array, rows?: Uint32Array): Float32Array;
  cosineMany(queries: Float32Array, rows?: Uint32Array): Float32Array;
  topK(query: Float32Array, k: number, rows?: Uint32Array): NativeTopK;
  topKAsync(query: Float32Array, k: number, rows: Uint32Array | undefined, threads: number): Promise<NativeTopK>;
  probeRead(rows?: Uint32Array, threads?: number): number;
}

export interface NativeBinding {
  capabilities(): { isa: NativeIsa; best: NativeIsa; available: NativeIsa[]; bf16: boolean };
  setIsa(isa: string): NativeIsa;
  isDetached(buffer: ArrayBufferLike): boolean;
  probeFma(iterations: number): { flops: number; value: number };
  /** Graph-navigation code kernel (4-bit codes), exposed for tests. */
  scoreU4(query: Int8Array, codes: Uint8Array, stride: number, rows: Uint32Array, cdim: number): Int32Array;
  NativeVectorStore: new (dim: number, dtype: string) => NativeVectorStore;
}

/** The package root: the nearest folder above this file with our package.json. */
export const packageRoot: string = (() => {
  const root = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  if (!root) throw new FusionrankError('Cannot find the fusionrank package root', 'ERR_FUSIONRANK_NATIVE_NOT_FOUND');
  return root;
})();

export const version: string = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;

/** `FUSIONRANK_NATIVE` as an absolute path (relative to the working directory). */
function explicitAddon(): string | undefined {
  return process.env.FUSIONRANK_NATIVE ? resolve(process.env.FUSIONRANK_NATIVE) : undefined;
}

/** Candidate paths for the addon, in the order they are tried. */
export function nativeCandidates(): string[] {
  const platformArch = `${process.platform}-${process.arch}`;
  const explicit = explicitAddon();
  return [
    ...(explicit ? [explicit] : []),
    join(packageRoot, 'build', 'Release', 'fusionrank.node'),
    join(packageRoot, 'prebuilds', platformArch, 'fusionrank.node'),
  ];
}

function load(): NativeBinding {
  const require = createRequire(import.meta.url);
  // An explicit path is that binary or an error, never a silent fallback to
  // another build (a benchmark of the wrong binary looks like a result).
  const explicit = explicitAddon();
  if (explicit) {
    let reason = 'not found';
    if (existsSync(explicit)) {
      try {
        return require(explicit) as NativeBinding;
      } catch (error) {
        reason = (error as Error).message.split('\n')[0];
      }
    }
    throw new FusionrankError(
      `FUSIONRANK_NATIVE is set to ${process.env.FUSIONRANK_NATIVE}, but ${explicit} could not be loaded (${reason}). ` +
        'Point it at a fusionrank.node built for this platform, or unset it to use the package\'s own build.',
      'ERR_FUSIONRANK_NATIVE_NOT_FOUND',
    );
  }
  const tried: string[] = [];
  for (const candidate of nativeCandidates()) {
    if (!existsSync(candidate)) {
      tried.push(`${candidate} (not found)`);
      continue;
    }
    try {
      return require(candidate) as NativeBinding;
    } catch (error) {
      tried.push(`${candidate} (${(error as Error).message.split('\n')[0]})`);
    }
  }
  throw new FusionrankError(
    [
      `Could not load the fusionrank native addon for ${process.platform}-${process.arch} (Node ${process.version}).`,
      'Tried:',
      ...tried.map((t) => `  - ${t}`),
      'Possible fixes:',
      '  - Reinstall so the install step can build or fetch it: npm rebuild fusionrank',
      '  - Build from source: needs CMake >= 3.15 and a C++17 compiler (g++ or clang), then `npm run build:native`',
      '  - Without CMake, the node-gyp fallback: `npm run build:native:gyp` (needs python3 and make)',
      '  - Point FUSIONRANK_NATIVE at a fusionrank.node built elsewhere for this platform',
    ].join('\n'),
    'ERR_FUSIONRANK_NATIVE_NOT_FOUND',
  );
}

/** The loaded addon, shared by every module of this thread. */
export const native: NativeBinding = load();

// Honour FUSIONRANK_ISA also for worker threads started with their own `env`
// (the addon itself can only see the process environment).
if (process.env.FUSIONRANK_ISA) native.setIsa(process.env.FUSIONRANK_ISA);
