// `npm run build:native`: builds build/Release/fusionrank.node from source
// with cmake-js (CMake ≥ 3.15 and a C++17 compiler). Building is never
// automatic for users: the platform packages hold prebuilt addons. In a
// development checkout the build tools are devDependencies; in an installed
// fusionrank (`npm explore fusionrank -- npm run build:native`) they are not
// installed, so they are fetched first into this package, without saving.
//
//   node scripts/build-native.mjs              # build (Release)
//   node scripts/build-native.mjs --if-missing # only when no build exists (npm's `prepare`)
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'build', 'Release', 'fusionrank.node');
if (process.argv.includes('--if-missing') && existsSync(built)) process.exit(0);

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const tools = ['cmake-js', 'node-addon-api', 'node-api-headers', 'usearch'];
// Installed in this package's own node_modules: CMakeLists.txt reads usearch's
// headers and node-addon-api from there (a package's exports map may hide
// package.json from require.resolve, so the folder is what counts).
const missing = tools.filter((name) => !existsSync(join(root, 'node_modules', name, 'package.json')));

function run(command, args) {
  console.log(`fusionrank: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0) {
    console.error(
      [
        `fusionrank: \`${command} ${args.join(' ')}\` failed.`,
        'Building the addon needs CMake >= 3.15 and a C++17 compiler',
        '(Debian/Ubuntu: apt-get install cmake g++; Alpine: apk add cmake g++ make; macOS: xcode-select --install && brew install cmake).',
      ].join('\n'),
    );
    process.exit(result.status ?? 1);
  }
}

if (missing.length) {
  const specs = missing.map((name) => `${name}@${manifest.devDependencies?.[name] ?? 'latest'}`);
  // --ignore-scripts: usearch's own install step (its prebuilds) is not needed, only its headers.
  run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['install', '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', ...specs]);
}
const cmakeJs = createRequire(join(root, 'package.json')).resolve('cmake-js/bin/cmake-js');
run(process.execPath, [cmakeJs, 'compile', '--CDCMAKE_BUILD_TYPE=Release']);
if (!existsSync(built)) {
  console.error(`fusionrank: the build finished but ${built} is missing`);
  process.exit(1);
}
console.log(`fusionrank: built ${built}`);
