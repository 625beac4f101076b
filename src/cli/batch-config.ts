/**
 * The ranker config file of `fusionrank batch`: `RankerOptions` as JSON,
 * with the models (`rerank.model`, `tower.model`) given as files relative to
 * the config file. The shape is checked with valibot (a coded error naming
 * the JSON path); what depends on the catalog (vector and field names, dims)
 * is left to `new Ranker`, whose messages name the same paths.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, resolve } from 'node:path';

import * as v from 'valibot';

import { FusionrankError } from '../errors.js';
import type { FusionMlp, FusionMlpOptions, SafetensorsSpec } from '../rerank/fusion-mlp.js';
import type { RankerOptions } from '../scoring/ranker.js';

const positiveInt = v.pipe(v.number(), v.integer(), v.minValue(1));
const finiteNumber = v.pipe(v.number(), v.finite());
const name = v.pipe(v.string(), v.minLength(1));
// Not v.looseObject({}): it accepts an array and outputs it as an object of its indices.
const jsonObject = v.custom<Record<string, unknown>>((x) => x !== null && typeof x === 'object' && !Array.isArray(x), 'Invalid type: Expected an object');

/**
 * A model file: a path to an `.onnx` file, or `{ path, spec?, missing?, precision? }`;
 * a `.safetensors` file needs `spec` (the layer spec of FusionMlp.fromSafetensors, inline or a JSON file).
 */
const modelRef = v.union([
  name,
  v.strictObject({
    path: name,
    spec: v.optional(v.union([name, jsonObject])),
    missing: v.optional(v.record(v.string(), v.unknown())),
    precision: v.optional(v.picklist(['f32', 'bf16'])),
  }),
]);

const weight = finiteNumber;
const signal = v.variant('kind', [
  v.strictObject({ kind: v.literal('similarity'), vector: name, weight }),
  v.strictObject({ kind: v.literal('behavior'), vector: name, weight }),
  v.strictObject({ kind: v.literal('engagement'), fields: v.pipe(v.array(name), v.minLength(1)), transform: v.optional(v.picklist(['log', 'sigmoid'])), scale: v.optional(finiteNumber), weight }),
  v.strictObject({ kind: v.literal('recency'), field: name, halfLife: v.union([name, finiteNumber]), decay: v.optional(v.picklist(['exp', 'gauss', 'linear'])), weight }),
  v.strictObject({ kind: v.literal('field'), field: name, transform: v.optional(v.picklist(['none', 'log', 'sqrt', 'sigmoid'])), scale: v.optional(finiteNumber), weight }),
]);
const normalizeMethod = v.picklist(['none', 'minmax', 'zscore', 'rank', 'rrf']);
const feature = v.union([
  v.strictObject({ vector: name }),
  v.strictObject({ present: name }),
  v.strictObject({ signal: name, raw: v.optional(v.boolean()) }),
  v.strictObject({ field: name }),
]);

/**
 * Every key of RankerOptions, each with its schema. `satisfies` makes the
 * compiler flag a key added to RankerOptions and not here, so a valid option
 * is never refused as unknown; nested parts the Ranker checks in detail
 * (retrieve, filter, blend, diversity, rules, userVectors) are only checked
 * for their JSON type here.
 */
const rankerKeys = {
  retrieve: v.optional(v.union([jsonObject, v.array(jsonObject)])),
  exactBelow: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  filter: v.optional(jsonObject),
  signals: v.record(name, signal),
  normalize: v.optional(v.union([normalizeMethod, v.strictObject({ method: normalizeMethod, k: v.optional(finiteNumber) })])),
  missing: v.optional(v.union([v.picklist(['renormalize', 'zero', 'drop']), v.strictObject({ default: finiteNumber })])),
  blend: v.optional(jsonObject),
  rerank: v.optional(
    v.strictObject({
      model: modelRef,
      top: v.optional(positiveInt),
      features: v.pipe(v.array(feature), v.minLength(1)),
      mode: v.optional(v.picklist(['replace', 'blend'])),
      weight: v.optional(finiteNumber),
      itemCache: v.optional(v.boolean()),
    }),
  ),
  diversity: v.optional(jsonObject),
  rules: v.optional(v.array(jsonObject)),
  k: v.optional(positiveInt),
  userVectors: v.optional(jsonObject),
  tower: v.optional(v.strictObject({ model: modelRef, vector: name })),
} satisfies Record<keyof RankerOptions, v.GenericSchema>;
const configSchema = v.strictObject(rankerKeys);

type ModelRef = v.InferOutput<typeof modelRef>;

/** `rerank.model` → `.rerank.model`, `signals.a b` → `.signals["a b"]`, `rules[0]`. */
export function jsonPath(keys: readonly unknown[]): string {
  if (keys.length === 0) return '(root)';
  return keys
    .map((k) => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z_$][\w$]*$/.test(String(k)) ? `.${String(k)}` : `[${JSON.stringify(String(k))}]`))
    .join('')
    .replace(/^\./, '');
}

