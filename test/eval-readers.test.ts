// The qrels and run readers: TREC text formats and JSON lines.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { parseQrels, parseQrelsJsonl, parseRun, parseRunJsonl, readQrels, readRun } from '../src/eval/readers.js';

function errorOf(f: () => unknown): Error & { code?: string } {
  try {
    f();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('parseQrels', () => {
  it('reads query, doc and label; ignores the iteration column', () => {
    expect(parseQrels('301 0 FBIS3-10082 1\n301 0 FBIS3-10169 0\n302 Q0 LA-1 2\n')).toEqual({
      '301': { 'FBIS3-10082': 1, 'FBIS3-10169': 0 },
      '302': { 'LA-1': 2 },
    });
  });

  it('accepts tabs, runs of blanks, trailing whitespace, blank lines, CRLF, comments and a BOM', () => {
    const text = '\ufeff# judged by A\r\n301\t0\ta\t1  \r\n\r\n   \n  # indented comment\n301   0  b   -1\t\r\n302 0 c 2.5';
    expect(parseQrels(text)).toEqual({ '301': { a: 1, b: -1 }, '302': { c: 2.5 } });
    expect(parseQrels('')).toEqual({});
  });

  it('ERR_FUSIONRANK_PARSE names the file and the 1-based line and says what was expected', () => {
    const error = errorOf(() => parseQrels('301 0 a 1\n\n301 0 b\n', 'qrels.txt'));
    expect(error.code).toBe('ERR_FUSIONRANK_PARSE');
    expect(error.message).toBe('qrels.txt:3: expected 4 whitespace-separated fields "query iteration doc relevance" but found 3: "301 0 b"');
    const label = errorOf(() => parseQrels('301 0 a 1.1.11\n', 'q'));
    expect(label.code).toBe('ERR_FUSIONRANK_PARSE');
    expect(label.message).toBe('q:1: expected a number for the relevance but found "1.1.11"');
    expect(errorOf(() => parseQrels('301 0 a 0x37')).code).toBe('ERR_FUSIONRANK_PARSE');
    expect(errorOf(() => parseQrels('301 0 a 1 extra')).code).toBe('ERR_FUSIONRANK_PARSE');
    expect(errorOf(() => parseQrels('301 0 a')).message).toMatch(/^<qrels>:1: /);
  });

  it('ERR_FUSIONRANK_NON_FINITE for NaN or infinite labels, with file and line', () => {
    for (const label of ['nan', 'NaN', 'inf', '-Infinity', '1e999']) {
      const error = errorOf(() => parseQrels(`301 0 a 1\n301 0 b ${label}\n`, 'qrels.txt'));
      expect(error.code, label).toBe('ERR_FUSIONRANK_NON_FINITE');
      expect(error.message).toMatch(/^qrels\.txt:2: /);
    }
  });

  it('ERR_FUSIONRANK_DUPLICATE_DOC for a document judged twice for one query (trec_eval refuses it too)', () => {
    const error = errorOf(() => parseQrels('301 0 a 1\n302 0 a 1\n301 0 a 0\n', 'qrels.txt'));
    expect(error.code).toBe('ERR_FUSIONRANK_DUPLICATE_DOC');
    expect(error.message).toContain('qrels.txt:3');
    expect(error.message).toContain('"a"');
    expect(error.message).toContain('"301"');
  });

  it('keeps ids __proto__ as own keys', () => {
    const qrels = parseQrels('__proto__ 0 __proto__ 1\n__proto__ 0 constructor 2\n');
    expect(Object.keys(qrels)).toEqual(['__proto__']);
    const docs = Object.getOwnPropertyDescriptor(qrels, '__proto__')?.value as Record<string, number>;
    expect(Object.keys(docs)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(docs, '__proto__')?.value).toBe(1);
    expect(Object.getPrototypeOf(docs)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(qrels))).toEqual(JSON.parse('{"__proto__":{"__proto__":1,"constructor":2}}'));
    expect(errorOf(() => parseQrels('q 0 __proto__ 1\nq 0 __proto__ 1\n')).code).toBe('ERR_FUSIONRANK_DUPLICATE_DOC');
  });

  it('ERR_FUSIONRANK_INVALID_ARGUMENT when text is not a string', () => {
    expect(errorOf(() => parseQrels(Buffer.from('q 0 a 1') as unknown as string)).code).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
  });
});

describe('parseRun', () => {
  it('reads query, doc and score; ignores Q0, rank and tag', () => {
    const text = '301\tQ0\tFR940202-2-00150\t104\t  2.129133\tSTANDARD\n301 Q0 FBIS3-9399 4 3.215889 STANDARD\r\n# done\n';
    expect(parseRun(text)).toEqual({ '301': { 'FR940202-2-00150': 2.129133, 'FBIS3-9399': 3.215889 } });
    expect(parseRun('q Q0 d 1 -1.5e-3 t\n')).toEqual({ q: { d: -0.0015 } });
  });

  it('ERR_FUSIONRANK_PARSE names the file and line and says what was expected', () => {
    const error = errorOf(() => parseRun('q Q0 a 1 0.5 t\nq Q0 b 2 0.4\n', 'run.trec'));
    expect(error.code).toBe('ERR_FUSIONRANK_PARSE');
    expect(error.message).toBe('run.trec:2: expected 6 whitespace-separated fields "query Q0 doc rank score tag" but found 5: "q Q0 b 2 0.4"');
    const score = errorOf(() => parseRun('q Q0 a 1 high t\n', 'run.trec'));
    expect(score.message).toBe('run.trec:1: expected a number for the score but found "high"');
  });

  it('ERR_FUSIONRANK_NON_FINITE for NaN or infinite scores, with file and line', () => {
    const error = errorOf(() => parseRun('q Q0 a 1 0.5 t\n\nq Q0 b 2 -inf t\n', 'run.trec'));
    expect(error.code).toBe('ERR_FUSIONRANK_NON_FINITE');
    expect(error.message).toMatch(/^run\.trec:3: /);
  });

  it('ERR_FUSIONRANK_DUPLICATE_DOC names file, line, query and doc', () => {
    const error = errorOf(() => parseRun('q1 Q0 a 1 0.5 t\nq2 Q0 a 1 0.5 t\nq1 Q0 a 2 0.4 t\n', 'run.trec'));
    expect(error.code).toBe('ERR_FUSIONRANK_DUPLICATE_DOC');
    expect(error.message).toBe('run.trec:3: document "a" is listed twice for query "q1" (a run ranks a document once)');
  });

  it('keeps ids __proto__ as own keys', () => {
    const run = parseRun('__proto__ Q0 __proto__ 1 2 t\n');
    expect(Object.keys(run)).toEqual(['__proto__']);
    expect(JSON.stringify(run)).toBe('{"__proto__":{"__proto__":2}}');
  });
});

describe('JSON lines', () => {
  it('reads qrels and runs, ids as strings or integers, other keys ignored', () => {
    const qrels = parseQrelsJsonl('{"query":"q1","doc":"d1","relevance":2}\r\n\n{"query":301,"doc":7,"relevance":0,"iteration":0}\n');
    expect(qrels).toEqual({ q1: { d1: 2 }, '301': { '7': 0 } });
    expect(parseRunJsonl('{"query":"q1","doc":"d1","score":0.5,"rank":1}\n{"query":"q1","doc":"d2","score":-1}')).toEqual({ q1: { d1: 0.5, d2: -1 } });
  });

  it('ERR_FUSIONRANK_PARSE for a line that is not the expected object, naming file and line', () => {
    const bad = errorOf(() => parseRunJsonl('{"query":"q","doc":"a","score":1}\n{"query":"q",', 'run.jsonl'));
    expect(bad.code).toBe('ERR_FUSIONRANK_PARSE');
    expect(bad.message).toMatch(/^run\.jsonl:2: expected a JSON object \{"query": \.\.\., "doc": \.\.\., "score": number\} but the line is not JSON/);
    expect(errorOf(() => parseRunJsonl('[1,2]', 'r')).message).toBe('r:1: expected a JSON object {"query": ..., "doc": ..., "score": number} but found "[1,2]"');
    expect(errorOf(() => parseRunJsonl('{"query":"q","doc":"a","score":"1"}', 'r')).message).toBe('r:1: expected "score" to be a number but found "1"');
    expect(errorOf(() => parseQrelsJsonl('{"query":"q","doc":"a"}', 'q')).message).toBe('q:1: expected "relevance" to be a number but found none');
    expect(errorOf(() => parseQrelsJsonl('{"query":"q","doc":1.5,"relevance":1}', 'q')).message).toBe('q:1: expected "doc" to be a string but found 1.5');
    expect(errorOf(() => parseQrelsJsonl('{"query":null,"doc":"a","relevance":1}', 'q')).code).toBe('ERR_FUSIONRANK_PARSE');
  });

  it('ERR_FUSIONRANK_NON_FINITE for a number that overflows, ERR_FUSIONRANK_DUPLICATE_DOC for a repeat', () => {
    const big = errorOf(() => parseRunJsonl('{"query":"q","doc":"a","score":1e999}', 'r'));
    expect(big.code).toBe('ERR_FUSIONRANK_NON_FINITE');
    expect(big.message).toMatch(/^r:1: /);
    const twice = errorOf(() => parseQrelsJsonl('{"query":"q","doc":"a","relevance":1}\n{"query":"q","doc":"a","relevance":1}', 'q.jsonl'));
    expect(twice.code).toBe('ERR_FUSIONRANK_DUPLICATE_DOC');
    expect(twice.message).toMatch(/^q\.jsonl:2: /);
  });

  it('keeps ids __proto__ as own keys', () => {
    const run = parseRunJsonl('{"query":"__proto__","doc":"__proto__","score":1}');
    expect(JSON.stringify(run)).toBe('{"__proto__":{"__proto__":1}}');
  });
});

describe('readQrels / readRun', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fusionrank-readers-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('picks the format by extension', async () => {
    writeFileSync(join(dir, 'qrels.txt'), '301 0 a 1\n');
    writeFileSync(join(dir, 'qrels.jsonl'), '{"query":"301","doc":"a","relevance":1}\n');
    writeFileSync(join(dir, 'run.trec'), '301 Q0 a 1 0.5 t\n');
    writeFileSync(join(dir, 'run.NDJSON'), '{"query":"301","doc":"a","score":0.5}\n');
    expect(await readQrels(join(dir, 'qrels.txt'))).toEqual({ '301': { a: 1 } });
    expect(await readQrels(join(dir, 'qrels.jsonl'))).toEqual({ '301': { a: 1 } });
    expect(await readRun(join(dir, 'run.trec'))).toEqual({ '301': { a: 0.5 } });
    expect(await readRun(join(dir, 'run.NDJSON'))).toEqual({ '301': { a: 0.5 } });
  });

  it("reads trec_eval's published test files, comments and all", async () => {
    // usnistgov/trec_eval test/ files; see fixtures/eval/trec-README.md.
    const fixtures = fileURLToPath(new URL('./fixtures/eval/', import.meta.url));
    const qrels = await readQrels(join(fixtures, 'trec-qrels.test.with-comments'));
    const run = await readRun(join(fixtures, 'trec-results.comment.test'));
    expect(Object.keys(qrels).map((q) => Object.keys(qrels[q]).length)).toEqual([1708, 1061, 912]);
    expect(qrels['301']['CR#93E-1860']).toBe(0); // a '#' inside a line is no comment
    expect(Object.keys(run).map((q) => Object.keys(run[q]).length)).toEqual([500, 500, 500]);
    expect(run['301']['FR940202-2-00150']).toBe(2.129133);
    expect(run['303']['LA123089-0107']).toBe(0.85209);
  });

  it('names the path in parse errors', async () => {
    const path = join(dir, 'broken.qrels');
    writeFileSync(path, '301 0 a 1\n301 0 b\n');
    const error = await rejection(readQrels(path));
    expect(error.code).toBe('ERR_FUSIONRANK_PARSE');
    expect(error.message.startsWith(`${path}:2: `)).toBe(true);
  });

  it('ERR_FUSIONRANK_FILE_NOT_FOUND for a missing file; ERR_FUSIONRANK_FILE_READ for a directory', async () => {
    const missing = await rejection(readRun(join(dir, 'nope.trec')));
    expect(missing.code).toBe('ERR_FUSIONRANK_FILE_NOT_FOUND');
    expect(missing.message).toContain('nope.trec');
    expect((await rejection(readQrels(join(dir, 'nope', 'qrels.txt')))).code).toBe('ERR_FUSIONRANK_FILE_NOT_FOUND');
    expect((await rejection(readQrels(dir))).code).toBe('ERR_FUSIONRANK_FILE_READ');
    expect((await rejection(readQrels(5 as unknown as string))).code).toBe('ERR_FUSIONRANK_INVALID_ARGUMENT');
  });
});
