/**
 * Which prebuilt package serves a platform: the one table the loader, the
 * pack script and the tests read. Each platform package holds one
 * `fusionrank.node`; kernels are chosen at run time, so one binary serves
 * every CPU of its platform.
 */

import { readFileSync } from 'node:fs';

export type Libc = 'glibc' | 'musl';

export interface PlatformPackage {
  /** The package's folder and suffix, e.g. `linux-x64-gnu`. */
  target: string;
  /** `@fusionrank/<target>`. */
  name: string;
  os: NodeJS.Platform;
  cpu: string;
  /** Linux only. */
  libc?: Libc;
  /** Human-readable, for errors and READMEs. */
  description: string;
}

const table: Array<Omit<PlatformPackage, 'name'>> = [
  { target: 'linux-x64-gnu', os: 'linux', cpu: 'x64', libc: 'glibc', description: 'Linux x64 (glibc ≥ 2.28)' },
  { target: 'linux-x64-musl', os: 'linux', cpu: 'x64', libc: 'musl', description: 'Linux x64 (musl, e.g. Alpine)' },
  { target: 'linux-arm64-gnu', os: 'linux', cpu: 'arm64', libc: 'glibc', description: 'Linux arm64 (glibc ≥ 2.28)' },
  { target: 'linux-arm64-musl', os: 'linux', cpu: 'arm64', libc: 'musl', description: 'Linux arm64 (musl, e.g. Alpine)' },
  { target: 'darwin-x64', os: 'darwin', cpu: 'x64', description: 'macOS x64 (11.0+)' },
  { target: 'darwin-arm64', os: 'darwin', cpu: 'arm64', description: 'macOS arm64 (11.0+)' },
];

/** Every platform fusionrank ships a package for. */
export const PLATFORM_PACKAGES: readonly PlatformPackage[] = table.map((p) => ({ ...p, name: `@fusionrank/${p.target}` }));

export interface HostPlatform {
  platform: NodeJS.Platform;
  arch: string;
  /** Linux only: the C library Node runs on. */
  libc?: Libc;
}

/**
 * The C library this Node runs on. Fast path (as detect-libc): the text of
 * `/usr/bin/ldd` names musl or the GNU C Library. Otherwise the process
 * report (slower, ~5 ms): glibc when it names a glibc runtime version, musl
 * when it does not.
 */
export function detectLibc(report: () => unknown = () => process.report?.getReport(), ldd: () => string | undefined = readLdd): Libc {
  const text = ldd();
  if (text?.includes('musl')) return 'musl';
  if (text && /GNU C Library|GLIBC|glibc/.test(text)) return 'glibc';
  try {
    const header = (report() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
    return header?.glibcVersionRuntime ? 'glibc' : 'musl';
  } catch {
    return 'glibc';
  }
}

function readLdd(): string | undefined {
  try {
    return readFileSync('/usr/bin/ldd', 'latin1').slice(0, 4096);
  } catch {
    return undefined;
  }
}

/** This process's platform, arch and (on Linux) libc. */
export function hostPlatform(): HostPlatform {
  return process.platform === 'linux' ? { platform: 'linux', arch: process.arch, libc: detectLibc() } : { platform: process.platform, arch: process.arch };
}

/** The package for a platform, or undefined when fusionrank ships none. */
export function packageFor(host: HostPlatform): PlatformPackage | undefined {
  return PLATFORM_PACKAGES.find((p) => p.os === host.platform && p.cpu === host.arch && (p.os !== 'linux' || p.libc === (host.libc ?? 'glibc')));
}

/** `linux-x64 (glibc)`, `darwin-arm64`. */
export function describeHost(host: HostPlatform): string {
  return `${host.platform}-${host.arch}${host.platform === 'linux' ? ` (${host.libc ?? 'glibc'})` : ''}`;
}
