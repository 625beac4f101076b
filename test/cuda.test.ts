// The CUDA package: its build (nvcc, static runtime), its addon on a machine
// without a GPU (probe, coded errors, no crash), the loader's search order and
// version check, 'auto' / 'cuda' resolution, and that importing fusionrank
// never loads it. With a GPU the trivial kernel is checked against the CPU.
//
// The addon is built once by scripts/build-cuda.sh in beforeAll when nvcc is
// found (about 100 s from scratch on 2 cores, ~1 s when build-cuda/ is up to
// date); FUSIONRANK_TEST_CUDA_BUILD=0 skips the build, and without nvcc the
// tests that need the addon are skipped with the reason.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { beforeAll, describe, expect, it } from 'vitest';

import { CUDA_PACKAGE, cudaSummary, describeProbe, resolveCuda, type NativeCudaBinding } from '../src/cuda.js';
import type { LoaderEnv } from '../src/native.js';
import { PLATFORM_PACKAGES } from '../src/platform.js';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const dist = (file: string) => pathToFileURL(join(root, 'dist', 'src', file)).href;
const version: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const cpuAddon = join(root, 'build', 'Release', 'fusionrank.node');

function findNvcc(): string | undefined {
  const candidates = [process.env.CUDACXX, spawnSync('sh', ['-c', 'command -v nvcc']).stdout?.toString().trim(), '/usr/local/cuda/bin/nvcc'];
  return candidates.find((c): c is string => !!c && existsSync(c));
}

let built: string | undefined;
let skipReason = '';
let binding: NativeCudaBinding | undefined;

beforeAll(async () => {
  const nvcc = findNvcc();
  if (process.platform !== 'linux' || process.arch !== 'x64') skipReason = 'the CUDA package builds on linux-x64 only';
  else if (!nvcc) skipReason = 'nvcc not found (set CUDACXX or install the CUDA toolkit)';
  else if (process.env.FUSIONRANK_TEST_CUDA_BUILD === '0') skipReason = 'FUSIONRANK_TEST_CUDA_BUILD=0';
  if (skipReason) return;
  const out = mkdtempSync(join(tmpdir(), 'fr-cuda-build-'));
  await exec('bash', [join(root, 'scripts', 'build-cuda.sh'), out], { cwd: root, env: { ...process.env, CUDACXX: nvcc }, maxBuffer: 64 << 20, timeout: 590_000 });
  built = join(out, 'fusionrank.node');
  binding = createRequire(import.meta.url)(built) as NativeCudaBinding;
}, 600_000);

