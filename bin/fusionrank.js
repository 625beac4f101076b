#!/usr/bin/env node
// Entry of `npx fusionrank`: the compiled CLI lives in dist/.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  console.error('fusionrank: the CLI is not built (dist/ is missing). In a source checkout run: npm run build:ts');
  process.exit(1);
}
await import(pathToFileURL(main).href);
