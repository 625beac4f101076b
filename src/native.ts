/**
 * The one loader of the native addon. Search order:
 *   1. `FUSIONRANK_NATIVE` (an explicit path to a .node file; no fallback)
 *   2. `build/Release/fusionrank.node` (built from source: development, or
 *      `npm explore fusionrank -- npm run build:native`)
 *   3. the `@fusionrank/<platform>` package (an optional dependency at the
 *      same version), e.g. `@fusionrank/linux-x64-gnu`
 * and otherwise one error that lists what was tried and how to fix it.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FusionrankError } from './errors.js';
import { processLoaderEnv, type LoaderEnv } from './loader-env.js';
import { describeHost, packageFor, PLATFORM_PACKAGES } from './platform.js';
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
  topKManyAsync(queries: Float32Array, k: number, rows: Uint32Array | undefined, threads: number): Promise<NativeTopKMany>;
  exportF16(first: number, count: number): Uint16Array;
}

/** Many-query top-k: `k` per query (the requested k clamped to the candidate rows), q x k row-major. */
export interface NativeTopKMany {
  rows: Uint32Array;
  scores: Float32Array;
  k: number;
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

/** One place the loader looked, and what happened there. */
export interface LoadAttempt {
  source: 'FUSIONRANK_NATIVE' | 'local build' | 'platform package';
  path: string;
  /** `'loaded'`, `'not found'`, or why it did not load. */
  outcome: string;
}

export type { LoaderEnv } from './loader-env.js';

function defaultEnv(): LoaderEnv {
  return processLoaderEnv({ explicit: process.env.FUSIONRANK_NATIVE, packageRoot, version, from: import.meta.url });
}

/** Candidate paths for the addon, in the order they are tried. */
export function nativeCandidates(env: LoaderEnv = defaultEnv()): string[] {
  const pkg = packageFor(env.host);
  const installed = pkg && env.resolvePackage(pkg.name);
  return [
    ...(env.explicit ? [resolve(env.cwd, env.explicit)] : []),
    join(env.packageRoot, 'build', 'Release', 'fusionrank.node'),
    ...(installed ? [join(dirname(installed), 'fusionrank.node')] : []),
  ];
}

const firstLine = (error: unknown) => String((error as Error)?.message ?? error).split('\n')[0];

function fixes(env: LoaderEnv): string[] {
  const pkg = packageFor(env.host);
  const h = env.host;
  const lines = ['How to fix it:'];
  if (pkg) {
    lines.push(
      `  - Install the platform package: npm install --include=optional (${pkg.name} is an optional dependency; it is skipped with --omit=optional or --no-optional)`,
      `  - Installing for another machine (a Docker image built on a Mac, a CI cache): npm install --os=${h.platform} --cpu=${h.arch}${h.platform === 'linux' ? ` --libc=${h.libc ?? 'glibc'}` : ''}`,
      '  - A package-lock.json created on another platform can lack this platform\'s optional packages (npm/cli#4828): delete node_modules and package-lock.json, then npm install',
    );
  }
  lines.push(
    '  - Build from source (CMake ≥ 3.15 and a C++17 compiler): npm explore fusionrank -- npm run build:native',
    '  - Or point FUSIONRANK_NATIVE at a fusionrank.node built for this platform',
  );
  return lines;
}

/**
 * Finds and loads the addon: `FUSIONRANK_NATIVE` (that file or an error, never
 * a fallback), then a local `build/Release` (development), then the
 * `@fusionrank/<platform>` package, whose version must equal fusionrank's.
 * Every failure is one error that lists each attempt and the fixes.
 * @internal exported for tests, which inject the environment
 */
export function resolveNative(env: LoaderEnv = defaultEnv()): { binding: NativeBinding; path: string; attempts: LoadAttempt[] } {
  const attempts: LoadAttempt[] = [];
  const tryLoad = (source: LoadAttempt['source'], path: string): NativeBinding | undefined => {
    if (!env.exists(path)) {
      attempts.push({ source, path, outcome: 'not found' });
      return undefined;
    }
    try {
      const binding = env.load(path) as NativeBinding;
      attempts.push({ source, path, outcome: 'loaded' });
      return binding;
    } catch (error) {
      attempts.push({ source, path, outcome: `could not be loaded: ${firstLine(error)}` });
      return undefined;
    }
  };
  const list = () => attempts.map((a) => `  - ${a.source}: ${a.path} (${a.outcome})`);

  if (env.explicit) {
    const path = resolve(env.cwd, env.explicit);
    const binding = tryLoad('FUSIONRANK_NATIVE', path);
    if (binding) return { binding, path, attempts };
    // An explicit path is that binary or an error (a benchmark of the wrong binary looks like a result).
    throw new FusionrankError(
      `FUSIONRANK_NATIVE is set to ${env.explicit}, but ${path} ${attempts[0].outcome}. ` +
        "Point it at a fusionrank.node built for this platform, or unset it to use the package's own build.",
      'ERR_FUSIONRANK_NATIVE_NOT_FOUND',
    );
  }

  const local = join(env.packageRoot, 'build', 'Release', 'fusionrank.node');
  const fromBuild = tryLoad('local build', local);
  if (fromBuild) return { binding: fromBuild, path: local, attempts };

  const pkg = packageFor(env.host);
  const host = describeHost(env.host);
  if (!pkg) {
    throw new FusionrankError(
      [
        `fusionrank has no prebuilt package for ${host} (Node ${process.version}). Supported: ${PLATFORM_PACKAGES.map((p) => p.target).join(', ')}.`,
        'Tried:',
        ...list(),
        'Build from source instead (CMake ≥ 3.15 and a C++17 compiler): npm explore fusionrank -- npm run build:native',
      ].join('\n'),
      'ERR_FUSIONRANK_UNSUPPORTED_PLATFORM',
    );
  }
  const manifest = env.resolvePackage(pkg.name);
  if (!manifest) {
    attempts.push({ source: 'platform package', path: pkg.name, outcome: 'not installed' });
  } else {
    const installed = env.readVersion(manifest);
    const path = join(dirname(manifest), 'fusionrank.node');
    if (installed !== env.version) {
      throw new FusionrankError(
        `${pkg.name}@${installed ?? '(unknown version)'} is installed, but fusionrank is ${env.version}: the addon must come from the same release. ` +
          `Install matching versions: npm install fusionrank@${env.version} ${pkg.name}@${env.version} (or delete node_modules and reinstall).`,
        'ERR_FUSIONRANK_NATIVE_VERSION',
      );
    }
    const binding = tryLoad('platform package', path);
    if (binding) return { binding, path, attempts };
  }
  throw new FusionrankError(
    [`Could not load the fusionrank native addon for ${host} (Node ${process.version}).`, 'Tried:', ...list(), ...fixes(env)].join('\n'),
    'ERR_FUSIONRANK_NATIVE_NOT_FOUND',
  );
}

function load(): NativeBinding {
  const { binding, path } = resolveNative();
  loadedFrom = path;
  return binding;
}

let loadedFrom = '';

/** The file the addon was loaded from. */
export function nativePath(): string {
  return loadedFrom;
}

/** The loaded addon, shared by every module of this thread. */
export const native: NativeBinding = load();

// Honour FUSIONRANK_ISA also for worker threads started with their own `env`
// (the addon itself can only see the process environment).
if (process.env.FUSIONRANK_ISA) native.setIsa(process.env.FUSIONRANK_ISA);
