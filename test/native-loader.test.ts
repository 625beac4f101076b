// FUSIONRANK_NATIVE names the one binary to load: a relative path resolves
// against the working directory, and a path that does not load is an error,
// never a silent fallback to the package's own build. Checked in child
// processes, since the addon is loaded once per process.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { nativeCandidates } from '../src/native.js';

const exec = promisify(execFile);
const entry = fileURLToPath(new URL('../dist/src/index.js', import.meta.url));
const built = nativeCandidates().find((p) => existsSync(p) && !p.includes('prebuilds'))!;

// Loads the package and reports the ISA, or the error's code and message.
const script = `
try {
  const { capabilities } = await import(${JSON.stringify(entry)});
  console.log(JSON.stringify({ isa: capabilities().isa }));
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message }));
}
`;

async function load(cwd: string, addon: string): Promise<{ isa?: string; code?: string; message?: string }> {
  const { stdout } = await exec(process.execPath, ['--input-type=module', '-e', script], {
    cwd,
    env: { ...process.env, FUSIONRANK_NATIVE: addon },
  });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

describe('FUSIONRANK_NATIVE', () => {
  it('loads a path relative to the working directory', async () => {
    const cwd = dirname(dirname(built));
    const result = await load(cwd, relative(cwd, built));
    expect(result.code).toBeUndefined();
    expect(typeof result.isa).toBe('string');
  });

  it('is an error naming the path when it does not exist, not a fallback to another build', async () => {
    const cwd = dirname(built);
    const result = await load(cwd, 'no-such-addon.node');
    expect(result.code).toBe('ERR_FUSIONRANK_NATIVE_NOT_FOUND');
    expect(result.message).toContain(join(cwd, 'no-such-addon.node'));
    expect(result.message).toContain('not found');
  });

  it('is an error with the loader\'s reason when the file is not an addon', async () => {
    const result = await load(dirname(entry), 'index.js');
    expect(result.code).toBe('ERR_FUSIONRANK_NATIVE_NOT_FOUND');
    expect(result.message).toContain('could not be loaded');
  });
});
