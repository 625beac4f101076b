/**
 * The input of `fusionrank batch`: one rank request a line, as JSON, with an
 * `id`; read in chunks so memory stays bounded whatever the file's size.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

import { FusionrankError } from '../errors.js';
import type { RankQuery, RankRequest } from '../scoring/ranker.js';

/** One parsed line. */
export interface BatchRequest {
  id: string;
  /** 1-based line number in the input file. */
  line: number;
  request: RankRequest;
}

/** A line that could not be read as a request. */
export interface BadLine {
  line: number;
  error: FusionrankError;
}

/** A chunk of the input: the requests in file order and the lines refused. */
export interface InputChunk {
  requests: BatchRequest[];
  bad: BadLine[];
}

const REQUEST_KEYS = new Set(['id', 'query', 'fromHistory', 'exclude', 'filter', 'k', 'now', 'explain']);

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((x) => typeof x === 'string');
}

/**
 * Parses one line: `{"id": "u1", "query": {"visual": [0.1, ...]}, "fromHistory": ["p3"], "exclude": [...], "filter": {...}, "k": 20, "now": ...}`.
 * `fromHistory` may also sit inside `query`; `now` is epoch ms or an ISO date.
 * @example
 * parseRequestLine('{"id":"u1","query":{"text":[0.1,0.2]}}', 'in.jsonl', 1); // { id: 'u1', line: 1, request: { query: { text: Float32Array(2) } } }
 * @throws {FusionrankError} ERR_FUSIONRANK_PARSE naming `file:line` and the offending key
 */
export function parseRequestLine(text: string, file: string, line: number): BatchRequest {
  const bad = (why: string, cause?: unknown): never => {
    throw new FusionrankError(`${file}:${line}: ${why}`, 'ERR_FUSIONRANK_PARSE', { cause });
  };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    bad(`not valid JSON: ${(error as Error).message}`, error);
  }
  if (!isObject(value)) return bad('expected an object {"id": "u1", "query": {...}}');
  const id = typeof value.id === 'number' && Number.isFinite(value.id) ? String(value.id) : value.id;
  if (typeof id !== 'string' || !id) bad('"id" must be a non-empty string');
  for (const key of Object.keys(value)) if (!REQUEST_KEYS.has(key)) bad(`unknown key "${key}" (expected ${[...REQUEST_KEYS].join(', ')})`);

  const request: RankRequest = {};
  const query: RankQuery = {};
  let hasQuery = false;
  if (value.query !== undefined) {
    if (!isObject(value.query)) bad('"query" must be an object of vectors {"visual": [0.1, ...]}');
    for (const [name, vec] of Object.entries(value.query as Record<string, unknown>)) {
      if (name === 'fromHistory') {
        if (!stringArray(vec)) bad('"query.fromHistory" must be an array of item ids');
        query.fromHistory = vec as string[];
      } else if (name === 'userFeatures' && isObject(vec)) {
        const features: Record<string, Float32Array> = {};
        for (const [input, row] of Object.entries(vec)) {
          if (!Array.isArray(row) || !row.every((x) => typeof x === 'number')) bad(`"query.userFeatures.${input}" must be an array of numbers`);
          features[input] = Float32Array.from(row as number[]);
        }
        query.userFeatures = features;
      } else {
        if (!Array.isArray(vec) || !vec.every((x) => typeof x === 'number')) bad(`"query.${name}" must be an array of numbers`);
        query[name] = Float32Array.from(vec as number[]);
      }
      hasQuery = true;
    }
  }
  if (value.fromHistory !== undefined) {
    if (!stringArray(value.fromHistory)) bad('"fromHistory" must be an array of item ids');
    if (query.fromHistory !== undefined) bad('"fromHistory" is given both at the top level and in "query"');
    query.fromHistory = value.fromHistory as string[];
    hasQuery = true;
  }
  if (hasQuery) request.query = query;
  if (value.exclude !== undefined) {
    if (!stringArray(value.exclude)) bad('"exclude" must be an array of item ids');
    request.exclude = value.exclude as string[];
  }
  if (value.filter !== undefined) {
    if (!isObject(value.filter)) bad('"filter" must be an object such as {"safe": true}');
    request.filter = value.filter as RankRequest['filter'];
  }
  if (value.k !== undefined) {
    if (typeof value.k !== 'number' || !Number.isInteger(value.k) || value.k < 1 || value.k > 10000) bad('"k" must be an integer in [1, 10000]');
    request.k = value.k as number;
  }
  if (value.now !== undefined) {
    const now = typeof value.now === 'string' ? Date.parse(value.now) : value.now;
    if (typeof now !== 'number' || !Number.isFinite(now)) bad('"now" must be epoch milliseconds or an ISO date');
    request.now = now as number;
  }
  if (value.explain !== undefined) {
    if (typeof value.explain !== 'boolean') bad('"explain" must be true or false');
    request.explain = value.explain as boolean;
  }
  return { id: id as string, line, request };
}

