/**
 * `fusionrank batch` end to end through bin/fusionrank.js (the compiled
 * dist/: run `npx tsc -p tsconfig.json && node scripts/bundle.mjs` first, or
 * let global-setup build it). A small catalog is saved with a ranker config
 * (an ONNX rerank model, and a safetensors one); every request's output must
 * equal `ranker.rank()` of that request on a Ranker built here directly (the
 * single-request API is the reference), and the Arrow and Parquet files must
 * hold what the JSON lines hold.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

import { tableFromIPC } from 'apache-arrow';
import { parquetReadObjects } from 'hyparquet';
import { beforeAll, describe, expect, it } from 'vitest';

import { Catalog, FusionMlp, Ranker, type RankerOptions, type RankRequest } from '../src/index.js';
import { formatBatchSummary, progressReporter } from '../src/cli/batch.js';
import { loadFormatPeer } from '../src/cli/batch-output.js';
import { jsonPath } from '../src/cli/batch-config.js';
import { randomMlpOnnx } from '../src/rerank/onnx-build.js';
import { randomVectors, rng } from '../src/util/random.js';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..');
const cli = join(root, 'bin', 'fusionrank.js');
const dir = mkdtempSync(join(tmpdir(), 'fusionrank-cli-batch-'));
const at = (...name: string[]) => join(dir, ...name);


async function fusionrank(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cli, ...args], { cwd: dir, timeout: 60_000, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const N = 300;
const VISUAL = 8;
const TEXT = 6;
const T0 = Date.UTC(2024, 5, 1);
const CREATORS = ['ann', 'bob', 'cyd', 'dee'];

/** The config as JSON, the model as a file name (relative to the config). */
function configJson(model: unknown, k = 10): Record<string, unknown> {
  return {
    retrieve: [{ vector: 'visual', k: 60 }, { vector: 'text', k: 60, exact: true }],
    filter: { safe: true },
    signals: {
      visual: { kind: 'similarity', vector: 'visual', weight: 0.5 },
      text: { kind: 'similarity', vector: 'text', weight: 0.3 },
      likes: { kind: 'engagement', fields: ['likes'], weight: 0.1 },
      recency: { kind: 'recency', field: 'createdAt', halfLife: '24h', weight: 0.1 },
    },
    rerank: { model, top: 40, features: [{ vector: 'visual' }, { vector: 'text' }, { signal: 'likes' }], mode: 'blend', weight: 0.5 },
    diversity: { maxPer: { creator: 3 } },
    k,
  };
}

/** A safetensors file of float32 tensors. */
function safetensors(tensors: Record<string, { shape: number[]; values: Float32Array }>): Uint8Array {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.values.byteLength] };
    offset += t.values.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let p = 8 + json.length;
  for (const t of Object.values(tensors)) {
    out.set(new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength), p);
    p += t.values.byteLength;
  }
  return out;
}

let catalog: Catalog;
let onnxBytes: Uint8Array;
let stBytes: Uint8Array;
const SPEC = { layers: [{ type: 'linear', weight: 'fc.weight', bias: 'fc.bias', activation: 'sigmoid' }] } as const;
/** The requests as the test means them, by id, in file order. */
const requests = new Map<string, RankRequest>();

