/**
 * Readers for relevance judgments (qrels) and runs: TREC text formats, as
 * trec_eval reads them, and JSON lines. Pure TypeScript: no native addon.
 *
 * Like trec_eval: fields are whitespace-separated, a line whose first
 * non-blank character is `#` is a comment, the qrels iteration and the run's
 * Q0, rank and tag columns are ignored (the rank comes from the score), and
 * a document listed twice for one query is an error, in a run and in qrels
 * alike (trec_eval stops with "duplicate docs"). Unlike trec_eval: blank
 * lines are skipped in qrels too, labels may be fractional (trec_eval
 * truncates them to integers), and every number must parse whole (trec_eval's
 * atof/atol read `1.1.11` as 1.1 or 1).
 *
 * Results are plain objects; an id `__proto__` is stored as an own property.
 */
import { readFile } from 'node:fs/promises';

import { FusionrankError, invalidParameter, typeError } from '../errors.js';
import type { Qrels, Run } from './types.js';

type Table = Record<string, Record<string, number>>;

// A decimal number as trec_eval's files write them: 3, -1, 2.5, .5, 1e+8.
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const NON_FINITE = /^[+-]?(?:nan|inf|infinity)$/i;

function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}

function hasOwn(table: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(table, key);
}

function where(source: string, line: number): string {
  return `${source}:${line}`;
}

function parseError(source: string, line: number, message: string): FusionrankError {
  return new FusionrankError(`${where(source, line)}: ${message}`, 'ERR_FUSIONRANK_PARSE');
}

function show(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);
}

/** A finite number from a field, or the matching error. */
function numberField(field: string, what: string, source: string, line: number): number {
  if (NUMBER.test(field)) {
    const value = Number(field);
    if (Number.isFinite(value)) return value;
    throw new FusionrankError(`${where(source, line)}: the ${what} ${show(field)} is not finite`, 'ERR_FUSIONRANK_NON_FINITE');
  }
  if (NON_FINITE.test(field)) throw new FusionrankError(`${where(source, line)}: the ${what} ${show(field)} is not finite`, 'ERR_FUSIONRANK_NON_FINITE');
  throw parseError(source, line, `expected a number for the ${what} but found ${show(field)}`);
}

function checkText(text: unknown, source: unknown, name: string): void {
  if (typeof text !== 'string') throw typeError(invalidParameter(name, 'a string', text));
  if (typeof source !== 'string') throw typeError(invalidParameter('source', 'a string', source));
}

/** Calls `each(fields, lineNumber)` for every line that is neither blank nor a comment. */
function eachLine(text: string, each: (line: string, number: number) => void): void {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim(); // also drops the \r of CRLF
    if (line === '' || line[0] === '#') continue;
    each(line, i + 1);
  }
}

function add(table: Table, query: string, doc: string, value: number, source: string, line: number, what: 'qrels' | 'run'): void {
  let docs = hasOwn(table, query) ? table[query] : undefined;
  if (docs === undefined) {
    docs = {};
    setOwn(table, query, docs);
  }
  if (hasOwn(docs, doc))
    throw new FusionrankError(
      `${where(source, line)}: document ${show(doc)} is listed twice for query ${show(query)} (${what === 'qrels' ? 'a qrels file judges a document once' : 'a run ranks a document once'})`,
      'ERR_FUSIONRANK_DUPLICATE_DOC',
    );
  setOwn(docs, doc, value);
}

const QRELS_FORMAT = '4 whitespace-separated fields "query iteration doc relevance"';
const RUN_FORMAT = '6 whitespace-separated fields "query Q0 doc rank score tag"';

