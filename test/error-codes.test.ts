// Every code the library throws is listed in the public ErrorCode type, so
// users can branch on `err.code` with the compiler's help.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));

function files(dir: string, exts: string[]): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && exts.some((x) => e.name.endsWith(x)))
    .map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
}

describe('ErrorCode', () => {
  it('lists every code thrown by the TypeScript and native sources', () => {
    const thrown = new Set<string>();
    for (const file of [...files('src', ['.ts']), ...files('native', ['.cc', '.h'])])
      for (const m of readFileSync(file, 'utf8').matchAll(/ERR_FUSIONRANK_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])/g)) thrown.add(m[0]);
    const errors = readFileSync(join(root, 'src', 'errors.ts'), 'utf8');
    const union = errors.slice(errors.indexOf('export type ErrorCode'), errors.indexOf('(string & {})'));
    const listed = new Set([...union.matchAll(/'(ERR_FUSIONRANK_[A-Z0-9_]+)'/g)].map((m) => m[1]));
    expect(thrown.size).toBeGreaterThan(40);
    expect([...thrown].filter((c) => !listed.has(c)).sort()).toEqual([]);
  });
});