beforeAll(async () => {
  const random = rng(7);
  catalog = new Catalog({
    vectors: { visual: { dim: VISUAL }, text: { dim: TEXT } },
    fields: { likes: 'number', createdAt: 'time', safe: 'bool', creator: 'category' },
  });
  const visual = randomVectors(N, VISUAL, random);
  const text = randomVectors(N, TEXT, random);
  catalog.upsert(
    Array.from({ length: N }, (_, i) => ({
      id: `p${i}`,
      vectors: { visual: visual.subarray(i * VISUAL, (i + 1) * VISUAL), text: text.subarray(i * TEXT, (i + 1) * TEXT) },
      fields: { likes: Math.floor(random() * 500), createdAt: T0 - Math.floor(random() * 7 * 86_400_000), safe: random() > 0.1, creator: CREATORS[i % CREATORS.length] },
    })),
  );
  await catalog.save(at('catalog'));

  onnxBytes = randomMlpOnnx([VISUAL + TEXT + 1, 8, 1], rng(11), { finalActivation: 'Sigmoid' });
  mkdirSync(at('models'));
  writeFileSync(at('models', 'rerank.onnx'), onnxBytes);
  writeFileSync(at('ranker.json'), JSON.stringify(configJson('models/rerank.onnx')));

  const w = rng(13);
  stBytes = safetensors({
    'fc.weight': { shape: [1, VISUAL + TEXT + 1], values: Float32Array.from({ length: VISUAL + TEXT + 1 }, () => w() * 2 - 1) },
    'fc.bias': { shape: [1], values: Float32Array.of(0.1) },
  });
  writeFileSync(at('models', 'rerank.safetensors'), stBytes);
  writeFileSync(at('models', 'spec.json'), JSON.stringify(SPEC));
  writeFileSync(at('ranker-st.json'), JSON.stringify(configJson({ path: 'models/rerank.safetensors', spec: 'models/spec.json' }, 8)));

  const lines = ['# users to rank', ''];
  for (let u = 0; u < 37; u++) {
    const id = `u${u}`;
    const request: RankRequest = { now: T0 + u * 3_600_000 };
    const line: Record<string, unknown> = { id, now: u % 2 ? new Date(T0 + u * 3_600_000).toISOString() : T0 + u * 3_600_000 };
    if (u % 5 === 4) {
      const history = [`p${u}`, `p${u + 40}`, `p${u + 80}`];
      request.query = { fromHistory: history };
      line.fromHistory = history;
    } else {
      const v = randomVectors(1, VISUAL, random);
      const t = randomVectors(1, TEXT, random);
      request.query = u % 3 === 2 ? { visual: v } : { visual: v, text: t };
      line.query = u % 3 === 2 ? { visual: [...v] } : { visual: [...v], text: [...t] };
    }
    if (u % 4 === 1) request.exclude = line.exclude = ['p1', 'p2', 'p3', `p${u}`];
    if (u % 6 === 3) request.filter = line.filter = { creator: { in: ['ann', 'cyd'] } };
    if (u % 7 === 2) request.k = line.k = 4;
    requests.set(id, request);
    lines.push(JSON.stringify(line));
    if (u === 10) lines.push('   ', '  # a comment after blanks');
  }
  writeFileSync(at('users.jsonl'), `${lines.join('\n')}\n`);
});

/** The reference: one `rank()` per request, on a Ranker built here from the model bytes. */
function reference(options: RankerOptions): Map<string, Array<{ id: string; score: number }>> {
  const ranker = new Ranker(catalog, options);
  return new Map([...requests].map(([id, r]) => [id, ranker.rank(r).items.map((item) => ({ id: item.id, score: item.score }))]));
}

function onnxOptions(k = 10): RankerOptions {
  return { ...(configJson(undefined, k) as unknown as RankerOptions), rerank: { ...(configJson(undefined, k).rerank as RankerOptions['rerank'])!, model: FusionMlp.fromOnnx(onnxBytes) } };
}

type JsonlRow = { id: string; items: Array<{ id: string; score: number }>; candidates: number };
const parseJsonl = (text: string): JsonlRow[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as JsonlRow);

function expectMatches(rows: JsonlRow[], expected: Map<string, Array<{ id: string; score: number }>>): void {
  expect(rows.map((r) => r.id)).toEqual([...expected.keys()]);
  for (const row of rows) {
    const want = expected.get(row.id)!;
    expect(row.items.map((i) => i.id), row.id).toEqual(want.map((i) => i.id));
    row.items.forEach((item, r) => expect(Math.abs(item.score - want[r].score), `${row.id} rank ${r + 1}`).toBeLessThan(1e-5));
  }
}