/**
 * Parses TREC qrels: one judgment a line, `query iteration doc relevance`.
 *
 * @param text the file's content
 * @param source the name used in error messages (a path)
 * @example
 * parseQrels('301 0 FBIS3-10082 1\n301 0 FBIS3-10169 0\n');
 * // { '301': { 'FBIS3-10082': 1, 'FBIS3-10169': 0 } }
 * @throws {FusionrankError} ERR_FUSIONRANK_PARSE for a line without 4 fields or with a relevance that is not a number (the message names source and line)
 * @throws {FusionrankError} ERR_FUSIONRANK_NON_FINITE for a NaN or infinite relevance
 * @throws {FusionrankError} ERR_FUSIONRANK_DUPLICATE_DOC when a document is judged twice for one query (trec_eval refuses that too)
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when text or source is not a string
 */
export function parseQrels(text: string, source = '<qrels>'): Qrels {
  checkText(text, source, 'text');
  const qrels: Qrels = {};
  eachLine(text, (line, n) => {
    const fields = line.split(/\s+/);
    if (fields.length !== 4) throw parseError(source, n, `expected ${QRELS_FORMAT} but found ${fields.length}: ${show(line)}`);
    add(qrels, fields[0], fields[2], numberField(fields[3], 'relevance', source, n), source, n, 'qrels');
  });
  return qrels;
}

/**
 * Parses a TREC run: one retrieved document a line, `query Q0 doc rank score tag`.
 * The ranking comes from the scores (trec_eval ignores the rank column too).
 *
 * @param text the file's content
 * @param source the name used in error messages (a path)
 * @example
 * parseRun('301 Q0 FBIS3-10082 1 14.56 bm25\n301 Q0 FBIS3-10243 2 12.34 bm25\n');
 * // { '301': { 'FBIS3-10082': 14.56, 'FBIS3-10243': 12.34 } }
 * @throws {FusionrankError} ERR_FUSIONRANK_PARSE for a line without 6 fields or with a score that is not a number (the message names source and line)
 * @throws {FusionrankError} ERR_FUSIONRANK_NON_FINITE for a NaN or infinite score
 * @throws {FusionrankError} ERR_FUSIONRANK_DUPLICATE_DOC when a query lists a document twice
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when text or source is not a string
 */
export function parseRun(text: string, source = '<run>'): Run {
  checkText(text, source, 'text');
  const run: Run = {};
  eachLine(text, (line, n) => {
    const fields = line.split(/\s+/);
    if (fields.length !== 6) throw parseError(source, n, `expected ${RUN_FORMAT} but found ${fields.length}: ${show(line)}`);
    add(run, fields[0], fields[2], numberField(fields[4], 'score', source, n), source, n, 'run');
  });
  return run;
}

/** An id field of a JSON line: a string, or an integer written as a JSON number. */
function idField(record: Record<string, unknown>, key: string, source: string, line: number): string {
  const value = hasOwn(record, key) ? record[key] : undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  throw parseError(source, line, `expected "${key}" to be a string but found ${value === undefined ? 'none' : JSON.stringify(value)}`);
}

function valueField(record: Record<string, unknown>, key: string, source: string, line: number): number {
  const value = hasOwn(record, key) ? record[key] : undefined;
  if (typeof value !== 'number') throw parseError(source, line, `expected "${key}" to be a number but found ${value === undefined ? 'none' : JSON.stringify(value)}`);
  // JSON has no NaN or Infinity, but 1e999 parses to Infinity.
  if (!Number.isFinite(value)) throw new FusionrankError(`${where(source, line)}: "${key}" is not finite`, 'ERR_FUSIONRANK_NON_FINITE');
  return value;
}

function parseJsonl(text: string, source: string, key: 'relevance' | 'score', what: 'qrels' | 'run'): Table {
  checkText(text, source, 'text');
  const table: Table = {};
  const shape = `{"query": ..., "doc": ..., "${key}": number}`;
  eachLine(text, (line, n) => {
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw parseError(source, n, `expected a JSON object ${shape} but the line is not JSON (${(error as Error).message})`);
    }
    if (record === null || typeof record !== 'object' || Array.isArray(record)) throw parseError(source, n, `expected a JSON object ${shape} but found ${show(line)}`);
    const fields = record as Record<string, unknown>;
    add(table, idField(fields, 'query', source, n), idField(fields, 'doc', source, n), valueField(fields, key, source, n), source, n, what);
  });
  return table;
}

