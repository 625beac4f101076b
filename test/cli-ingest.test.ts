import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { beforeAll, describe, expect, it } from 'vitest';

import { imageEncoderModel, noiseImage, textEncoderModel, tokenizerJson, TOKENIZER_WORDS } from '../bench/ingest-fixtures.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const cli = join(root, 'bin', 'fusionrank.js');
const dir = mkdtempSync(join(tmpdir(), 'fusionrank-cli-ingest-'));
const models = { image: join(dir, 'image.onnx'), text: join(dir, 'text.onnx'), tokenizer: join(dir, 'tokenizer.json') };

async function fusionrank(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: dir, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  writeFileSync(models.image, imageEncoderModel({ size: 16, dim: 8 }));
  writeFileSync(models.text, textEncoderModel({ vocabSize: 4 + TOKENIZER_WORDS.length, dim: 8 }));
  writeFileSync(models.tokenizer, tokenizerJson());
});

describe('fusionrank ingest', () => {
  it('ingests a folder with captions, writes rows and a summary, and reports bad files', async () => {
    const folder = join(dir, 'photos');
    mkdirSync(join(folder, 'nested'), { recursive: true });
    writeFileSync(join(folder, 'a.jpg'), await noiseImage(40, 30, 1));
    writeFileSync(join(folder, 'a.txt'), 'a photo of a cat');
    writeFileSync(join(folder, 'nested', 'b.png'), await noiseImage(30, 40, 2, 'png'));
    writeFileSync(join(folder, 'broken.jpg'), 'not really a jpeg');
    const out = join(dir, 'rows.jsonl');
    const { code, stdout, stderr } = await fusionrank('ingest', folder, '--image-model', models.image, '--text-model', models.text, '--tokenizer', models.tokenizer, '--device', 'cpu', '--no-ocr', '--threads', '1', '--out', out);
    expect(stderr).toContain('ingesting 3 items');
    expect(stderr).toContain('100% 3/3');
    expect(stdout).toContain('ok 2 · failed 1');
    expect(stdout).toContain('broken: ERR_FUSIONRANK_UNSUPPORTED_IMAGE');
    expect(code).toBe(1);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((r) => r.id).sort()).toEqual(['a', 'nested/b']);
    const a = rows.find((r) => r.id === 'a');
    expect(Object.keys(a.vectors).sort()).toEqual(['text', 'visual']);
    expect(a.vectors.visual).toHaveLength(8);
    expect(typeof a.fields.alignment).toBe('number');
    expect(Object.keys(rows.find((r) => r.id === 'nested/b').vectors)).toEqual(['visual']);
  });

  it('ingests a JSON-lines file, reporting unparseable lines', async () => {
    writeFileSync(join(dir, 'p.jpg'), await noiseImage(20, 20, 3));
    const jsonl = join(dir, 'items.jsonl');
    writeFileSync(jsonl, [JSON.stringify({ id: 'p', image: 'p.jpg', caption: 'summer sale', fields: { likes: 5 } }), '{ oops', JSON.stringify({ id: 't', caption: 'red dog' })].join('\n'));
    const out = join(dir, 'rows2.jsonl');
    const { code, stdout } = await fusionrank('ingest', jsonl, '--image-model', models.image, '--text-model', models.text, '--tokenizer', models.tokenizer, '--device', 'cpu', '--no-ocr', '--out', out);
    expect(stdout).toContain('ok 2 · failed 1');
    expect(stdout).toContain('items.jsonl:2: ERR_FUSIONRANK_INVALID_ARGUMENT');
    expect(code).toBe(1);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.find((r) => r.id === 'p').fields).toMatchObject({ likes: 5 });
    expect(rows.find((r) => r.id === 't').fields.contentType).toBe('text_only');
  });

  it('explains what is missing', async () => {
    expect(await fusionrank('ingest', dir)).toMatchObject({ code: 2, stderr: expect.stringContaining('--image-model') });
    expect(await fusionrank('ingest', join(dir, 'nope'), '--image-model', models.image)).toMatchObject({ code: 2, stderr: expect.stringContaining('no such file') });
    expect(await fusionrank('ingest', dir, '--image-model', join(dir, 'missing.onnx'), '--device', 'cpu')).toMatchObject({ code: 2, stderr: expect.stringContaining('ERR_FUSIONRANK_FILE_NOT_FOUND') });
  });
});