const leftovers = (sub = '') => readdirSync(at(sub)).filter((f) => f.endsWith('.tmp'));

describe('fusionrank batch', () => {
  it('ranks every request as rank() does, a chunk at a time, into a file or onto stdout', async () => {
    const expected = reference(onnxOptions());
    const toFile = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'users.jsonl', '--output', 'out.jsonl', '--chunk-size', '5');
    expect(toFile.stderr).toMatch(/ranked 37 requests in [\d.]+ s \([\d.]+ requests\/s\), wrote \d+ items to out\.jsonl \(jsonl\)/);
    expect(toFile.code).toBe(0);
    const rows = parseJsonl(readFileSync(at('out.jsonl'), 'utf8'));
    expectMatches(rows, expected);
    // k from the line (u2: 4) and from the config (10); exclusions and the line's filter hold.
    expect(rows.find((r) => r.id === 'u2')!.items).toHaveLength(4);
    expect(rows.find((r) => r.id === 'u1')!.items.map((i) => i.id)).not.toContain('p1');
    const itemsWritten = rows.reduce((s, r) => s + r.items.length, 0);
    expect(toFile.stderr).toContain(`wrote ${itemsWritten} items`);
    expect(leftovers()).toEqual([]);

    const toStdout = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'users.jsonl', '--quiet', '--threads', '2', '--device', 'cpu');
    expect(toStdout.code).toBe(0);
    expect(toStdout.stderr).toBe('');
    expect(parseJsonl(toStdout.stdout)).toEqual(rows);
  });

  it('--k sets the results per request of lines without their own k', async () => {
    const r = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'users.jsonl', '--k', '3', '--quiet');
    expect(r.code).toBe(0);
    expectMatches(parseJsonl(r.stdout), reference(onnxOptions(3)));
  });

  it('loads a safetensors model with its layer spec, relative to the config file', async () => {
    const options = configJson(undefined, 8) as unknown as RankerOptions;
    options.rerank = { ...options.rerank!, model: FusionMlp.fromSafetensors(stBytes, SPEC as never) };
    const r = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker-st.json', '--input', 'users.jsonl', '--quiet');
    expect(r.stderr).toBe('');
    expectMatches(parseJsonl(r.stdout), reference(options));
  });

  it('writes an Arrow IPC file, one row per (request, rank), holding what the JSON lines hold', async () => {
    const jsonl = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'users.jsonl', '--quiet');
    const rows = parseJsonl(jsonl.stdout);
    const r = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'users.jsonl', '--output', 'out.arrow', '--format', 'arrow', '--chunk-size', '8');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('to out.arrow (arrow)');
    const table = tableFromIPC(readFileSync(at('out.arrow')));
    expect(table.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual(['id:Utf8', 'rank:Int32', 'item:Utf8', 'score:Float64']);
    const long = rows.flatMap((row) => row.items.map((item, i) => ({ id: row.id, rank: i + 1, item: item.id, score: item.score })));
    expect(table.numRows).toBe(long.length);
    expect(table.toArray().map((x) => ({ ...x.toJSON() }))).toEqual(long);
    expect(leftovers()).toEqual([]);
  });

  it('writes a Parquet file with the same rows', async () => {
    const jsonl = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'users.jsonl', '--quiet');
    const long = parseJsonl(jsonl.stdout).flatMap((row) => row.items.map((item, i) => ({ id: row.id, rank: i + 1, item: item.id, score: item.score })));
    const r = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'users.jsonl', '--output', 'out.parquet', '--format', 'parquet', '--chunk-size', '8', '--quiet');
    expect(r.stderr).toBe('');
    const bytes = readFileSync(at('out.parquet'));
    const rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
    expect(rows).toEqual(long);
  });

  it('writes an empty but readable Arrow file when no request has results', async () => {
    writeFileSync(at('none.jsonl'), '# nothing\n\n');
    const r = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'none.jsonl', '--output', 'none.arrow', '--format', 'arrow');
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('ranked 0 requests');
    const table = tableFromIPC(readFileSync(at('none.arrow')));
    expect(table.numRows).toBe(0);
    expect(table.schema.fields.map((f) => f.name)).toEqual(['id', 'rank', 'item', 'score']);
  });

  describe('bad lines', () => {
    const good = (id: string) => JSON.stringify({ id, query: { visual: [1, 0, 0, 0, 0, 0, 0, 0] }, now: T0 });
    beforeAll(() => {
      const lines = [good('a'), '# comment', good('b'), '{"id": "c", "query": {"visual": [1, "x"]}}', good('d'), '{not json', good('e'), JSON.stringify({ id: 'b', now: T0 }), good('f')];
      writeFileSync(at('bad.jsonl'), `${lines.join('\n')}\n`);
      // Lines the parser accepts but the ranker refuses: an unknown vector, a wrong dim.
      writeFileSync(at('refused.jsonl'), `${[good('a'), JSON.stringify({ id: 'b', query: { colour: [1, 2] } }), good('c'), JSON.stringify({ id: 'd', query: { visual: [1, 2, 3] } }), good('e')].join('\n')}\n`);
      writeFileSync(at('keep.jsonl'), 'old\n');
    });

    it('--on-error fail (the default): a coded error naming file:line, and no output file', async () => {
      const r = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'bad.jsonl', '--output', 'bad-out.jsonl', '--chunk-size', '2');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('ERR_FUSIONRANK_PARSE: bad.jsonl:4: "query.visual" must be an array of numbers');
      expect(existsSync(at('bad-out.jsonl'))).toBe(false);
      expect(leftovers()).toEqual([]);
      // An existing output file is left as it was.
      const kept = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'bad.jsonl', '--output', 'keep.jsonl', '--format', 'arrow');
      expect(kept.code).toBe(1);
      expect(readFileSync(at('keep.jsonl'), 'utf8')).toBe('old\n');
      expect(leftovers()).toEqual([]);
    });

    it('--on-error skip: ranks the others, names and counts the skipped lines', async () => {
      const r = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'bad.jsonl', '--output', 'skip-out.jsonl', '--on-error', 'skip', '--chunk-size', '2');
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('skipped ERR_FUSIONRANK_PARSE: bad.jsonl:4:');
      expect(r.stderr).toContain('skipped ERR_FUSIONRANK_PARSE: bad.jsonl:6: not valid JSON');
      expect(r.stderr).toContain('skipped ERR_FUSIONRANK_DUPLICATE_NAME: bad.jsonl:8: request id "b"');
      expect(r.stderr).toMatch(/ranked 5 requests .*; skipped 3 lines/);
      expect(parseJsonl(readFileSync(at('skip-out.jsonl'), 'utf8')).map((x) => x.id)).toEqual(['a', 'b', 'd', 'e', 'f']);
    });

    it('a request the ranker refuses: its code and file:line, or skipped and counted', async () => {
      const fail = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'refused.jsonl', '--output', 'refused-out.jsonl');
      expect(fail.code).toBe(1);
      expect(fail.stderr).toMatch(/ERR_FUSIONRANK_UNKNOWN_VECTOR: refused\.jsonl:2 \(id "b"\): /);
      expect(existsSync(at('refused-out.jsonl'))).toBe(false);
      const skip = await fusionrank('batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', 'refused.jsonl', '--on-error', 'skip', '--quiet');
      expect(skip.code).toBe(0);
      expect(skip.stderr).toMatch(/skipped ERR_FUSIONRANK_UNKNOWN_VECTOR: refused\.jsonl:2 \(id "b"\)/);
      expect(skip.stderr).toMatch(/skipped ERR_FUSIONRANK_DIM_MISMATCH: refused\.jsonl:4 \(id "d"\)/);
      expect(skip.stderr).toContain('skipped 2 lines');
      expect(parseJsonl(skip.stdout).map((x) => x.id)).toEqual(['a', 'c', 'e']);
    });
  });

  describe('missing or bad files', () => {
    const run = (...args: string[]) => fusionrank('batch', '--output', 'never.jsonl', ...args);
    const base = { catalog: 'catalog', config: 'ranker.json', input: 'users.jsonl' };
    const argv = (o: Partial<typeof base>) => Object.entries({ ...base, ...o }).flatMap(([k, v]) => [`--${k}`, v]);
    const config = (name: string, json: unknown) => {
      writeFileSync(at(name), typeof json === 'string' ? json : JSON.stringify(json));
      return name;
    };

    it.each([
      ['a missing catalog', { catalog: 'nope' }, 'ERR_FUSIONRANK_FILE_NOT_FOUND: --catalog nope: no such directory'],
      ['a missing config', { config: 'nope.json' }, 'ERR_FUSIONRANK_FILE_NOT_FOUND: --config nope.json: no such file'],
      ['a missing input', { input: 'nope.jsonl' }, 'ERR_FUSIONRANK_FILE_NOT_FOUND: --input nope.jsonl: no such file'],
      ['a config that is not JSON', { config: config('c1.json', '{"signals":') }, 'ERR_FUSIONRANK_PARSE: --config c1.json is not valid JSON'],
      ['a misspelt key', { config: config('c2.json', { signals: { text: { kind: 'similarity', vector: 'text', wieght: 1 } } }) }, 'ERR_FUSIONRANK_INVALID_SPEC: Invalid ranker config c2.json at signals.text.weight: Invalid key: Expected "weight" but received undefined; at signals.text.wieght: Invalid key'],
      ['an unknown signal kind', { config: config('c3.json', { signals: { text: { kind: 'similar', vector: 'text', weight: 1 } } }) }, 'ERR_FUSIONRANK_INVALID_SPEC: Invalid ranker config c3.json at signals.text.kind:'],
      ['an unknown top-level key', { config: config('c4.json', { signals: { text: { kind: 'similarity', vector: 'text', weight: 1 } }, rerankk: {} }) }, 'ERR_FUSIONRANK_INVALID_SPEC: Invalid ranker config c4.json at rerankk:'],
      ['a missing model file', { config: config('c5.json', configJson('models/none.onnx')) }, 'ERR_FUSIONRANK_FILE_NOT_FOUND: c5.json at rerank.model: model file'],
      ['a safetensors model without a spec', { config: config('c6.json', configJson('models/rerank.safetensors')) }, 'ERR_FUSIONRANK_INVALID_SPEC: c6.json at rerank.model: a .safetensors model needs its layer spec'],
      ['a model of another format', { config: config('c7.json', configJson('ranker.json')) }, 'ERR_FUSIONRANK_INVALID_MODEL: c7.json at rerank.model:'],
      ['a model that is not ONNX', { config: config('c8.json', configJson('models/fake.onnx')) }, 'ERR_FUSIONRANK_ONNX_PARSE: c8.json at rerank.model ('],
      ['a config that does not fit the catalog', { config: config('c9.json', { signals: { text: { kind: 'similarity', vector: 'colour', weight: 1 } } }) }, 'ERR_FUSIONRANK_UNKNOWN_VECTOR: --config c9.json does not fit the catalog catalog:'],
    ])('%s gives a coded error and no output', async (_, o, message) => {
      writeFileSync(at('models', 'fake.onnx'), 'not a model');
      const r = await run(...argv(o));
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`fusionrank batch: ${message}`);
      expect(existsSync(at('never.jsonl'))).toBe(false);
      expect(leftovers()).toEqual([]);
    });
  });

  it('SIGINT aborts through the signal: exit 130, a clear message, no output file', async () => {
    if (process.platform === 'win32') return;
    const fifo = at('slow.fifo');
    execFileSync('mkfifo', [fifo]);
    mkdirSync(at('sigint'));
    const child = spawn(process.execPath, [cli, 'batch', '--catalog', 'catalog', '--config', 'ranker.json', '--input', fifo, '--output', join('sigint', 'out.jsonl'), '--chunk-size', '2', '--quiet'], { cwd: dir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const feed = createWriteStream(fifo);
    const user = (id: string) => `${JSON.stringify({ id, query: { visual: [1, 0, 0, 0, 0, 0, 0, 0] }, now: T0 })}\n`;
    feed.write(user('a') + user('b') + user('c'));
    // The first chunk (a, b) is ranked and written to the temporary file; c waits for more input.
    const deadline = Date.now() + 30_000;
    const temp = () => leftovers('sigint').map((f) => join(at('sigint'), f));
    while (!(temp().length && statSync(temp()[0]).size > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(temp()).toHaveLength(1);
    child.kill('SIGINT');
    // The run stops while the input is still open; the writer of a pipe gets the Ctrl-C too, and
    // its end releases the read the process is waiting on (a blocked pipe read holds the exit).
    while (!stderr.includes('interrupted') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(readdirSync(at('sigint'))).toEqual([]);
    feed.end();
    const code = await exited;
    expect(code).toBe(130);
    expect(stderr).toContain('fusionrank batch: interrupted (SIGINT); sigint/out.jsonl was not written');
    expect(readdirSync(at('sigint'))).toEqual([]);
  });

  it('names the npm install command when the format needs a missing optional peer', async () => {
    const missing = async (name: string) => {
      throw Object.assign(new Error(`Cannot find package '${name}'`), { code: 'ERR_FUSIONRANK_MISSING_DEPENDENCY' });
    };
    await expect(loadFormatPeer('arrow', missing)).rejects.toMatchObject({ code: 'ERR_FUSIONRANK_MISSING_DEPENDENCY', message: expect.stringContaining('Install it with: npm install apache-arrow') });
    await expect(loadFormatPeer('parquet', missing)).rejects.toMatchObject({ message: expect.stringContaining('npm install hyparquet-writer') });
    const other = Object.assign(new Error('boom'), { code: 'EACCES' });
    await expect(loadFormatPeer('arrow', () => Promise.reject(other))).rejects.toBe(other);
  });

  it('draws a bar on a TTY and writes plain lines elsewhere', () => {
    let now = 0;
    const clock = () => now;
    const writes: string[] = [];
    const tty = progressReporter({ isTTY: true, write: (s: string) => writes.push(s) > 0 }, clock);
    now = 50;
    tty.update(1, 10); // within the first 100 ms: not drawn
    now = 1000;
    tty.update(5, 10);
    now = 1050;
    tty.update(6, 10); // within 100 ms of the last draw: skipped
    tty.clear();
    expect(writes).toEqual(['\r[############............]  50% 5/10 requests, 5/s ETA 1 s\x1b[K', '\r\x1b[K']);
    const lines: string[] = [];
    now = 0;
    const plain = progressReporter({ isTTY: false, write: (s: string) => lines.push(s) > 0 }, clock);
    now = 4000;
    plain.update(3, 0);
    now = 6000;
    plain.update(30, 0);
    plain.clear();
    expect(lines).toEqual(['fusionrank batch: 30 requests, 5 requests/s\n']);
  });

  it('names JSON paths and formats its summary', () => {
    expect(jsonPath([])).toBe('(root)');
    expect(jsonPath(['rerank', 'features', 2, 'signal'])).toBe('rerank.features[2].signal');
    expect(jsonPath(['signals', 'a b'])).toBe('signals["a b"]');
    expect(formatBatchSummary({ requests: 1000, skipped: 2, items: 20000, seconds: 0.5, requestsPerSecond: 2000, output: 'o.arrow', format: 'arrow' })).toBe(
      'fusionrank batch: ranked 1000 requests in 0.50 s (2000 requests/s), wrote 20000 items to o.arrow (arrow); skipped 2 lines',
    );
  });
});
