/**
 * Where a worker thread's script lives. Compiled code (`dist/`) starts the
 * sibling `.js` file. Running from the TypeScript sources (vitest, tsx), Node
 * cannot start a `.ts` worker, so the compiled copy under `dist/` is used:
 * build it with `npm run build:ts` (the test suite's globalSetup does).
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FusionrankError } from '../errors.js';
import { findPackageRoot } from './package-root.js';


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
