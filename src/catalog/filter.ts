/**
 * Metadata filters, compiled once into a native predicate over catalog
 * columns. Evaluated per row in the core, during graph search and scans.
 *
 * Shape (keys of one object are ANDed):
 *   { safe: true, contentType: { in: ['meme', 'mixed'] }, price: { lte: 100 },
 *     tags: { any: ['cat'] }, createdAt: { gte: t }, creator: { ne: 'x' },
 *     likes: { exists: true }, hasVector: 'visual',
 *     or: [{...}, {...}], and: [...], not: {...} }
 */
import { invalidParameter, rangeError, typeError } from '../errors.js';
import { lookupField, lookupVector, type CatalogInternals, type FieldInfo } from './catalog.js';
import type { NativeFilter } from './native-types.js';

export type Condition =
  | number
  | string
  | boolean
  | Date
  | {
      eq?: unknown;
      ne?: unknown;
      in?: readonly unknown[];
      nin?: readonly unknown[];
      gt?: number | Date;
      gte?: number | Date;
      lt?: number | Date;
      lte?: number | Date;
      any?: readonly string[];
      all?: readonly string[];
      exists?: boolean;
    };

export interface FilterSpec {
  and?: readonly FilterSpec[];
  or?: readonly FilterSpec[];
  not?: FilterSpec;
  /** Only items that have this named vector. */
  hasVector?: string;
  [field: string]: Condition | readonly FilterSpec[] | FilterSpec | string | undefined;
}

const OPERATORS = ['eq', 'ne', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'any', 'all', 'exists'];

function badValue(path: string, expected: string, value: unknown): TypeError {
  return typeError(invalidParameter(path, expected, value), 'ERR_FUSIONRANK_INVALID_FILTER');
}

function timeOrNumber(f: FieldInfo, path: string, value: unknown): number {
  if (value instanceof Date && f.type === 'time') return value.getTime();
  if (typeof value !== 'number' || Number.isNaN(value)) throw badValue(path, f.type === 'time' ? 'a time (epoch ms or Date)' : 'a number', value);
  return value;
}

