/**
 * What the addon loaders (src/native.ts, src/cuda.ts) read from their
 * surroundings, in one place; tests inject their own. Loading this module
 * loads no addon.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { hostPlatform, type HostPlatform } from './platform.js';

export interface LoaderEnv {
  host: HostPlatform;
  /** An explicit path to the addon (an environment variable), resolved against `cwd`. */
  explicit?: string;
  cwd: string;
  packageRoot: string;
  version: string;
  exists(path: string): boolean;
  /** Loads a .node file (throws like `require` / `process.dlopen`). */
  load(path: string): unknown;
  /** The package.json path of an installed package, or undefined. */
  resolvePackage(name: string): string | undefined;
  readVersion(packageJson: string): string | undefined;
}

/** The `version` of a package.json, or undefined when it cannot be read. */
export function readPackageVersion(path: string): string | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** This process's environment; the host (and its libc) is read on first use only. */
export function processLoaderEnv(options: { explicit: string | undefined; packageRoot: string; version: string; from: string }): LoaderEnv {
  const require = createRequire(options.from);
  let host: HostPlatform | undefined;
  return {
    get host() {
      return (host ??= hostPlatform());
    },
    explicit: options.explicit || undefined,
    cwd: process.cwd(),
    packageRoot: options.packageRoot,
    version: options.version,
    exists: existsSync,
    load: (path) => require(path),
    resolvePackage: (name) => {
      try {
        return require.resolve(`${name}/package.json`);
      } catch {
        return undefined;
      }
    },
    readVersion: readPackageVersion,
  };
}
