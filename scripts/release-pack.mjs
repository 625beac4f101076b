// `npm run release:pack -- <dir> [--targets a,b] [--cuda] [--main-only | --platform-only]`:
// writes into <dir> the main package's tarball and the tarball of every
// platform package this machine can build: its own platform (linux glibc
// through scripts/build-addon.sh with the runtime linked statically; macOS and
// musl through cmake-js), and linux-arm64-gnu from linux-x64 with Debian's
// g++-aarch64-linux-gnu. The release workflow runs it on each platform's own
// runner with --platform-only, then once with --main-only. The main tarball
// lists every platform package in `optionalDependencies` at its own exact
// version and has no install script; each platform package holds one
// fusionrank.node. Prints one line per tarball with its size and writes
// <dir>/release-pack.json.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const out = args.find((a) => !a.startsWith('--') && args[args.indexOf(a) - 1] !== '--targets');
if (!out) {
  console.error('usage: npm run release:pack -- <dir> [--targets linux-x64-gnu,linux-arm64-gnu] [--cuda] [--main-only | --platform-only]');
  process.exit(2);
}
const dir = resolve(out);
mkdirSync(dir, { recursive: true });

function run(command, argv, cwd = root) {
  const result = spawnSync(command, argv, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.status !== 0) {
    console.error(`release:pack: ${command} ${argv.join(' ')} failed`);
    process.exit(result.status ?? 1);
  }
  return result.stdout;
}

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
run('npx', ['tsc', '-p', 'tsconfig.json']);
run(process.execPath, [join(root, 'scripts', 'bundle.mjs')]);
const { PLATFORM_PACKAGES, hostPlatform, packageFor } = await import(join(root, 'dist', 'src', 'platform.js'));

// What this machine builds: its own platform, and linux-arm64-gnu from linux-x64 when the cross compiler exists.
const which = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const own = packageFor(hostPlatform())?.target;
const buildable = [
  ...(own ? [own] : []),
  ...(own === 'linux-x64-gnu' && which('aarch64-linux-gnu-g++') ? ['linux-arm64-gnu'] : []),
];
const targetsArg = args.includes('--main-only') ? [] : args.includes('--targets') ? args[args.indexOf('--targets') + 1].split(',') : buildable;
for (const t of targetsArg)
  if (!buildable.includes(t)) {
    console.error(`release:pack: this machine cannot build ${t} (it builds: ${buildable.join(', ') || 'none'})`);
    process.exit(2);
  }

/** npm pack of a staged folder; returns the tarball's path in `dir`. */
function pack(staged) {
  const json = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], staged);
  const [info] = JSON.parse(json);
  return join(dir, info.filename);
}

const report = [];
const sizeOf = (path) => statSync(path).size;

// ---- platform packages
for (const target of targetsArg) {
  const platform = PLATFORM_PACKAGES.find((p) => p.target === target);
  const staged = mkdtempSync(join(tmpdir(), `fr-${target}-`));
  if (target.endsWith('-gnu')) {
    run('bash', [join(root, 'scripts', 'build-addon.sh'), target, staged]);
  } else {
    // macOS (11.0+) and musl: cmake-js on the platform's own runner.
    const env = { ...process.env, MACOSX_DEPLOYMENT_TARGET: '11.0' };
    const result = spawnSync(process.execPath, [join(root, 'scripts', 'build-native.mjs')], { cwd: root, stdio: 'inherit', env });
    if (result.status !== 0) process.exit(result.status ?? 1);
    copyFileSync(join(root, 'build', 'Release', 'fusionrank.node'), join(staged, 'fusionrank.node'));
  }
  writeFileSync(
    join(staged, 'package.json'),
    JSON.stringify(
      {
        name: platform.name,
        version: manifest.version,
        description: `The fusionrank native addon for ${platform.description}. Installed by fusionrank; not used on its own.`,
        license: manifest.license,
        ...(manifest.repository ? { repository: manifest.repository } : {}),
        os: [platform.os],
        cpu: [platform.cpu],
        ...(platform.libc ? { libc: [platform.libc] } : {}),
        main: 'fusionrank.node',
        files: ['fusionrank.node'],
        preferUnplugged: true,
        engines: manifest.engines,
      },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(join(staged, 'README.md'), `# ${platform.name}\n\nThe prebuilt native addon of [fusionrank](https://www.npmjs.com/package/fusionrank) for ${platform.description}.\nInstall \`fusionrank\`, which depends on this package optionally at the same version.\n`);
  const tarball = pack(staged);
  rmSync(staged, { recursive: true, force: true });
  report.push({ package: platform.name, tarball, bytes: sizeOf(tarball) });
}

// ---- the CUDA package (an optional peer, never in optionalDependencies)
if (args.includes('--cuda')) {
  const staged = mkdtempSync(join(tmpdir(), 'fr-cuda-'));
  run('bash', [join(root, 'scripts', 'build-cuda.sh'), staged]);
  const template = JSON.parse(readFileSync(join(root, 'npm', 'linux-x64-gnu-cuda', 'package.json'), 'utf8'));
  writeFileSync(join(staged, 'package.json'), JSON.stringify({ ...template, version: manifest.version }, null, 2) + '\n');
  if (existsSync(join(root, 'npm', 'linux-x64-gnu-cuda', 'README.md'))) copyFileSync(join(root, 'npm', 'linux-x64-gnu-cuda', 'README.md'), join(staged, 'README.md'));
  const tarball = pack(staged);
  rmSync(staged, { recursive: true, force: true });
  report.push({ package: template.name, tarball, bytes: sizeOf(tarball) });
}

// ---- the main package: its `files`, with optionalDependencies at this exact version
if (!args.includes('--platform-only')) {
  const listing = JSON.parse(run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts']));
  const staged = mkdtempSync(join(tmpdir(), 'fr-main-'));
  for (const { path } of listing[0].files) {
    mkdirSync(dirname(join(staged, path)), { recursive: true });
    copyFileSync(join(root, path), join(staged, path));
  }
  const main = { ...manifest, optionalDependencies: Object.fromEntries(PLATFORM_PACKAGES.map((p) => [p.name, manifest.version])) };
  delete main.devDependencies;
  // Development-only lifecycle scripts do not ship: `prepare` builds from source in a checkout.
  main.scripts = Object.fromEntries(Object.entries(manifest.scripts).filter(([name]) => ['build:native', 'bench'].includes(name)));
  writeFileSync(join(staged, 'package.json'), JSON.stringify(main, null, 2) + '\n');
  const tarball = pack(staged);
  rmSync(staged, { recursive: true, force: true });
  report.push({ package: manifest.name, tarball, bytes: sizeOf(tarball) });
}

for (const r of report) console.log(`${r.package}\t${r.tarball}\t${(r.bytes / 1024).toFixed(0)} KiB`);
writeFileSync(join(dir, 'release-pack.json'), JSON.stringify(report, null, 2) + '\n');
