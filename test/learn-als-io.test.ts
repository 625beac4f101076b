// ALS models in and out: safetensors save/load (every field of an untrusted
// file checked), and item factors written into a catalog vector.
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { Catalog } from '../src/catalog/catalog.js';
import { fitAls, foldIn, loadAls, saveAls, writeItemFactors, type AlsModel } from '../src/learn/index.js';

const interactions = [
  { user: 'ann', item: 'p1', weight: 2 },
  { user: 'ann', item: 'p2' },
  { user: 'bob', item: 'p2', weight: 3 },
  { user: 'bob', item: 'p3' },
  { user: 'cy', item: 'p1' },
  { user: 'cy', item: 'p3', weight: 0.5 },
];
const dir = () => mkdtempSync(join(tmpdir(), 'fr-als-'));

/** Rewrites a saved file's header with `edit` applied (keeping the tensor bytes). */
function editHeader(path: string, edit: (header: Record<string, any>) => void): void {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
  edit(header);
  const text = Buffer.from(JSON.stringify(header));
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(BigInt(text.length));
  writeFileSync(path, Buffer.concat([out, text, bytes.subarray(8 + length)]));
}

describe('saveAls / loadAls', () => {
  it('round-trips ids, factors, hyperparameters and loss exactly, in the safetensors layout', async () => {
    const model = await fitAls(interactions, { factors: 5, iterations: 4, regularization: 0.2, alpha: 3 });
    const path = join(dir(), 'cf.safetensors');
    await saveAls(model, path);
    const bytes = readFileSync(path);
    // safetensors: u64 LE header length, JSON header, then the tensors back to back.
    const length = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8'));
    expect(header.user_factors).toEqual({ dtype: 'F32', shape: [3, 5], data_offsets: [0, 60] });
    expect(header.item_factors).toEqual({ dtype: 'F32', shape: [3, 5], data_offsets: [60, 120] });
    expect(bytes.length).toBe(8 + length + 120);
    const back = await loadAls(path);
    expect(back.users).toEqual(model.users);
    expect(back.items).toEqual(model.items);
    expect(back.factors).toBe(5);
    expect(back.userFactors).toEqual(model.userFactors);
    expect(back.itemFactors).toEqual(model.itemFactors);
    expect(back.regularization).toBe(0.2);
    expect(back.alpha).toBe(3);
    expect(back.loss).toEqual(model.loss);
    expect(foldIn(back, ['p1', 'p3'])).toEqual(foldIn(model, ['p1', 'p3']));
  });

  it('a failed save leaves the previous file as it was', async () => {
    const model = await fitAls(interactions, { factors: 3, iterations: 2 });
    const d = dir();
    const path = join(d, 'cf.safetensors');
    await saveAls(model, path);
    const before = readFileSync(path);
    await expect(saveAls(model, join(d, 'missing-dir', 'cf.safetensors'))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_IO' });
    await expect(saveAls({ ...model, itemFactors: new Float32Array(2) }, path)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_INVALID_ARGUMENT' });
    expect(readFileSync(path)).toEqual(before);
    expect(existsSync(join(d, 'missing-dir'))).toBe(false);
  });

  it('rejects damaged or foreign files with a code naming the problem', async () => {
    const model = await fitAls(interactions, { factors: 3, iterations: 2 });
    const d = dir();
    const fresh = async (name: string) => {
      const path = join(d, name);
      await saveAls(model, path);
      return path;
    };
    await expect(loadAls(join(d, 'nope.safetensors'))).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_FILE_READ' });
    const truncated = await fresh('truncated');
    writeFileSync(truncated, readFileSync(truncated).subarray(0, -4));
    await expect(loadAls(truncated)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_SAFETENSORS_PARSE' });
    const foreign = await fresh('foreign');
    editHeader(foreign, (h) => (h.__metadata__.format = 'pytorch'));
    await expect(loadAls(foreign)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CORRUPT' });
    const newer = await fresh('newer');
    editHeader(newer, (h) => (h.__metadata__.version = '2'));
    await expect(loadAls(newer)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_UNSUPPORTED_VERSION' });
    const ids = await fresh('ids');
    editHeader(ids, (h) => (h.__metadata__.users = JSON.stringify(['ann', 'bob'])));
    await expect(loadAls(ids)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CORRUPT', message: expect.stringContaining('user_factors') });
    const repeated = await fresh('repeated');
    editHeader(repeated, (h) => (h.__metadata__.items = JSON.stringify(['p1', 'p1', 'p3'])));
    await expect(loadAls(repeated)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CORRUPT', message: expect.stringContaining('repeats') });
    const nan = await fresh('nan');
    const bytes = readFileSync(nan);
    bytes.writeFloatLE(Number.NaN, bytes.length - 4);
    writeFileSync(nan, bytes);
    await expect(loadAls(nan)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_CORRUPT', message: expect.stringContaining('non-finite') });
  });
});

describe('writeItemFactors and Catalog.setVector', () => {
  const catalogWith = () => {
    const catalog = new Catalog({ vectors: { cf: { dim: 4 }, visual: { dim: 2 } }, fields: { likes: 'number' } });
    catalog.upsert([
      { id: 'p1', vectors: { visual: Float32Array.of(1, 0) }, fields: { likes: 7 } },
      { id: 'p2', vectors: { visual: Float32Array.of(0, 1) }, fields: { likes: 1 } },
      { id: 'p9', fields: { likes: 2 } },
    ]);
    return catalog;
  };

  it('writes the factors of the items the catalog holds and nothing else', async () => {
    const model: AlsModel = await fitAls(interactions, { factors: 4, iterations: 3 });
    const catalog = catalogWith();
    expect(writeItemFactors(catalog, model, 'cf')).toEqual({ written: 2, skipped: 1 });
    for (const id of ['p1', 'p2']) {
      const row = model.items.indexOf(id);
      const y = model.itemFactors.subarray(row * 4, row * 4 + 4);
      const stored = catalog.get(id)!.vectors.cf;
      // Stored for cosine scoring: the same direction.
      const dot = y.reduce((s, v, j) => s + v * stored[j], 0);
      const norms = Math.hypot(...y) * Math.hypot(...stored);
      expect(dot / norms).toBeCloseTo(1, 5);
    }
    expect(catalog.get('p1')!.fields.likes).toBe(7);
    expect(Array.from(catalog.get('p1')!.vectors.visual)).toEqual([1, 0]);
    expect(catalog.get('p9')!.vectors.cf).toBeUndefined();
  });

  it('bad input changes nothing', async () => {
    const model = await fitAls(interactions, { factors: 3, iterations: 2 });
    const catalog = catalogWith();
    expect(() => writeItemFactors(catalog, model, 'cf')).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(() => writeItemFactors(catalog, model, 'nope')).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR' }));
    expect(() => writeItemFactors(catalog, model, 'toString')).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_UNKNOWN_VECTOR' }));
    expect(() => catalog.setVector('visual', ['p1', 'ghost'], Float32Array.of(0, 1, 1, 0))).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_NOT_FOUND' }));
    expect(() => catalog.setVector('visual', ['p1', 'p2'], Float32Array.of(0, 1, Number.NaN, 0))).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_NON_FINITE' }));
    expect(() => catalog.setVector('visual', ['p1'], Float32Array.of(0, 1, 1))).toThrow(expect.objectContaining({ code: 'ERR_FUSIONRANK_DIM_MISMATCH' }));
    expect(() => catalog.setVector('visual', 'p1' as never, Float32Array.of(0, 1))).toThrow(TypeError);
    expect(Array.from(catalog.get('p1')!.vectors.visual)).toEqual([1, 0]);
    expect(catalog.get('p1')!.vectors.cf).toBeUndefined();
    catalog.setVector('visual', ['p2'], Float32Array.of(3, 4));
    expect(Array.from(catalog.get('p2')!.vectors.visual)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.8, 6)]);
    expect(catalog.get('p2')!.fields.likes).toBe(1);
  });
});
