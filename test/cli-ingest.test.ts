import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { beforeAll, describe, expect, it } from 'vitest';

import { imageEncoderModel, noiseImage, solidImage, TOKENIZER_WORDS, wordAxisEncoders } from '../bench/ingest-fixtures.js';
import { Catalog, ClipEncoder, Ranker } from '../src/index.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const cli = join(root, 'bin', 'fusionrank.js');
const dir = mkdtempSync(join(tmpdir(), 'fusionrank-cli-ingest-'));
const models = { image: join(dir, 'image.onnx'), text: join(dir, 'text.onnx'), tokenizer: join(dir, 'tokenizer.json'), otherImage: join(dir, 'other-image.onnx') };
const modelArgs = () => ['--image-model', models.image, '--text-model', models.text, '--tokenizer', models.tokenizer, '--device', 'cpu', '--no-ocr', '--threads', '1'];
const DIM = TOKENIZER_WORDS.length;

async function fusionrank(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: dir, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join('\n');

beforeAll(async () => {
  const encoders = wordAxisEncoders(8);
  writeFileSync(models.image, encoders.image);
  writeFileSync(models.text, encoders.text);
  writeFileSync(models.tokenizer, encoders.tokenizer);
  writeFileSync(models.otherImage, imageEncoderModel({ size: 8, dim: 6 }));
});

describe('fusionrank ingest --catalog', () => {
  it('ingests a folder into a new catalog with the matching schema; a Ranker over it ranks a text query', async () => {
    const folder = join(dir, 'photos');
    mkdirSync(join(folder, 'nested'), { recursive: true });
    writeFileSync(join(folder, 'red.png'), await solidImage(255, 0, 0));
    writeFileSync(join(folder, 'red.txt'), 'a red cat');
    writeFileSync(join(folder, 'nested', 'blue.jpg'), await solidImage(0, 0, 255));
    writeFileSync(join(folder, 'broken.jpg'), 'not really a jpeg');
    const out = join(dir, 'photos-catalog');
    const { code, stdout, stderr } = await fusionrank('ingest', folder, ...modelArgs(), '--catalog', out);
    expect(stderr).toContain('ingesting 3 items');
    expect(stderr).toContain('100% 3/3');
    expect(stdout).toContain('ok 2 · failed 1');
    expect(stdout).toContain('catalog photos-catalog (2 items)');
    expect(stdout).toContain('broken: ERR_FUSIONRANK_UNSUPPORTED_IMAGE');
    expect(code).toBe(1);

    const catalog = await Catalog.load(out);
    expect(catalog.schema).toEqual({ vectors: { visual: { dim: DIM, dtype: 'f32' }, text: { dim: DIM, dtype: 'f32' } }, fields: { alignment: 'number', contentType: 'category' } });
    expect([...catalog.ids()].sort()).toEqual(['nested/blue', 'red']);
    const red = catalog.get('red')!;
    expect(Object.keys(red.vectors).sort()).toEqual(['text', 'visual']);
    expect(red.fields).toEqual({ alignment: expect.any(Number), contentType: 'aesthetic' });
    // No caption: no text vector (absent, not zeros), no alignment.
    const blue = catalog.get('nested/blue')!;
    expect(Object.keys(blue.vectors)).toEqual(['visual']);
    expect(blue.fields).toEqual({ contentType: 'aesthetic' });

    const clip = await ClipEncoder.load({ text: models.text, tokenizer: models.tokenizer, device: 'cpu' });
    const [query] = await clip.encodeTexts(['blue']);
    await clip.close();
    const ranker = new Ranker(catalog, { signals: { visual: { kind: 'similarity', vector: 'visual', weight: 1 }, text: { kind: 'similarity', vector: 'text', weight: 1 } }, missing: 'renormalize' });
    expect(ranker.rank({ query: { visual: query, text: query } }).items.map((i) => i.id)).toEqual(['nested/blue', 'red']);
  });

  it('ingests JSON lines: field types inferred or declared, ISO dates as times, bad lines and bad values reported', async () => {
    writeFileSync(join(dir, 'p.png'), await solidImage(255, 0, 0));
    const file = join(dir, 'items.jsonl');
    writeFileSync(
      file,
      [
        jsonl([
          { id: 'p', image: 'p.png', caption: 'summer sale', fields: { likes: 5, createdAt: '2026-01-02T03:04:05Z', creator: 'ann', tags: ['sale', 'red'], published: 1767225600000 } },
          { id: 't', caption: 'red dog', fields: { likes: 7, safe: true } },
        ]),
        '{ oops',
        jsonl([{ id: 'bad', caption: 'cat', fields: { likes: 'many' } }]),
      ].join('\n'),
    );
    const out = join(dir, 'jsonl-catalog');
    const { code, stdout } = await fusionrank('ingest', file, ...modelArgs(), '--catalog', out, '--field', 'published:time', '--dtype', 'f16');
    expect(stdout).toContain('ok 2 · failed 2');
    expect(stdout).toContain('items.jsonl:3: ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(stdout).toContain('bad: ERR_FUSIONRANK_INVALID_FIELD');
    expect(code).toBe(1);
    const catalog = await Catalog.load(out);
    expect(catalog.schema).toEqual({
      vectors: { visual: { dim: DIM, dtype: 'f16' }, text: { dim: DIM, dtype: 'f16' } },
      fields: { alignment: 'number', contentType: 'category', likes: 'number', createdAt: 'time', creator: 'category', tags: 'tags', published: 'time', safe: 'bool' },
    });
    expect(catalog.get('p')!.fields).toMatchObject({ likes: 5, createdAt: Date.parse('2026-01-02T03:04:05Z'), creator: 'ann', tags: ['sale', 'red'], published: 1767225600000 });
    expect(catalog.get('t')!.fields).toEqual({ likes: 7, safe: true, contentType: 'text_only' });
    expect(catalog.has('bad')).toBe(false);
  });

  it('loads an existing catalog, extends its schema with new fields, keeps its items and replaces re-ingested ones', async () => {
    const out = join(dir, 'grown-catalog');
    const first = join(dir, 'first.jsonl');
    writeFileSync(first, jsonl([{ id: 'a', caption: 'red cat', fields: { likes: 1 } }, { id: 'b', caption: 'blue dog', fields: { likes: 2 } }]));
    expect((await fusionrank('ingest', first, ...modelArgs(), '--catalog', out)).code).toBe(0);
    const before = await Catalog.load(out);

    const second = join(dir, 'second.jsonl');
    writeFileSync(second, jsonl([{ id: 'b', caption: 'sunset beach', fields: { likes: 3, region: 'eu' } }, { id: 'c', caption: 'the meme' }]));
    const { code, stdout, stderr } = await fusionrank('ingest', second, ...modelArgs(), '--catalog', out);
    expect(code).toBe(0);
    expect(stderr).toContain("catalog ");
    expect(stderr).toContain("2 items; adding field 'region' (category)");
    expect(stdout).toContain('(3 items)');
    const after = await Catalog.load(out);
    expect(after.schema.fields).toEqual({ ...before.schema.fields, region: 'category' });
    expect(after.get('a')).toEqual(before.get('a'));
    expect(after.get('b')!.fields).toEqual({ likes: 3, region: 'eu', contentType: 'text_only' });
    expect(after.get('b')!.vectors.text[TOKENIZER_WORDS.indexOf('sunset')]).toBeCloseTo(Math.SQRT1_2, 5);
    expect(after.size).toBe(3);

    // Models that do not fit the catalog: refused before anything is ingested; the catalog is unchanged.
    const refused = await fusionrank('ingest', second, '--image-model', models.otherImage, '--device', 'cpu', '--no-ocr', '--catalog', out);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining('ERR_FUSIONRANK_DIM_MISMATCH') });
    expect(refused.stderr).toContain("vector 'visual' has dim 18");
    expect(readdirSync(dir).filter((f) => f.startsWith('.grown-catalog'))).toEqual([]);
    expect((await Catalog.load(out)).size).toBe(3);
  });

  it('without --catalog it is a dry run; it will not replace a folder that is not a catalog', async () => {
    const file = join(dir, 'dry.jsonl');
    writeFileSync(file, jsonl([{ id: 'x', caption: 'red' }]));
    const dry = await fusionrank('ingest', file, ...modelArgs());
    expect(dry).toMatchObject({ code: 0, stdout: expect.stringContaining('ok 1 · failed 0') });
    expect(dry.stdout).toContain('dry run (no --catalog)');

    const precious = join(dir, 'precious');
    mkdirSync(precious);
    writeFileSync(join(precious, 'notes.txt'), 'keep me');
    const refused = await fusionrank('ingest', file, ...modelArgs(), '--catalog', precious);
    expect(refused).toMatchObject({ code: 2, stderr: expect.stringContaining('not a fusionrank catalog') });
    expect(readFileSync(join(precious, 'notes.txt'), 'utf8')).toBe('keep me');
    expect(existsSync(join(precious, 'manifest.json'))).toBe(false);

    expect(await fusionrank('ingest', file, ...modelArgs(), '--field', 'likes:integer')).toMatchObject({ code: 1, stderr: expect.stringContaining('<name>:<type>') });
  });

  it('explains what is missing', async () => {
    writeFileSync(join(dir, 'n.jpg'), await noiseImage(20, 20, 3));
    expect(await fusionrank('ingest', dir)).toMatchObject({ code: 2, stderr: expect.stringContaining('--image-model') });
    expect(await fusionrank('ingest', join(dir, 'nope'), '--image-model', models.image)).toMatchObject({ code: 2, stderr: expect.stringContaining('no such file') });
    expect(await fusionrank('ingest', dir, '--image-model', join(dir, 'missing.onnx'), '--device', 'cpu')).toMatchObject({ code: 2, stderr: expect.stringContaining('ERR_FUSIONRANK_FILE_NOT_FOUND') });
  });
});
