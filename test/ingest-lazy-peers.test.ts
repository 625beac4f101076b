import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

describe('optional peers', () => {
  it('importing fusionrank loads none of onnxruntime-node, sharp, tesseract.js, piscina, @huggingface/tokenizers', () => {
    const script = `
      const fr = await import(${JSON.stringify(join(root, 'dist', 'src', 'index.js'))});
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      const heavy = ['onnxruntime-node', '/sharp/', 'tesseract.js', '/piscina/', '@huggingface/tokenizers'].filter((p) => loaded.some((f) => f.includes(p)));
      console.log(JSON.stringify({ exports: ['OnnxModel', 'ClipEncoder', 'ImagePool', 'OcrPool', 'Ingestor'].filter((n) => typeof fr[n] === 'function'), heavy }));
    `;
    const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
    expect(out).toEqual({ exports: ['OnnxModel', 'ClipEncoder', 'ImagePool', 'OcrPool', 'Ingestor'], heavy: [] });
  });

  it('no module reachable by static imports from the entry point imports a heavy peer', () => {
    const peers = ['onnxruntime-node', 'sharp', 'tesseract.js', 'piscina', '@huggingface/tokenizers', '@tesseract.js-data/eng'];
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const match of source.matchAll(/^(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/gm)) {
        const specifier = match[1];
        if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
        else bare.add(specifier);
      }
    };
    visit(join(root, 'dist', 'src', 'index.js'));
    expect(seen.size).toBeGreaterThan(10);
    expect([...seen].some((f) => f.endsWith('ingestor.js'))).toBe(true);
    expect([...bare].filter((b) => peers.includes(b))).toEqual([]);
  });

  it('names the package to install when a peer is missing', async () => {
    const { missingDependency } = await import('../src/util/optional.js');
    const error = missingDependency('sharp');
    expect(error).toMatchObject({ code: 'ERR_FUSIONRANK_MISSING_DEPENDENCY', message: expect.stringContaining('npm install sharp') });
  });
});
