// The published shape of fusionrank, checked the way a user meets it: the
// main tarball and this platform's package (from `npm run release:pack`)
// install into an empty app with every dependency install script refused,
// and the README's quickstart ranks there. Needs the npm registry (for
// fusionrank's own dependencies), as CI has.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const onThisPlatform = process.platform === 'linux' && process.arch === 'x64';

/** Bytes of every file under a folder (what `du -b` counts, without directories). */
function diskBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += diskBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** Installed packages (name → package.json) under node_modules, scoped ones included. */
function installed(modules: string): Map<string, Record<string, any>> {
  const out = new Map<string, Record<string, any>>();
  const visit = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.name.startsWith('@')) {
        visit(path);
        continue;
      }
      const manifest = join(path, 'package.json');
      if (existsSync(manifest)) {
        const json = JSON.parse(readFileSync(manifest, 'utf8'));
        out.set(json.name, json);
      }
      visit(join(path, 'node_modules'));
    }
  };
  visit(modules);
  return out;
}

describe.skipIf(!onThisPlatform)('npm install fusionrank with install scripts refused', () => {
  it('installs from the release tarballs with --strict-allow-scripts, carries no build tools, and the quickstart ranks', async () => {
    const work = mkdtempSync(join(tmpdir(), 'fr-install-'));
    const packs = join(work, 'packs');
    // Its own build folder: test/platform-binaries.test.ts may build build-linux-x64-gnu at the same time.
    await exec(process.execPath, [join(root, 'scripts', 'release-pack.mjs'), packs, '--targets', 'linux-x64-gnu'], {
      cwd: root,
      maxBuffer: 1 << 24,
      env: { ...process.env, FR_BUILD_DIR: join(work, 'build') },
    });
    const report = JSON.parse(readFileSync(join(packs, 'release-pack.json'), 'utf8')) as Array<{ package: string; tarball: string; bytes: number }>;
    const main = report.find((r) => r.package === 'fusionrank')!;
    const platform = report.find((r) => r.package === '@fusionrank/linux-x64-gnu')!;

    // The main tarball: TypeScript and sources, no install script, no binding.gyp, every platform package optional at its version.
    expect(main.bytes).toBeLessThanOrEqual(1024 * 1024);
    const { stdout: listing } = await exec('tar', ['tzf', main.tarball]);
    expect(listing).not.toMatch(/\.node$/m);
    expect(listing).not.toContain('binding.gyp');
    const { stdout: packed } = await exec('tar', ['xzf', main.tarball, '-O', 'package/package.json']);
    const manifest = JSON.parse(packed);
    for (const hook of ['install', 'preinstall', 'postinstall']) expect(manifest.scripts?.[hook]).toBeUndefined();
    expect(manifest.optionalDependencies['@fusionrank/linux-x64-gnu']).toBe(manifest.version);
    expect(Object.keys(manifest.optionalDependencies).sort()).toEqual(
      ['darwin-arm64', 'darwin-x64', 'linux-arm64-gnu', 'linux-arm64-musl', 'linux-x64-gnu', 'linux-x64-musl'].map((t) => `@fusionrank/${t}`),
    );
    for (const tool of ['cmake-js', 'node-addon-api', 'node-api-headers', 'usearch']) expect(manifest.dependencies[tool]).toBeUndefined();
    // The platform package: one fusionrank.node with os / cpu / libc.
    const { stdout: platformJson } = await exec('tar', ['xzf', platform.tarball, '-O', 'package/package.json']);
    const pkg = JSON.parse(platformJson);
    expect(pkg).toMatchObject({ name: '@fusionrank/linux-x64-gnu', version: manifest.version, os: ['linux'], cpu: ['x64'], libc: ['glibc'], files: ['fusionrank.node'], preferUnplugged: true });

    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module', private: true }));
    await exec('npm', ['install', '--strict-allow-scripts', '--no-audit', '--no-fund', main.tarball, platform.tarball], { cwd: app, maxBuffer: 1 << 24 });

    const modules = join(app, 'node_modules');
    const packages = installed(modules);
    for (const tool of ['cmake-js', 'node-addon-api', 'node-api-headers', 'usearch']) expect(packages.has(tool), tool).toBe(false);
    for (const [name, json] of packages) for (const hook of ['install', 'preinstall', 'postinstall']) expect(json.scripts?.[hook], `${name} ${hook}`).toBeUndefined();
    const bytes = diskBytes(modules);
    console.log(`installed app: ${(bytes / 1e6).toFixed(2)} MB in ${packages.size} packages; main tarball ${(main.bytes / 1024).toFixed(0)} KiB, linux-x64-gnu ${(platform.bytes / 1024).toFixed(0)} KiB`);
    expect(bytes).toBeLessThanOrEqual(10 * 1024 * 1024);

    // The README's quickstart, as written, with the user's embeddings defined up front.
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const quickstart = /## Quickstart\n[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)![1];
    const vector = (dim: number, seed: number) => `Float32Array.from({ length: ${dim} }, (_, i) => Math.sin(${seed} * 7.1 + i))`;
    const imports = quickstart.split('\n').filter((l) => l.startsWith('import '));
    const rest = quickstart.split('\n').filter((l) => !l.startsWith('import '));
    writeFileSync(
      join(app, 'main.js'),
      [...imports, `const v1 = ${vector(512, 1)}, t1 = ${vector(768, 2)}, q = ${vector(512, 3)};`, ...rest, "import { nativePath } from 'fusionrank';", 'console.log(JSON.stringify({ top: items[0].id, native: nativePath() }));'].join('\n'),
    );
    const { stdout } = await exec(process.execPath, ['main.js'], { cwd: app });
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(result.top).toBe('p1');
    expect(result.native).toBe(join(modules, '@fusionrank', 'linux-x64-gnu', 'fusionrank.node'));
    // fusionrank/eval loads no addon; fusionrank/learn shares the main entry's classes.
    writeFileSync(
      join(app, 'subpaths.js'),
      [
        'globalThis.loaded = []; const dlopen = process.dlopen; process.dlopen = (m, f, ...r) => { globalThis.loaded.push(f); return dlopen(m, f, ...r); };',
        "const { evaluate } = await import('fusionrank/eval');",
        "const ndcg = evaluate({ q: { a: 1 } }, { q: { a: 0.5, b: 0.9 } }, ['ndcg']).mean.ndcg;",
        'const afterEval = globalThis.loaded.length;',
        "const { Catalog } = await import('fusionrank');",
        "const { fitAls, writeItemFactors } = await import('fusionrank/learn');",
        "const catalog = new Catalog({ vectors: { cf: { dim: 2 } }, fields: {} }); catalog.upsert([{ id: 'i' }]);",
        "const written = writeItemFactors(catalog, await fitAls([{ user: 'u', item: 'i' }], { factors: 2, iterations: 1 }), 'cf').written;",
        'console.log(JSON.stringify({ ndcg, afterEval, written }));',
      ].join('\n'),
    );
    const { stdout: sub } = await exec(process.execPath, ['subpaths.js'], { cwd: app });
    expect(JSON.parse(sub.trim().split('\n').pop()!)).toEqual({ ndcg: 1 / Math.log2(3), afterEval: 0, written: 1 });
    const { stdout: cli } = await exec(join(modules, '.bin', 'fusionrank'), ['--version'], { cwd: app });
    expect(cli.trim()).toBe(manifest.version);

    // Building from source is one documented command, never automatic: it fetches the build
    // tools into fusionrank's own folder (not the app's package.json) and the loader then prefers the build.
    const before = readFileSync(join(app, 'package.json'), 'utf8');
    await exec('npm', ['explore', 'fusionrank', '--', 'npm', 'run', 'build:native'], { cwd: app, maxBuffer: 1 << 26, env: { ...process.env, npm_config_strict_allow_scripts: 'false' } });
    expect(readFileSync(join(app, 'package.json'), 'utf8')).toBe(before);
    const { stdout: rebuilt } = await exec(process.execPath, ['main.js'], { cwd: app });
    const afterBuild = JSON.parse(rebuilt.trim().split('\n').pop()!);
    expect(afterBuild.top).toBe('p1');
    expect(afterBuild.native).toBe(join(modules, 'fusionrank', 'build', 'Release', 'fusionrank.node'));
  }, 600_000);
});
