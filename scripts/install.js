// Install step: use a prebuilt addon for this platform when one loads,
// otherwise build from source with cmake-js, falling back to node-gyp.
// FUSIONRANK_BUILD_FROM_SOURCE=1 skips the prebuild check.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const prebuilt = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'fusionrank.node');

function loads(path) {
  try {
    require(path);
    return true;
  } catch (error) {
    console.warn(`fusionrank: prebuilt addon ${path} does not load here (${error.message.split('\n')[0]}); building from source`);
    return false;
  }
}

function run(command, args) {
  console.log(`fusionrank: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  return result.status === 0;
}

if (!process.env.FUSIONRANK_BUILD_FROM_SOURCE && existsSync(prebuilt) && loads(prebuilt)) {
  console.log(`fusionrank: using prebuilt ${prebuilt}`);
  process.exit(0);
}

const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js');
const cmakeJsBin = existsSync(cmakeJs) ? cmakeJs : require.resolve('cmake-js/bin/cmake-js');
if (run(process.execPath, [cmakeJsBin, 'compile', '--CDCMAKE_BUILD_TYPE=Release'])) process.exit(0);

console.warn('fusionrank: cmake-js build failed; trying the node-gyp fallback (binding.gyp)');
const gyp = process.env.npm_config_node_gyp;
if (gyp ? run(process.execPath, [gyp, 'rebuild']) : run('npx', ['--yes', 'node-gyp', 'rebuild'])) process.exit(0);

console.error(
  [
    'fusionrank: could not build the native addon.',
    '  It needs CMake >= 3.15 and a C++17 compiler (Debian/Ubuntu: apt-get install cmake g++;',
    '  macOS: xcode-select --install && brew install cmake), or python3 + make for node-gyp.',
    '  Then run: npm rebuild fusionrank',
  ].join('\n'),
);
process.exit(1);
