#!/usr/bin/env node
/**
 * Checks that installing fusionrank runs no dependency's install script:
 * npm 12, pnpm 10+, Yarn 4.14+ and Bun refuse them (as `npm install
 * --strict-allow-scripts` does on npm 11), so one in the production tree
 * breaks the install. Lists the production tree with `npm ls --omit=dev
 * --all` and reads each installed package.json for a preinstall, install or
 * postinstall script, or a binding.gyp (npm runs `node-gyp rebuild` for one
 * unless the package says "gypfile": false). Also cross-checks the lockfile's
 * hasInstallScript flags of the non-dev packages.
 *
 *   node scripts/check-install-scripts.mjs     (exit 1 when one is found)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..');
const HOOKS = ['preinstall', 'install', 'postinstall'];

let listing;
try {
  listing = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
} catch (error) {
  // npm ls exits non-zero on problems in the tree (missing, invalid) but still lists it.
  listing = error.stdout ?? '';
  if (!listing) throw error;
  console.warn(`npm ls reported problems:\n${error.stderr}`);
}
const paths = [...new Set(listing.split('\n').map((l) => l.trim()).filter(Boolean))].filter((p) => p !== root);

const found = [];
for (const dir of paths) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const hooks = HOOKS.filter((h) => pkg.scripts?.[h]).map((h) => `${h}: ${pkg.scripts[h]}`);
  if (!pkg.scripts?.install && !pkg.scripts?.preinstall && pkg.gypfile !== false && existsSync(join(dir, 'binding.gyp'))) hooks.push('binding.gyp (implicit install: node-gyp rebuild)');
  const name = `${pkg.name}@${pkg.version}`;
  if (hooks.length) found.push(`${name} (${relative(root, dir)}): ${hooks.join('; ')}`);
  else console.log(`ok  ${name}`);
}

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const flagged = Object.entries(lock.packages ?? {})
  .filter(([path, entry]) => path && !entry.dev && !entry.optional && entry.hasInstallScript)
  .map(([path]) => path);

console.log(`\n${paths.length} packages in the production tree; ${found.length} with install scripts.`);
for (const line of found) console.log(`SCRIPT  ${line}`);
console.log(`package-lock.json: ${flagged.length} non-dev packages flagged hasInstallScript${flagged.length ? `: ${flagged.join(', ')}` : ''}.`);
process.exit(found.length || flagged.length ? 1 : 0);