/**
 * Parses qrels as JSON lines: one object a line, `{"query": "q1", "doc": "d7", "relevance": 2}`
 * (other keys ignored; ids may be integers). Blank lines and `#` lines are skipped.
 *
 * @example
 * parseQrelsJsonl('{"query":"q1","doc":"d7","relevance":2}\n'); // { q1: { d7: 2 } }
 * @throws {FusionrankError} ERR_FUSIONRANK_PARSE for a line that is not such an object (the message names source and line)
 * @throws {FusionrankError} ERR_FUSIONRANK_NON_FINITE for a relevance that overflows to infinity
 * @throws {FusionrankError} ERR_FUSIONRANK_DUPLICATE_DOC when a document is judged twice for one query
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when text or source is not a string
 */
export function parseQrelsJsonl(text: string, source = '<qrels>'): Qrels {
  return parseJsonl(text, source, 'relevance', 'qrels');
}

/**
 * Parses a run as JSON lines: one object a line, `{"query": "q1", "doc": "d7", "score": 0.83}`
 * (other keys ignored; ids may be integers). Blank lines and `#` lines are skipped.
 *
 * @example
 * parseRunJsonl('{"query":"q1","doc":"d7","score":0.83}\n'); // { q1: { d7: 0.83 } }
 * @throws {FusionrankError} ERR_FUSIONRANK_PARSE for a line that is not such an object (the message names source and line)
 * @throws {FusionrankError} ERR_FUSIONRANK_NON_FINITE for a score that overflows to infinity
 * @throws {FusionrankError} ERR_FUSIONRANK_DUPLICATE_DOC when a query lists a document twice
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when text or source is not a string
 */
export function parseRunJsonl(text: string, source = '<run>'): Run {
  return parseJsonl(text, source, 'score', 'run');
}

function isJsonl(path: string): boolean {
  return /\.(jsonl|ndjson)$/i.test(path);
}

async function readText(path: string): Promise<string> {
  if (typeof path !== 'string' || path === '') throw typeError(invalidParameter('path', 'a file path', path));
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new FusionrankError(`No such file: ${path}`, 'ERR_FUSIONRANK_FILE_NOT_FOUND', { cause: error });
    throw new FusionrankError(`Cannot read ${path}: ${(error as Error).message}`, 'ERR_FUSIONRANK_FILE_READ', { cause: error });
  }
}

/**
 * Reads a qrels file: `.jsonl` / `.ndjson` as JSON lines ({@link parseQrelsJsonl}),
 * anything else as TREC qrels ({@link parseQrels}). Errors name the path.
 *
 * @example
 * const qrels = await readQrels('data/qrels.dev.txt');
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND when the file does not exist; ERR_FUSIONRANK_FILE_READ when it cannot be read
 * @throws {FusionrankError} ERR_FUSIONRANK_PARSE, ERR_FUSIONRANK_NON_FINITE, ERR_FUSIONRANK_DUPLICATE_DOC as the parsers
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when path is not a non-empty string
 */
export async function readQrels(path: string): Promise<Qrels> {
  const text = await readText(path);
  return isJsonl(path) ? parseQrelsJsonl(text, path) : parseQrels(text, path);
}

/**
 * Reads a run file: `.jsonl` / `.ndjson` as JSON lines ({@link parseRunJsonl}),
 * anything else as a TREC run ({@link parseRun}). Errors name the path.
 *
 * @example
 * const run = await readRun('runs/bm25.trec');
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND when the file does not exist; ERR_FUSIONRANK_FILE_READ when it cannot be read
 * @throws {FusionrankError} ERR_FUSIONRANK_PARSE, ERR_FUSIONRANK_NON_FINITE, ERR_FUSIONRANK_DUPLICATE_DOC as the parsers
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when path is not a non-empty string
 */
export async function readRun(path: string): Promise<Run> {
  const text = await readText(path);
  return isJsonl(path) ? parseRunJsonl(text, path) : parseRun(text, path);
}