function compileCondition(f: FieldInfo, path: string, condition: unknown): NativeFilter {
  const isObject = condition !== null && typeof condition === 'object' && !Array.isArray(condition) && !(condition instanceof Date);
  if (!isObject) {
    // Shorthand: equality, or "contains" for tags.
    return f.type === 'tags' ? compileCondition(f, path, { any: [condition] }) : compileCondition(f, path, { eq: condition });
  }
  const entries = Object.entries(condition as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) throw badValue(path, 'a condition such as { eq: ... }', condition);
  const parts: NativeFilter[] = [];
  for (const [op, value] of entries) {
    const where = `${path}.${op}`;
    if (!OPERATORS.includes(op)) throw rangeError(`Unknown filter operator '${op}' at ${path}; valid operators: ${OPERATORS.join(', ')}`, 'ERR_FUSIONRANK_INVALID_FILTER');
    if (op === 'exists') {
      if (typeof value !== 'boolean') throw badValue(where, 'a boolean', value);
      const node: NativeFilter = { op: 'exists', column: f.index };
      parts.push(value ? node : { op: 'not', children: [node] });
      continue;
    }
    switch (f.type) {
      case 'number':
      case 'time': {
        if (op === 'eq' || op === 'ne') {
          const v = timeOrNumber(f, where, value);
          const node: NativeFilter = { op: 'range', column: f.index, lo: v, hi: v };
          parts.push(op === 'eq' ? node : { op: 'not', children: [node] });
        } else if (op === 'in' || op === 'nin') {
          if (!Array.isArray(value)) throw badValue(where, 'an array', value);
          const node: NativeFilter = { op: 'or', children: value.map((v, i) => { const x = timeOrNumber(f, `${where}[${i}]`, v); return { op: 'range', column: f.index, lo: x, hi: x }; }) };
          parts.push(op === 'in' ? node : { op: 'not', children: [node] });
        } else if (op === 'gt' || op === 'gte' || op === 'lt' || op === 'lte') {
          const v = timeOrNumber(f, where, value);
          parts.push(op[0] === 'g' ? { op: 'range', column: f.index, lo: v, loOpen: op === 'gt' } : { op: 'range', column: f.index, hi: v, hiOpen: op === 'lt' });
        } else {
          throw rangeError(`Operator '${op}' does not apply to ${f.type} field '${f.name}'`, 'ERR_FUSIONRANK_INVALID_FILTER');
        }
        break;
      }
      case 'bool':
      case 'category': {
        const code = (v: unknown, at: string): number => {
          if (f.type === 'bool') {
            if (typeof v !== 'boolean') throw badValue(at, 'a boolean', v);
            return v ? 1 : 0;
          }
          if (typeof v !== 'string') throw badValue(at, 'a string', v);
          // Interned now, so items added later with this value match too.
          return f.dictionary!.intern(v);
        };
        if (op === 'eq' || op === 'ne') {
          const node: NativeFilter = { op: 'in', column: f.index, codes: [code(value, where)] };
          parts.push(op === 'eq' ? node : { op: 'not', children: [node] });
        } else if (op === 'in' || op === 'nin') {
          if (!Array.isArray(value)) throw badValue(where, 'an array', value);
          const node: NativeFilter = { op: 'in', column: f.index, codes: value.map((v, i) => code(v, `${where}[${i}]`)) };
          parts.push(op === 'in' ? node : { op: 'not', children: [node] });
        } else {
          throw rangeError(`Operator '${op}' does not apply to ${f.type} field '${f.name}'`, 'ERR_FUSIONRANK_INVALID_FILTER');
        }
        break;
      }
      case 'tags': {
        if (op !== 'any' && op !== 'all') throw rangeError(`Operator '${op}' does not apply to tags field '${f.name}'; use any / all`, 'ERR_FUSIONRANK_INVALID_FILTER');
        if (!Array.isArray(value) || value.some((t) => typeof t !== 'string')) throw badValue(where, 'an array of strings', value);
        parts.push({ op: op === 'any' ? 'tagsAny' : 'tagsAll', column: f.index, codes: value.map((t: string) => f.dictionary!.intern(t)) });
        break;
      }
    }
  }
  return parts.length === 1 ? parts[0] : { op: 'and', children: parts };
}

/**
 * Compiles a filter against a catalog's schema.
 * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_FIELD naming the valid fields
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_FILTER for a value of the wrong type
 */
export function compileFilter(catalog: CatalogInternals, spec: unknown, path = 'filter', depth = 0): NativeFilter {
  if (depth > 32) throw rangeError(`${path} nests too deeply`, 'ERR_FUSIONRANK_INVALID_FILTER');
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw badValue(path, 'a filter object', spec);
  const parts: NativeFilter[] = [];
  for (const [key, value] of Object.entries(spec as Record<string, unknown>)) {
    if (value === undefined) continue;
    const where = `${path}.${key}`;
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(value)) throw badValue(where, 'an array of filters', value);
      parts.push({ op: key, children: value.map((child, i) => compileFilter(catalog, child, `${where}[${i}]`, depth + 1)) });
    } else if (key === 'not') {
      parts.push({ op: 'not', children: [compileFilter(catalog, value, where, depth + 1)] });
    } else if (key === 'hasVector') {
      if (typeof value !== 'string') throw badValue(where, 'a vector name', value);
      parts.push({ op: 'hasVector', column: lookupVector(catalog.vectors, value).index });
    } else {
      parts.push(compileCondition(lookupField(catalog.fields, key), where, value));
    }
  }
  if (parts.length === 0) return { op: 'true' };
  return parts.length === 1 ? parts[0] : { op: 'and', children: parts };
}

