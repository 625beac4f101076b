// Bundles the compiled entry points (dist/src/index.js, eval/index.js,
// learn/index.js) into dist/bundle/, one build with shared chunks, so a class
// is the same class whichever entry a user imports it from. One module graph
// of a few files instead of ~70 halves the cost of `import 'fusionrank'`
// (`npx fusionrank bench startup`). Dependencies, peers and Node built-ins
// stay external; worker scripts stay in dist/src (src/util/worker-script.ts).
//
//   node scripts/bundle.mjs     (after tsc -p tsconfig.json)
import { readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'rolldown';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const packages = new Set([
  ...Object.keys(manifest.dependencies ?? {}),
  ...Object.keys(manifest.peerDependencies ?? {}),
  ...Object.keys(manifest.optionalDependencies ?? {}),
  ...Object.keys(manifest.devDependencies ?? {}),
]);
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const external = (id) => builtins.has(id) || id.startsWith('node:') || [...packages].some((p) => id === p || id.startsWith(`${p}/`));

const out = join(root, 'dist', 'bundle');
rmSync(out, { recursive: true, force: true });
await build({
  input: {
    index: join(root, 'dist', 'src', 'index.js'),
    eval: join(root, 'dist', 'src', 'eval', 'index.js'),
    learn: join(root, 'dist', 'src', 'learn', 'index.js'),
  },
  platform: 'node',
  external,
  logLevel: 'warn',
  output: { dir: out, format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js', sourcemap: false },
});