/** The deepest issue (unions report their members' issues below their own). */
function deepest(issue: v.BaseIssue<unknown>): v.BaseIssue<unknown> {
  const nested = issue.issues?.filter((i) => (i.path?.length ?? 0) > (issue.path?.length ?? 0));
  return nested?.length ? deepest(nested[0]) : issue;
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new FusionrankError(`${what} ${path}: no such file`, 'ERR_FUSIONRANK_FILE_NOT_FOUND', { cause: error });
    throw new FusionrankError(`Cannot read ${what} ${path}: ${(error as Error).message}`, 'ERR_FUSIONRANK_FILE_READ', { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FusionrankError(`${what} ${path} is not valid JSON: ${(error as Error).message}`, 'ERR_FUSIONRANK_PARSE', { cause: error });
  }
}

function loadModel(ref: ModelRef, at: string, configPath: string, load: typeof FusionMlp): FusionMlp {
  const base = dirname(configPath);
  const { path, spec, ...rest } = typeof ref === 'string' ? { path: ref } : ref;
  const options: FusionMlpOptions = rest as FusionMlpOptions;
  const file = resolve(base, path);
  const where = `${configPath} at ${at}`;
  if (!existsSync(file) || !statSync(file).isFile()) throw new FusionrankError(`${where}: model file ${file} not found`, 'ERR_FUSIONRANK_FILE_NOT_FOUND');
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.onnx') {
      if (spec !== undefined) throw new FusionrankError(`${where}: "spec" is for .safetensors models; an .onnx file carries its own graph`, 'ERR_FUSIONRANK_INVALID_SPEC');
      return load.fromOnnx(file, options);
    }
    if (ext === '.safetensors') {
      if (spec === undefined)
        throw new FusionrankError(`${where}: a .safetensors model needs its layer spec: { "path": "${path}", "spec": "spec.json" or { "layers": [...] } }`, 'ERR_FUSIONRANK_INVALID_SPEC');
      const layers = typeof spec === 'string' ? readJson(resolve(base, spec), `${at}.spec`) : spec;
      return load.fromSafetensors(file, layers as SafetensorsSpec, options);
    }
  } catch (error) {
    const e = error as Error & { code?: string };
    if (e.message.startsWith(where)) throw error;
    // Keep the loader's class and code; say which model of which config failed.
    e.message = `${where} (${file}): ${e.message}`;
    throw error;
  }
  throw new FusionrankError(`${where}: ${file} is neither an .onnx nor a .safetensors file`, 'ERR_FUSIONRANK_INVALID_MODEL');
}

/**
 * Reads a ranker config file: checks its shape and loads the models it names.
 * @example
 * const options = await loadRankerConfig('ranker.json'); // { signals: {...}, rerank: { model: FusionMlp, ... } }
 * const ranker = new Ranker(catalog, options);
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND for a missing config or model file (naming the JSON path of the model)
 * @throws {FusionrankError} ERR_FUSIONRANK_PARSE when the file is not JSON
 * @throws {FusionrankError} ERR_FUSIONRANK_INVALID_SPEC naming the JSON path of the first value of the wrong shape or an unknown key
 * @throws {FusionrankError} ERR_FUSIONRANK_INVALID_MODEL for a model file that is neither .onnx nor .safetensors
 * @throws whatever FusionMlp.fromOnnx / fromSafetensors throw, the message prefixed with the config file and JSON path
 */
export async function loadRankerConfig(configPath: string): Promise<RankerOptions> {
  const json = readJson(configPath, '--config');
  const parsed = v.safeParse(configSchema, json);
  if (!parsed.success) {
    // A misspelt key gives two issues (the key expected, the key unknown): show both.
    const issues = parsed.issues.slice(0, 3).map(deepest);
    const text = issues.map((issue) => `at ${jsonPath((issue.path ?? []).map((p) => p.key))}: ${issue.message}`).join('; ');
    throw new FusionrankError(`Invalid ranker config ${configPath} ${text}${parsed.issues.length > 3 ? '; ...' : ''}`, 'ERR_FUSIONRANK_INVALID_SPEC');
  }
  const config = parsed.output;
  const { FusionMlp } = await import('../rerank/fusion-mlp.js');
  const options = { ...config } as unknown as RankerOptions;
  if (config.rerank) options.rerank = { ...config.rerank, model: loadModel(config.rerank.model, 'rerank.model', configPath, FusionMlp) } as RankerOptions['rerank'];
  if (config.tower) options.tower = { ...config.tower, model: loadModel(config.tower.model, 'tower.model', configPath, FusionMlp) };
  return options;
}
