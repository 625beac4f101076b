/**
 * Where a worker thread's script lives. Compiled code (`dist/`) starts the
 * sibling `.js` file. Running from the TypeScript sources (vitest, tsx), Node
 * cannot start a `.ts` worker, so the compiled copy under `dist/` is used:
 * build it with `npm run build:ts` (the test suite's globalSetup does).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FusionrankError } from '../errors.js';

function findPackageRoot(start: string): string | undefined {
  let dir = start;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).name === 'fusionrank') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The absolute path of the compiled worker `relativeJs` next to the module at `moduleUrl`.
 * @throws {FusionrankError} ERR_FUSIONRANK_WORKER_NOT_BUILT when only the TypeScript source exists
 */
export function workerScript(moduleUrl: string, relativeJs: string): string {
  const here = dirname(fileURLToPath(moduleUrl));
  if (fileURLToPath(moduleUrl).endsWith('.js')) return join(here, relativeJs);
  const root = findPackageRoot(here);
  const compiled = root ? join(root, 'dist', relative(root, here), relativeJs) : undefined;
  if (compiled && existsSync(compiled)) return compiled;
  throw new FusionrankError(
    `The worker script ${relativeJs} has not been compiled (looked for ${compiled ?? relativeJs}); run \`npm run build:ts\` first`,
    'ERR_FUSIONRANK_WORKER_NOT_BUILT',
  );
}
