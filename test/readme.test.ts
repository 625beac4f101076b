// The README's code runs as written: its Quickstart and Vectors examples are
// extracted and executed against the built package, with only their free
// variables (the user's own embeddings) defined up front.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
const entry = pathToFileURL(fileURLToPath(new URL('../dist/src/index.js', import.meta.url))).href;

function block(section: string): string {
  const start = readme.indexOf(`## ${section}\n`);
  expect(start, `README has a "## ${section}" section`).toBeGreaterThanOrEqual(0);
  const match = /```js\n([\s\S]*?)```/.exec(readme.slice(start));
  expect(match, `"## ${section}" has a js example`).not.toBeNull();
  return match![1];
}

async function run(code: string, prelude: string): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'fr-readme-')), 'example.mjs');
  const body = code.replaceAll("from 'fusionrank'", `from '${entry}'`);
  // Imports first, then the user's data, then the example's own lines.
  const imports = body.split('\n').filter((l) => l.startsWith('import '));
  const rest = body.split('\n').filter((l) => !l.startsWith('import '));
  writeFileSync(file, [...imports, prelude, ...rest, 'console.log("README-EXAMPLE-OK");'].join('\n'));
  const { stdout } = await exec(process.execPath, [file]);
  return stdout;
}

const randomVector = (dim: number, seed: number) => `Float32Array.from({ length: ${dim} }, (_, i) => Math.sin(${seed} * 7.1 + i))`;

describe('README examples', () => {
  it('Quickstart ranks an item with an explanation', async () => {
    const code = block('Quickstart') + '\nif (items[0]?.id !== "p1" || !items[0].signals?.visual) throw new Error("unexpected result " + JSON.stringify(items));\nif (!(timings.totalUs >= 0)) throw new Error("no timings");';
    const out = await run(code, `const v1 = ${randomVector(512, 1)}, t1 = ${randomVector(768, 2)}, q = ${randomVector(512, 3)};`);
    expect(out).toContain('README-EXAMPLE-OK');
  });

  it('Vectors scores, ranks and scans', async () => {
    const code = block('Vectors') + '\nif (best.length !== 10 || scores.length !== candidates.length || top.rows.length !== 10) throw new Error("unexpected shapes");';
    const out = await run(code, `const embeddings = Float32Array.from({ length: 50 * 768 }, (_, i) => Math.sin(i * 0.37)); const query = ${randomVector(768, 4)}; const candidates = Uint32Array.from([3, 1, 4, 1, 5]);`);
    expect(out).toContain('README-EXAMPLE-OK');
    expect(out).toContain("isa: '");
  });
});