/** Runs an ES module script in a fresh Node process and returns its last stdout line as JSON. */
async function runScript(code: string, env: Record<string, string | undefined> = {}): Promise<any> {
  const dir = mkdtempSync(join(tmpdir(), 'fr-cuda-'));
  const hook = join(dir, 'dlopen-hook.mjs');
  writeFileSync(hook, 'import process from "node:process"; globalThis.__dlopened = []; const dlopen = process.dlopen; process.dlopen = (m, f, ...r) => { globalThis.__dlopened.push(f); return dlopen(m, f, ...r); };');
  const file = join(dir, 'script.mjs');
  writeFileSync(file, code);
  const { stdout } = await exec(process.execPath, ['--import', pathToFileURL(hook).href, file], { cwd: dir, env: { ...process.env, ...env } });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

function fakeEnv(overrides: Partial<LoaderEnv>): LoaderEnv {
  return {
    host: { platform: 'linux', arch: 'x64', libc: 'glibc' },
    cwd: root,
    packageRoot: join(tmpdir(), 'fr-no-such-root'),
    version: '1.2.3',
    exists: existsSync,
    load: (path) => createRequire(import.meta.url)(path),
    resolvePackage: () => undefined,
    readVersion: () => undefined,
    ...overrides,
  };
}

describe('the CUDA addon (built by scripts/build-cuda.sh)', () => {
  it('links the CUDA runtime, libstdc++ and libgcc statically and carries a fatbin', (ctx) => {
    if (!built) return ctx.skip(skipReason);
    const check = spawnSync(process.execPath, [join(root, 'scripts', 'check-binary.mjs'), built, '--arch', 'x64', '--json'], { encoding: 'utf8' });
    const report = JSON.parse(check.stdout);
    const needed: string[] = report.needed ?? report.NEEDED ?? [];
    expect(needed.length).toBeGreaterThan(0);
    expect(needed.filter((n) => /cudart|libcuda|stdc\+\+|gcc_s/.test(n))).toEqual([]);
    const sections = spawnSync('readelf', ['-S', '-W', built], { encoding: 'utf8' }).stdout;
    expect(sections).toContain('.nv_fatbin');
  });

  it('loads without a driver and exports the CPU API plus cudaProbe and cudaSaxpy', (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    for (const name of ['capabilities', 'NativeVectorStore', 'cudaProbe', 'cudaSaxpy']) expect(typeof (binding as any)[name]).toBe('function');
    const probe = binding.cudaProbe();
    expect(probe.runtimeVersion).toBeGreaterThanOrEqual(12000);
    expect(probe.minComputeCapability).toBe(75);
    expect(['ok', 'no-driver', 'driver-too-old', 'no-device', 'no-supported-device', 'error']).toContain(probe.status);
    if (probe.status !== 'ok') {
      expect(probe.deviceCount).toBe(0);
      expect(probe.error).toMatch(/^cudaError/);
      const info = describeProbe(probe, built!, version);
      expect(info.available).toBe(false);
      expect(info.reason).toBeTruthy();
      expect(info.fix).toBeTruthy();
    }
  });

  it('rejects misuse with coded errors, never a crash', (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    const b = binding as any;
    const x = new Float32Array([1, 2, 3]);
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return `${(error as Error).name}:${(error as { code?: string }).code}`;
      }
      return 'no error';
    };
    expect(code(() => b.cudaSaxpy())).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(code(() => b.cudaSaxpy('2', x, x))).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(code(() => b.cudaSaxpy(NaN, x, x))).toBe('RangeError:ERR_FUSIONRANK_NON_FINITE');
    expect(code(() => b.cudaSaxpy(2, [1, 2, 3], x))).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(code(() => b.cudaSaxpy(2, x, new Float64Array(3)))).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(code(() => b.cudaSaxpy(2, x, new Float32Array(2)))).toBe('RangeError:ERR_FUSIONRANK_DIM_MISMATCH');
    expect(code(() => b.cudaSaxpy(2, x, x, -1))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(code(() => b.cudaSaxpy(2, x, x, 0.5))).toBe('RangeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(code(() => b.cudaSaxpy(2, x, x, 'gpu'))).toBe('TypeError:ERR_FUSIONRANK_INVALID_ARGUMENT');
    const buffer = new ArrayBuffer(12);
    const detached = new Float32Array(buffer);
    structuredClone(buffer, { transfer: [buffer] });
    expect(code(() => b.cudaSaxpy(2, detached, x))).toBe('TypeError:ERR_FUSIONRANK_DETACHED_BUFFER');
    expect(b.cudaSaxpy(2, new Float32Array(0), new Float32Array(0))).toEqual(new Float32Array(0));
    expect(() => b.cudaProbe('extra', 1)).not.toThrow();
    if (b.cudaProbe().status !== 'ok') {
      // No driver or device: a valid call is an error with a code, not an abort.
      expect(code(() => b.cudaSaxpy(2, x, x))).toBe('Error:ERR_FUSIONRANK_CUDA_UNAVAILABLE');
      expect(code(() => b.cudaSaxpy(2, x, x))).toBe('Error:ERR_FUSIONRANK_CUDA_UNAVAILABLE');
    } else {
      expect(code(() => b.cudaSaxpy(2, x, x, 1024))).toBe('Error:ERR_FUSIONRANK_CUDA_UNAVAILABLE');
    }
  });

  it('computes a * x + y on the GPU as the CPU does (needs a GPU)', (ctx) => {
    if (!binding) return ctx.skip(skipReason);
    const probe = binding.cudaProbe();
    if (probe.status !== 'ok') return ctx.skip(`no usable GPU: ${probe.status} (${probe.error})`);
    const n = 1_000_003; // not a multiple of the block size, more than one grid pass
    const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * 100);
    const y = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.11));
    for (const device of probe.devices.filter((d) => d.supported).map((d) => d.index)) {
      const out = binding.cudaSaxpy(1.75, x, y, device);
      expect(out.length).toBe(n);
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(out[i] - Math.fround(1.75 * x[i] + y[i])) / Math.max(1, Math.abs(out[i])));
      expect(worst).toBeLessThan(1e-6);
    }
  });
});

