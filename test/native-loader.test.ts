// FUSIONRANK_NATIVE names the one binary to load: a relative path resolves
// against the working directory, and a path that does not load is an error,
// never a silent fallback to the package's own build. Checked in child
// processes, since the addon is loaded once per process.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { nativeCandidates, resolveNative, type LoaderEnv } from '../src/native.js';
import { detectLibc, packageFor, PLATFORM_PACKAGES, type HostPlatform } from '../src/platform.js';

const exec = promisify(execFile);
const entry = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));
const built = nativeCandidates().find((p) => existsSync(p))!;

// Loads the package and reports the ISA, or the error's code and message.
const script = `
try {
  const { capabilities } = await import(${JSON.stringify(entry)});
  console.log(JSON.stringify({ isa: capabilities().isa }));
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message }));
}
`;

async function load(cwd: string, addon: string): Promise<{ isa?: string; code?: string; message?: string }> {
  const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], {
    cwd,
    env: { ...process.env, FUSIONRANK_NATIVE: addon },
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('FUSIONRANK_NATIVE', () => {
  it('loads a path relative to the working directory', async () => {
    const cwd = dirname(dirname(built));
    const result = await load(cwd, relative(cwd, built));
    expect(result.code).toBeUndefined();
    expect(typeof result.isa).toBe('string');
  });

  it('is an error naming the path when it does not exist, not a fallback to another build', async () => {
    const cwd = dirname(built);
    const result = await load(cwd, 'no-such-addon.node');
    expect(result.code).toBe('ERR_FUSIONRANK_NATIVE_NOT_FOUND');
    expect(result.message).toContain(join(cwd, 'no-such-addon.node'));
    expect(result.message).toContain('not found');
  });

  it('is an error with the loader\'s reason when the file is not an addon', async () => {
    const result = await load(dirname(entry), 'index.js');
    expect(result.code).toBe('ERR_FUSIONRANK_NATIVE_NOT_FOUND');
    expect(result.message).toContain('could not be loaded');
  });
});

describe('resolveNative with an injected platform', () => {
  const root = '/pkg/node_modules/fusionrank';
  // A fake file system: the files that exist, and what loading each gives.
  const env = (host: HostPlatform, files: Record<string, 'ok' | string>, installed: Record<string, string> = {}, extra: Partial<LoaderEnv> = {}): LoaderEnv => ({
    host,
    cwd: '/app',
    packageRoot: root,
    version: '1.2.3',
    exists: (path) => path in files,
    load: (path) => {
      if (files[path] === 'ok') return { loadedFrom: path };
      throw new Error(`${files[path]}\nsecond line of the dlopen message`);
    },
    resolvePackage: (name) => (name in installed ? `/pkg/node_modules/${name}/package.json` : undefined),
    readVersion: (path) => installed[path.replace('/pkg/node_modules/', '').replace('/package.json', '')],
    ...extra,
  });
  const linuxX64: HostPlatform = { platform: 'linux', arch: 'x64', libc: 'glibc' };

  it('picks the platform package for each platform, arch and libc', () => {
    const cases: Array<[HostPlatform, string]> = [
      [{ platform: 'linux', arch: 'x64', libc: 'glibc' }, '@fusionrank/linux-x64-gnu'],
      [{ platform: 'linux', arch: 'x64', libc: 'musl' }, '@fusionrank/linux-x64-musl'],
      [{ platform: 'linux', arch: 'arm64', libc: 'glibc' }, '@fusionrank/linux-arm64-gnu'],
      [{ platform: 'linux', arch: 'arm64', libc: 'musl' }, '@fusionrank/linux-arm64-musl'],
      [{ platform: 'darwin', arch: 'x64' }, '@fusionrank/darwin-x64'],
      [{ platform: 'darwin', arch: 'arm64' }, '@fusionrank/darwin-arm64'],
    ];
    for (const [host, name] of cases) {
      const file = `/pkg/node_modules/${name}/fusionrank.node`;
      const result = resolveNative(env(host, { [file]: 'ok' }, { [name]: '1.2.3' }));
      expect(result.path).toBe(file);
      expect(result.binding).toEqual({ loadedFrom: file });
    }
    expect(packageFor({ platform: 'linux', arch: 'x64' })?.name).toBe('@fusionrank/linux-x64-gnu');
    expect(packageFor({ platform: 'win32', arch: 'x64' })).toBeUndefined();
  });

  it('a local build wins over the package; FUSIONRANK_NATIVE wins over both and never falls back', () => {
    const local = `${root}/build/Release/fusionrank.node`;
    const pkg = '/pkg/node_modules/@fusionrank/linux-x64-gnu/fusionrank.node';
    expect(resolveNative(env(linuxX64, { [local]: 'ok', [pkg]: 'ok' }, { '@fusionrank/linux-x64-gnu': '1.2.3' })).path).toBe(local);
    expect(resolveNative(env(linuxX64, { '/app/my.node': 'ok', [local]: 'ok' }, {}, { explicit: 'my.node' })).path).toBe('/app/my.node');
    expect(() => resolveNative(env(linuxX64, { [local]: 'ok' }, {}, { explicit: 'missing.node' }))).toThrow(
      expect.objectContaining({ code: 'ERR_FUSIONRANK_NATIVE_NOT_FOUND', message: expect.stringContaining('/app/missing.node not found') }),
    );
  });

  it('a platform with no package: the platform and the supported list', () => {
    for (const host of [{ platform: 'freebsd', arch: 'x64' }, { platform: 'linux', arch: 'ia32', libc: 'glibc' }] as HostPlatform[]) {
      const error = (() => {
        try {
          resolveNative(env(host, {}));
        } catch (e) {
          return e as Error & { code: string };
        }
        throw new Error('no error');
      })();
      expect(error.code).toBe('ERR_FUSIONRANK_UNSUPPORTED_PLATFORM');
      expect(error.message).toContain(`${host.platform}-${host.arch}`);
      for (const p of PLATFORM_PACKAGES) expect(error.message).toContain(p.target);
      expect(error.message).toContain('npm explore fusionrank -- npm run build:native');
    }
  });

  it('a platform package of another version: ERR_FUSIONRANK_NATIVE_VERSION naming both', () => {
    const pkg = '/pkg/node_modules/@fusionrank/linux-x64-gnu/fusionrank.node';
    expect(() => resolveNative(env(linuxX64, { [pkg]: 'ok' }, { '@fusionrank/linux-x64-gnu': '1.2.0' }))).toThrow(
      expect.objectContaining({ code: 'ERR_FUSIONRANK_NATIVE_VERSION', message: expect.stringMatching(/linux-x64-gnu@1\.2\.0.*fusionrank is 1\.2\.3/) }),
    );
  });

  it('nothing loads: one error listing every attempt and the fixes; a corrupt .node names the file', () => {
    const local = `${root}/build/Release/fusionrank.node`;
    const pkg = '/pkg/node_modules/@fusionrank/linux-x64-gnu/fusionrank.node';
    const error = (() => {
      try {
        resolveNative(env(linuxX64, { [local]: 'invalid ELF header', [pkg]: 'file too short' }, { '@fusionrank/linux-x64-gnu': '1.2.3' }));
      } catch (e) {
        return e as Error & { code: string };
      }
      throw new Error('no error');
    })();
    expect(error.code).toBe('ERR_FUSIONRANK_NATIVE_NOT_FOUND');
    expect(error.message).toContain(`local build: ${local} (could not be loaded: invalid ELF header)`);
    expect(error.message).toContain(`platform package: ${pkg} (could not be loaded: file too short)`);
    expect(error.message).not.toContain('second line');
    for (const fix of ['npm install --include=optional', 'npm install --os=linux --cpu=x64 --libc=glibc', 'package-lock.json', 'npm explore fusionrank -- npm run build:native'])
      expect(error.message).toContain(fix);
    const notInstalled = (() => {
      try {
        resolveNative(env({ platform: 'linux', arch: 'arm64', libc: 'musl' }, {}));
      } catch (e) {
        return e as Error;
      }
      throw new Error('no error');
    })();
    expect(notInstalled.message).toContain('@fusionrank/linux-arm64-musl (not installed)');
    expect(notInstalled.message).toContain('--libc=musl');
  });

  it('detectLibc reads the process report as detect-libc does', () => {
    const noLdd = () => undefined;
    expect(detectLibc(() => ({ header: { glibcVersionRuntime: '2.36' } }), noLdd)).toBe('glibc');
    expect(detectLibc(() => ({ header: {} }), noLdd)).toBe('musl');
    // The fast path: ldd's own text.
    expect(detectLibc(() => ({ header: {} }), () => '#! /bin/sh\n# musl libc ldd')).toBe('musl');
    expect(detectLibc(() => ({ header: {} }), () => 'Copyright (C) 2022 Free Software Foundation, Inc.\nGNU C Library')).toBe('glibc');
    expect(detectLibc()).toBe('glibc'); // this machine
    expect(detectLibc(undefined, noLdd)).toBe('glibc'); // this machine, by the report
  });
});
