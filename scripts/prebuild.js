// `npm run prebuild`: builds the addon in Release mode and places it at
// prebuilds/<platform>-<arch>/fusionrank.node, where the loader and the
// install step look for it. One binary serves every CPU of the platform
// (kernels are chosen at run time), so there is one file per platform.
// Runs at pack time (prepack); the result is not committed.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const target = `${process.platform}-${process.arch}`;

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error(`prebuild: ${command} ${args.join(' ')} failed`);
    process.exit(result.status ?? 1);
  }
}

run(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--CDCMAKE_BUILD_TYPE=Release']);
const built = join(root, 'build', 'Release', 'fusionrank.node');
if (!existsSync(built)) {
  console.error(`prebuild: ${built} was not produced`);
  process.exit(1);
}
const dir = join(root, 'prebuilds', target);
mkdirSync(dir, { recursive: true });
const out = join(dir, 'fusionrank.node');
copyFileSync(built, out);
if (process.platform === 'linux') spawnSync('strip', ['--strip-unneeded', out], { stdio: 'inherit' });
if (process.platform === 'darwin') spawnSync('strip', ['-x', out], { stdio: 'inherit' });

// A prebuild that does not load is worse than none: check it here.
const addon = require(out);
const caps = addon.capabilities();
console.log(`prebuild: ${out} (${(statSync(out).size / 1024).toFixed(0)} KiB), kernels: ${caps.available.join(', ')}`);