describe('the CUDA loader', () => {
  it('loads FUSIONRANK_CUDA_NATIVE and reports the probe', (ctx) => {
    if (!built) return ctx.skip(skipReason);
    const { binding: b, info } = resolveCuda(fakeEnv({ explicit: built }));
    expect(typeof b?.cudaProbe).toBe('function');
    expect(info.path).toBe(built);
    expect(info.runtime).toMatch(/^1[2-9]\.\d$/);
    if (!info.available) expect(info.reason).toMatch(/driver|device/);
  });

  it('never falls back from an explicit path that does not load', () => {
    const missing = join(tmpdir(), 'fr-no-such-dir', 'fusionrank.node');
    const { binding: b, info } = resolveCuda(fakeEnv({ explicit: missing, resolvePackage: () => join(root, 'package.json'), readVersion: () => '1.2.3' }));
    expect(b).toBeUndefined();
    expect(info.available).toBe(false);
    expect(info.reason).toContain(missing);
    expect(info.reason).toContain('not found');
    expect(info.fix).toContain('FUSIONRANK_CUDA_NATIVE');
  });

  it('names a CPU-only addon as not a CUDA build', (ctx) => {
    if (!existsSync(cpuAddon)) return ctx.skip('build/Release/fusionrank.node is not built');
    const { info } = resolveCuda(fakeEnv({ explicit: cpuAddon }));
    expect(info.reason).toContain('is not a CUDA build');
  });

  it('says the package is not installed, with the install command', () => {
    const { info } = resolveCuda(fakeEnv({}));
    expect(info).toMatchObject({ available: false, devices: 0, driver: null, reason: `${CUDA_PACKAGE} is not installed` });
    expect(info.fix).toBe(`npm install ${CUDA_PACKAGE}@1.2.3`);
  });

  it('refuses a package of another version, without loading it', () => {
    const loads: string[] = [];
    const { binding: b, info } = resolveCuda(
      fakeEnv({
        resolvePackage: (name) => (name === CUDA_PACKAGE ? '/pkgs/cuda/package.json' : undefined),
        readVersion: () => '1.2.2',
        exists: (path) => path === '/pkgs/cuda/fusionrank.node',
        load: (path) => loads.push(path),
      }),
    );
    expect(b).toBeUndefined();
    expect(loads).toEqual([]);
    expect(info.reason).toBe(`${CUDA_PACKAGE}@1.2.2 is installed, but fusionrank is 1.2.3: the addon must come from the same release`);
    expect(info.fix).toBe(`npm install ${CUDA_PACKAGE}@1.2.3`);
  });

  it('loads the package at the same version, and reports its load error', () => {
    const { info } = resolveCuda(
      fakeEnv({
        resolvePackage: () => '/pkgs/cuda/package.json',
        readVersion: () => '1.2.3',
        exists: (path) => path === '/pkgs/cuda/fusionrank.node',
        load: () => {
          throw new Error('libcuda-less: undefined symbol: foo\nsecond line');
        },
      }),
    );
    expect(info.reason).toBe(`${CUDA_PACKAGE} /pkgs/cuda/fusionrank.node could not be loaded: libcuda-less: undefined symbol: foo`);
  });

  it('names the platform when it is not linux-x64 (glibc)', () => {
    for (const host of [{ platform: 'darwin', arch: 'arm64' }, { platform: 'linux', arch: 'x64', libc: 'musl' }] as const) {
      const { info } = resolveCuda(fakeEnv({ host, resolvePackage: () => '/pkgs/cuda/package.json', readVersion: () => '1.2.3' }));
      expect(info.reason).toMatch(/built for linux-x64 \(glibc\) only, and this is (darwin-arm64|linux-x64 \(musl\))/);
    }
  });

  it('maps every probe status to a reason and a fix', () => {
    const base = { driverVersion: 12040, runtimeVersion: 13000, deviceCount: 0, minComputeCapability: 75, error: 'cudaErrorX: y', devices: [] };
    expect(describeProbe({ ...base, status: 'no-driver', driverVersion: 0 }, 'p', '1').reason).toMatch(/^no NVIDIA driver was found/);
    const old = describeProbe({ ...base, status: 'driver-too-old' }, 'p', '1');
    expect(old.reason).toMatch(/supports CUDA 12\.4, but the CUDA package needs CUDA 13\.0/);
    expect(old.fix).toContain('580 or newer');
    expect(describeProbe({ ...base, status: 'no-device' }, 'p', '1').reason).toMatch(/reports no CUDA device/);
    const volta = { index: 0, name: 'Tesla V100', computeCapability: 70, memoryBytes: 16e9, supported: false };
    expect(describeProbe({ ...base, status: 'no-supported-device', deviceCount: 1, devices: [volta] }, 'p', '1').reason).toBe(
      'no CUDA device of compute capability 7.5 or newer (found Tesla V100 7.0)',
    );
    const h100 = { index: 0, name: 'NVIDIA H100', computeCapability: 90, memoryBytes: 80e9, supported: true };
    expect(describeProbe({ ...base, status: 'ok', error: '', deviceCount: 2, devices: [h100, volta] }, 'p', '1')).toMatchObject({
      available: true,
      devices: 1,
      driver: '12.4',
      runtime: '13.0',
      reason: null,
      gpus: [{ name: 'NVIDIA H100', computeCapability: '9.0', supported: true }, { computeCapability: '7.0', supported: false }],
    });
  });
});

