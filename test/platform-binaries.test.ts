// The binaries of the Linux platform packages, built the way a release builds
// them (scripts/build-addon.sh: plain CMake, libstdc++/libgcc static, arm64
// cross-compiled), checked with scripts/check-binary.mjs, and the arm64 one
// run under qemu-user against its kernel tests (scripts/test-arm64.sh: NEON
// against serial in the real addon). Builds are incremental in
// build-<target>/. The highest glibc version is reported, and asserted only
// against FUSIONRANK_MAX_GLIBC when that is set (release containers: 2.28).
// Needs an x86-64 Linux host with cmake, g++, g++-aarch64-linux-gnu,
// qemu-user and the npm registry (the arm64 Node, once, into .cache/).
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const maxGlibc = process.env.FUSIONRANK_MAX_GLIBC;
const ALLOWED_NEEDED = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux.*\.so.*)$/;
const MINUTES = 60_000;

/** Why this host cannot run the file, or undefined when it can. */
function missingPrerequisite(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `needs an x86-64 Linux host, this is ${process.platform}-${process.arch}`;
  const tools = ['cmake', 'g++', 'strip', 'readelf', 'aarch64-linux-gnu-g++', 'aarch64-linux-gnu-strip', 'qemu-aarch64', 'npm'];
  const missing = tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (!existsSync('/usr/aarch64-linux-gnu/lib/libstdc++.so.6')) missing.push('/usr/aarch64-linux-gnu/lib/libstdc++.so.6');
  if (missing.length === 0) return undefined;
  return `missing ${missing.join(', ')} (Debian: apt-get install cmake g++ g++-aarch64-linux-gnu qemu-user)`;
}

interface Result {
  code: number;
  output: string;
  seconds: number;
}

/** Runs a command to completion without throwing: exit code and stdout + stderr. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const started = performance.now();
  // The children pick their own addon and tier.
  const { FUSIONRANK_NATIVE, FUSIONRANK_ISA, ...inherited } = process.env;
  return new Promise((resolve) => {
    execFile(command, args, { cwd: root, env: { ...inherited, ...env }, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`, seconds: (performance.now() - started) / 1000 });
    });
  });
}

interface CheckReport {
  machine: string;
  needed: string[];
  highest: Record<string, { version: string; symbols: string[] }>;
  exports: string[];
  failures: string[];
}

async function checkBinary(file: string, arch: 'x64' | 'arm64'): Promise<CheckReport> {
  const args = [join(root, 'scripts/check-binary.mjs'), file, '--arch', arch, '--json'];
  if (maxGlibc) args.push('--max-glibc', maxGlibc);
  const result = await run(process.execPath, args);
  try {
    return JSON.parse(result.output) as CheckReport;
  } catch {
    throw new Error(`check-binary printed no report (exit ${result.code}):\n${result.output}`);
  }
}

const skipReason = missingPrerequisite();
const targets = [
  { target: 'linux-x64-gnu', arch: 'x64' },
  { target: 'linux-arm64-gnu', arch: 'arm64' },
] as const;

describe.skipIf(skipReason)(`Linux platform binaries${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const outdir = skipReason ? '' : mkdtempSync(join(tmpdir(), 'fusionrank-platform-'));
  const built = new Map<string, string>();
  afterAll(() => {
    if (outdir) rmSync(outdir, { recursive: true, force: true });
  });

  describe.each(targets)('$target', ({ target, arch }) => {
    it('builds with scripts/build-addon.sh and links nothing but the C library', async () => {
      const dir = join(outdir, target);
      const build = await run(join(root, 'scripts/build-addon.sh'), [target, dir]);
      expect(build.code, build.output).toBe(0);
      const file = join(dir, 'fusionrank.node');
      built.set(target, file);

      const report = await checkBinary(file, arch);
      const glibc = report.highest.GLIBC_;
      console.log(
        `${target}: built in ${build.seconds.toFixed(0)} s, ${statSync(file).size} bytes, NEEDED ${report.needed.join(' ')}, ` +
          `glibc ${glibc?.version ?? 'none'} (${glibc?.symbols.join(', ') ?? ''})${maxGlibc ? `, limit ${maxGlibc}` : ''}`,
      );
      expect(report.machine).toBe(arch);
      expect(report.needed.filter((library) => !ALLOWED_NEEDED.test(library))).toEqual([]);
      expect(Object.keys(report.highest).filter((prefix) => prefix !== 'GLIBC_')).toEqual([]);
      // Only Node-API's two entry points are exported (the static runtime stays hidden).
      expect([...report.exports].sort()).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
      expect(report.failures).toEqual([]);
    }, 10 * MINUTES);
  });

  it('check-binary rejects the wrong machine, a newer glibc than asked, and a file that is not ELF', async () => {
    const file = built.get('linux-x64-gnu');
    if (!file) throw new Error('linux-x64-gnu was not built (see the test above)');
    const wrongArch = await run(process.execPath, ['scripts/check-binary.mjs', file, '--arch', 'arm64']);
    expect(wrongArch.code).toBe(1);
    expect(wrongArch.output).toContain('FAIL built for x64, expected arm64');
    const report = await checkBinary(file, 'x64');
    const glibc = report.highest.GLIBC_.version;
    const older = await run(process.execPath, ['scripts/check-binary.mjs', file, '--max-glibc', '2.17']);
    expect(older.code).toBe(1);
    expect(older.output).toContain(`FAIL needs glibc ${glibc}, more than --max-glibc 2.17:`);
    expect((await run(process.execPath, ['scripts/check-binary.mjs', file, '--max-glibc', glibc])).code).toBe(0);
    const notElf = await run(process.execPath, ['scripts/check-binary.mjs', 'package.json']);
    expect(notElf.code).toBe(1);
    expect(notElf.output).toContain('FAIL not an ELF file');
  });

  it('linux-x64-gnu loads in this Node and dispatches at run time', async () => {
    const file = built.get('linux-x64-gnu');
    if (!file) throw new Error('linux-x64-gnu was not built (see the test above)');
    const probe = await run(process.execPath, ['-p', `JSON.stringify(require(${JSON.stringify(file)}).capabilities())`]);
    expect(probe.code, probe.output).toBe(0);
    const capabilities = JSON.parse(probe.output);
    expect(capabilities.available.at(-1)).toBe('serial');
  });

  it('linux-arm64-gnu passes the kernel tests under qemu, NEON against serial', async () => {
    const file = built.get('linux-arm64-gnu');
    if (!file) throw new Error('linux-arm64-gnu was not built (see the test above)');
    const tests = await run(join(root, 'scripts/test-arm64.sh'), [file]);
    console.log(`linux-arm64-gnu: kernel tests under qemu in ${tests.seconds.toFixed(0)} s`);
    expect(tests.code, tests.output).toBe(0);
    expect(tests.output).toMatch(/capabilities \{"isa":"neon"/);
    const summary = /^(\d+) passed, (\d+) failed/m.exec(tests.output);
    expect(summary?.slice(1).map(Number), tests.output).toEqual([expect.any(Number), 0]);
    expect(Number(summary![1])).toBeGreaterThan(50);
  }, 10 * MINUTES);
});