/** True for a line to skip: blank or a `#` comment. */
function skipLine(text: string): boolean {
  const t = text.trim();
  return t === '' || t.startsWith('#');
}

/**
 * Counts the request lines of a file (not blank, not `#`) without parsing
 * them, for the progress bar's total.
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_READ when the file cannot be read
 */
export async function countRequestLines(path: string): Promise<number> {
  let count = 0;
  // 0: only whitespace so far on this line; 1: a comment; 2: content.
  let state = 0;
  try {
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      for (let i = 0; i < chunk.length; i++) {
        const c = chunk[i];
        if (c === 0x0a) {
          if (state === 2) count++;
          state = 0;
        } else if (state === 0 && c !== 0x20 && c !== 0x09 && c !== 0x0d) {
          state = c === 0x23 ? 1 : 2;
        }
      }
    }
  } catch (error) {
    throw new FusionrankError(`Cannot read --input ${path}: ${(error as Error).message}`, 'ERR_FUSIONRANK_FILE_READ', { cause: error });
  }
  return state === 2 ? count + 1 : count;
}

/**
 * Reads the input file in chunks of `chunkSize` request lines. A bad line is
 * thrown (`onError: 'fail'`) or returned in the chunk's `bad` list (`'skip'`).
 * Duplicate ids are bad lines: the output is keyed by id.
 * @example
 * for await (const { requests, bad } of readRequestChunks('users.jsonl', { chunkSize: 4096, onError: 'skip' })) { ... }
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND / ERR_FUSIONRANK_FILE_READ; ERR_FUSIONRANK_PARSE / ERR_FUSIONRANK_DUPLICATE_NAME naming file:line (with 'fail')
 */
export async function* readRequestChunks(path: string, options: { chunkSize: number; onError: 'fail' | 'skip'; signal?: AbortSignal }): AsyncGenerator<InputChunk> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<void>((resolveOpen, rejectOpen) => {
    stream.once('open', () => resolveOpen());
    stream.once('error', rejectOpen);
  });
  try {
    await opened;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new FusionrankError(`--input ${path}: no such file`, 'ERR_FUSIONRANK_FILE_NOT_FOUND', { cause: error });
    throw new FusionrankError(`Cannot read --input ${path}: ${(error as Error).message}`, 'ERR_FUSIONRANK_FILE_READ', { cause: error });
  }
  // An abort ends the read at once, even while waiting on a slow input (a pipe).
  const stop = () => stream.destroy();
  options.signal?.addEventListener('abort', stop, { once: true });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  const seen = new Set<string>();
  let chunk: InputChunk = { requests: [], bad: [] };
  let lineNo = 0;
  try {
    for await (const text of lines) {
      lineNo++;
      if (skipLine(text)) continue;
      try {
        const parsed = parseRequestLine(text, path, lineNo);
        if (seen.has(parsed.id)) throw new FusionrankError(`${path}:${lineNo}: request id ${JSON.stringify(parsed.id)} appears on an earlier line`, 'ERR_FUSIONRANK_DUPLICATE_NAME');
        seen.add(parsed.id);
        chunk.requests.push(parsed);
      } catch (error) {
        if (options.onError === 'fail') throw error;
        chunk.bad.push({ line: lineNo, error: error as FusionrankError });
      }
      if (chunk.requests.length >= options.chunkSize) {
        yield chunk;
        chunk = { requests: [], bad: [] };
        if (options.signal?.aborted) return;
      }
    }
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith('ERR_FUSIONRANK_')) throw error;
    throw new FusionrankError(`Cannot read --input ${path}: ${(error as Error).message}`, 'ERR_FUSIONRANK_FILE_READ', { cause: error });
  } finally {
    options.signal?.removeEventListener('abort', stop);
    lines.close();
    stream.destroy();
  }
  if ((chunk.requests.length || chunk.bad.length) && !options.signal?.aborted) yield chunk;
}