// Each in a fresh process: the loader and the warning are once per process.
const resolveScript = `
const { resolveDevice } = await import(${JSON.stringify(dist('cuda.js'))});
const warnings = [];
process.on('warning', (w) => warnings.push({ code: w.code, name: w.name, message: w.message }));
const auto = [resolveDevice('auto').device, resolveDevice('auto').device, resolveDevice('auto').device];
const cpu = resolveDevice('cpu').device;
let cuda;
try { cuda = resolveDevice('cuda').device; } catch (e) { cuda = { code: e.code, name: e.name, message: e.message }; }
let bad;
try { resolveDevice('gpu'); } catch (e) { bad = { code: e.code, name: e.name, message: e.message }; }
await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
console.log(JSON.stringify({ auto, cpu, cuda, bad, warnings, dlopened: globalThis.__dlopened }));
`;

describe('resolveDevice', () => {
  it("'auto' falls back to the CPU with exactly one warning; 'cuda' throws naming the reason and the fix", async () => {
    const missing = join(tmpdir(), 'fr-no-cuda', 'fusionrank.node');
    const r = await runScript(resolveScript, { FUSIONRANK_CUDA_NATIVE: missing });
    expect(r.auto).toEqual(['cpu', 'cpu', 'cpu']);
    expect(r.cpu).toBe('cpu');
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatchObject({ code: 'FUSIONRANK_CUDA_FALLBACK', name: 'FusionrankWarning' });
    expect(r.warnings[0].message).toContain(missing);
    expect(r.cuda.code).toBe('ERR_FUSIONRANK_CUDA_UNAVAILABLE');
    expect(r.cuda.message).toContain(`FUSIONRANK_CUDA_NATIVE is set to ${missing}`);
    expect(r.cuda.message).toContain("Or use device 'auto'");
    expect(r.bad).toMatchObject({ name: 'RangeError', code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    expect(r.bad.message).toBe("Expected one of 'cpu', 'auto', 'cuda' for device but received 'gpu' of type string");
  });

  it('without a GPU names the missing driver or device; with one, runs on it', async (ctx) => {
    if (!built) return ctx.skip(skipReason);
    const r = await runScript(resolveScript, { FUSIONRANK_CUDA_NATIVE: built });
    expect(r.dlopened).toContain(built);
    if (binding!.cudaProbe().status === 'ok') {
      expect(r.auto).toEqual(['cuda', 'cuda', 'cuda']);
      expect(r.cuda).toBe('cuda');
      expect(r.warnings).toEqual([]);
      return;
    }
    expect(r.auto).toEqual(['cpu', 'cpu', 'cpu']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0].message).toMatch(/NVIDIA driver|CUDA device/);
    expect(r.cuda.code).toBe('ERR_FUSIONRANK_CUDA_UNAVAILABLE');
    expect(r.cuda.message).toMatch(/NVIDIA driver|CUDA device/);
    expect(r.cuda.message).toMatch(/nvidia-smi|--gpus all/);
  });

  it("'cpu' never loads the CUDA addon", async (ctx) => {
    const r = await runScript(`const { resolveDevice } = await import(${JSON.stringify(dist('cuda.js'))}); resolveDevice('cpu'); console.log(JSON.stringify(globalThis.__dlopened));`, {
      FUSIONRANK_CUDA_NATIVE: built ?? '/nonexistent/fusionrank.node',
    });
    expect(r).toEqual([]);
  });
});

describe('importing fusionrank', () => {
  it('never loads the CUDA addon; cudaCapabilities() does', async (ctx) => {
    if (!existsSync(cpuAddon)) return ctx.skip('build/Release/fusionrank.node is not built');
    const r = await runScript(
      `
      const { capabilities, VectorStore, cudaCapabilities } = await import(${JSON.stringify(dist('index.js'))});
      const caps = capabilities();
      const store = new VectorStore({ dim: 4 });
      store.add(new Float32Array([1, 0, 0, 0, 0, 1, 0, 0]));
      const top = store.topK(new Float32Array([1, 0, 0, 0]), 1);
      await store.topKAsync(new Float32Array([0, 1, 0, 0]), 1);
      const before = [...globalThis.__dlopened];
      const cuda = cudaCapabilities();
      console.log(JSON.stringify({ before, after: globalThis.__dlopened, caps, row: top.rows[0], cuda }));
      `,
      { FUSIONRANK_CUDA_NATIVE: built ?? '/nonexistent/fusionrank.node' },
    );
    expect(r.row).toBe(0);
    expect(r.caps.cuda.probed).toBe(false); // from files only: the CUDA addon stays unloaded (below)
    expect(r.before).toHaveLength(1);
    expect(r.before[0]).not.toBe(built);
    expect(r.before[0]).not.toMatch(/cuda/);
    expect(Object.keys(r.cuda).sort()).toEqual(['available', 'devices', 'driver', 'fix', 'gpus', 'path', 'reason', 'runtime']);
    // The positive control: the hook sees the CUDA addon when it is asked for.
    if (built) expect(r.after).toEqual([...r.before, built]);
    else expect(r.cuda.reason).toContain('/nonexistent/fusionrank.node');
  });
});

describe('the CUDA package', () => {
  it('is an optional peer: never a dependency or an optional dependency, nor a platform package', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    expect(manifest.dependencies?.[CUDA_PACKAGE]).toBeUndefined();
    expect(manifest.optionalDependencies?.[CUDA_PACKAGE]).toBeUndefined();
    if (manifest.peerDependencies?.[CUDA_PACKAGE]) expect(manifest.peerDependenciesMeta?.[CUDA_PACKAGE]?.optional).toBe(true);
    // release-pack.mjs lists PLATFORM_PACKAGES in optionalDependencies.
    expect(PLATFORM_PACKAGES.map((p) => p.name)).not.toContain(CUDA_PACKAGE);
  });

  it('has a package.json template release-pack fills in', () => {
    const template = JSON.parse(readFileSync(join(root, 'npm', 'linux-x64-gnu-cuda', 'package.json'), 'utf8'));
    expect(template).toMatchObject({ name: CUDA_PACKAGE, os: ['linux'], cpu: ['x64'], libc: ['glibc'], files: ['fusionrank.node'], main: 'fusionrank.node', preferUnplugged: true });
    expect(template.scripts).toBeUndefined();
    expect(existsSync(join(root, 'npm', 'linux-x64-gnu-cuda', 'README.md'))).toBe(true);
  });
});

