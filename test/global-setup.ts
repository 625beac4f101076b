/**
 * Worker threads cannot start TypeScript files, so the pools and ONNX
 * sessions start their compiled workers from dist/ (src/util/worker-script.ts).
 * Before the tests run, compile (and bundle the entry points, which the
 * README and install tests import) when any source is newer than dist/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');

function newest(dir: string, ext: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) latest = Math.max(latest, newest(path, ext));
    else if (entry.name.endsWith(ext) && !entry.name.endsWith('.d.ts')) latest = Math.max(latest, statSync(path).mtimeMs);
  }
  return latest;
}

export default function setup(): void {
  // Pure-TypeScript test files (eval) can skip the build: FUSIONRANK_TEST_NO_BUILD=1.
  if (process.env.FUSIONRANK_TEST_NO_BUILD) return;
  const sources = Math.max(newest(join(root, 'src'), '.ts'), newest(join(root, 'bench'), '.ts'));
  const dist = join(root, 'dist');
  const compiled = existsSync(dist) ? newest(dist, '.js') : 0;
  if (compiled >= sources) return;
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
  // tsc still emits JavaScript on type errors; those are `npm run typecheck`'s to report, so the tests go on.
  if (tsc.status !== 0) console.warn(`global-setup: tsc exited with ${tsc.status}; worker tests run against what it emitted`);
  // The published entry points are bundled from dist/src (scripts/bundle.mjs).
  const bundle = spawnSync(process.execPath, [join(root, 'scripts', 'bundle.mjs')], { stdio: 'inherit' });
  if (bundle.status !== 0) throw new Error(`global-setup: scripts/bundle.mjs exited with ${bundle.status}`);
}
