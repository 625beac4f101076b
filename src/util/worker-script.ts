/**
 * Where a worker thread's script lives. Compiled code (`dist/`) starts the
 * sibling `.js` file. Running from the TypeScript sources (vitest, tsx), Node
 * cannot start a `.ts` worker, so the compiled copy under `dist/` is used:
 * build it with `npm run build:ts` (the test suite's globalSetup does).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { FusionrankError } from '../errors.js';
import { findPackageRoot } from './package-root.js';


/**
 * The absolute path of the compiled worker `relativeJs` of the module at
 * `moduleUrl`, whose source folder is `sourceDir` (relative to the package
 * root, e.g. `src/ingest`): the sibling `.js` file when the module runs
 * compiled in place, otherwise (TypeScript sources, or the bundled entry in
 * `dist/bundle/`) the compiled copy under `dist/<sourceDir>/`.
 * @throws {FusionrankError} ERR_FUSIONRANK_WORKER_NOT_BUILT when only the TypeScript source exists
 */
export function workerScript(moduleUrl: string, relativeJs: string, sourceDir: string): string {
  const here = dirname(fileURLToPath(moduleUrl));
  const sibling = join(here, relativeJs);
  if (fileURLToPath(moduleUrl).endsWith('.js') && existsSync(sibling)) return sibling;
  const root = findPackageRoot(here);
  const compiled = root ? join(root, 'dist', sourceDir, relativeJs) : undefined;
  if (compiled && existsSync(compiled)) return compiled;
  throw new FusionrankError(
    `The worker script ${relativeJs} has not been compiled (looked for ${compiled ?? relativeJs}); run \`npm run build:ts\` first`,
    'ERR_FUSIONRANK_WORKER_NOT_BUILT',
  );
}