describe('capabilities().cuda, from files only', () => {
  const NVIDIA = 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 07:09:02 UTC 2025\nGCC version:  gcc version 12.2.0';
  const summary = (loader: Partial<LoaderEnv>, proc: { version?: string; gpus?: string[] }) =>
    cudaSummary(
      { loader: fakeEnv(loader), readText: (p) => (p === '/proc/driver/nvidia/version' ? proc.version : undefined), list: (p) => (p === '/proc/driver/nvidia/gpus' ? proc.gpus : undefined) },
      undefined,
    );
  const installed = { resolvePackage: () => '/app/node_modules/@fusionrank/linux-x64-gnu-cuda/package.json', readVersion: () => '1.2.3' };

  it('package, driver and GPUs present: available, with the driver version and GPU count, not probed', () => {
    expect(summary(installed, { version: NVIDIA, gpus: ['0000:01:00.0', '0000:02:00.0'] })).toEqual({
      available: true,
      devices: 2,
      driver: '580.65.06',
      reason: expect.stringContaining('not probed'),
      probed: false,
    });
  });

  it('names what is missing: the package, its version, the driver, a GPU, the platform', () => {
    expect(summary({}, { version: NVIDIA, gpus: ['0'] }).reason).toBe(`${CUDA_PACKAGE}@1.2.3 is not installed`);
    expect(summary({ ...installed, readVersion: () => '1.2.0' }, { version: NVIDIA, gpus: ['0'] }).available).toBe(false);
    expect(summary(installed, {})).toMatchObject({ available: false, devices: 0, driver: null, reason: expect.stringContaining('no NVIDIA driver') });
    expect(summary(installed, { version: NVIDIA, gpus: [] })).toMatchObject({ available: false, driver: '580.65.06', reason: 'the NVIDIA driver reports no GPU' });
    expect(summary({ ...installed, host: { platform: 'darwin', arch: 'arm64' } }, { version: NVIDIA, gpus: ['0'] }).reason).toContain('linux-x64 (glibc) only');
  });

  it('after a probe, reports the probe', () => {
    const probed = describeProbe({ status: 'no-driver', driverVersion: 0, runtimeVersion: 13000, deviceCount: 0, minComputeCapability: 75, error: 'cudaErrorInsufficientDriver', devices: [] }, '/x/fusionrank.node', '1.2.3');
    expect(cudaSummary(undefined, probed)).toEqual({ available: false, devices: 0, driver: null, reason: probed.reason, probed: true });
  });

  it('capabilities() carries it and loads no CUDA addon', async () => {
    const script = `
      const loaded = []; const dlopen = process.dlopen; process.dlopen = (m, f, ...r) => { loaded.push(f); return dlopen(m, f, ...r); };
      const { capabilities } = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'bundle', 'index.js')).href)});
      const { cuda } = capabilities();
      console.log(JSON.stringify({ cuda, loaded }));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, FUSIONRANK_CUDA_NATIVE: '' } });
    const { cuda, loaded } = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(cuda.probed).toBe(false);
    expect(typeof cuda.available).toBe('boolean');
    expect(loaded.filter((f: string) => !f.endsWith(join('build', 'Release', 'fusionrank.node')))).toEqual([]);
  });
});
