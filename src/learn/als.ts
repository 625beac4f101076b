/**
 * Implicit-feedback matrix factorisation (Hu, Koren & Volinsky 2008) by
 * alternating least squares with conjugate-gradient row updates, in the
 * native core on every core; closed-form fold-in of new users.
 */
import { availableParallelism } from 'node:os';

import type { Catalog } from '../catalog/catalog.js';
import { invalidParameter, rangeError, typeError, withCallerStack } from '../errors.js';
import { native, type NativeBinding } from '../native.js';
import { rng } from '../util/random.js';

interface AlsNative {
  fitAls(
    users: Uint32Array,
    items: Uint32Array,
    weights: Float32Array | null,
    nUsers: number,
    nItems: number,
    options: {
      factors: number;
      regularization: number;
      alpha: number;
      iterations: number;
      cgSteps: number;
      seed: number;
      threads: number;
      loss: boolean;
      userInit?: Float32Array;
      itemInit?: Float32Array;
    },
  ): Promise<{ userFactors: Float32Array; itemFactors: Float32Array; loss: Float64Array; pairs: number; solveFlops: number; seconds: number }>;
  alsGram(rows: Float32Array, n: number, factors: number): Float64Array;
  alsFoldIn(
    itemFactors: Float32Array,
    nItems: number,
    factors: number,
    gram: Float64Array,
    regularization: number,
    alpha: number,
    items: Uint32Array,
    weights: Float32Array | null,
  ): Float32Array;
}

const binding = native as unknown as NativeBinding & AlsNative;

/** One interaction: a user touched an item, `weight` times (views, seconds, purchases: ≥ 0, default 1). */
export interface Interaction {
  user: string;
  item: string;
  weight?: number;
}

/**
 * Interactions as parallel typed arrays: `users[k]` and `items[k]` are row
 * numbers, named by `userIds` / `itemIds` when given (rows must then be below
 * their length) and by their decimal string otherwise.
 */
export interface InteractionArrays {
  users: Uint32Array;
  items: Uint32Array;
  weights?: Float32Array;
  userIds?: readonly string[];
  itemIds?: readonly string[];
}

export interface AlsOptions {
  /** Latent dimension (default 64; 1 to 1024). */
  factors?: number;
  /** λ, the L2 penalty on every factor (default 0.01). */
  regularization?: number;
  /** Confidence c = 1 + alpha · weight (default 1). */
  alpha?: number;
  /** Alternations of a user step and an item step (default 15). */
  iterations?: number;
  /** Conjugate-gradient steps per row update (default 3, as the `implicit` library). */
  cgSteps?: number;
  /** Seed of the random start (default 42): the same seed and threads give the same factors. */
  seed?: number;
  /** Threads of the solver (default: every core). */
  threads?: number;
  /** Compute the objective after each iteration (default true; costs about one extra pass over the interactions). */
  loss?: boolean;
  /**
   * Warm start: a previous model (same `factors`) whose users' and items'
   * factors start the solve, matched by id; ids it lacks start at random.
   */
  init?: Pick<AlsModel, 'users' | 'items' | 'factors' | 'userFactors' | 'itemFactors'>;
}

export interface AlsModel {
  /** User ids, in the order of `userFactors`' rows. */
  users: string[];
  /** Item ids, in the order of `itemFactors`' rows. */
  items: string[];
  factors: number;
  /** users × factors, row-major. */
  userFactors: Float32Array;
  /** items × factors, row-major. */
  itemFactors: Float32Array;
  /** Σ c (p − x·y)² + λ(‖X‖² + ‖Y‖²) over every (user, item) pair after each iteration (empty with `loss: false`). */
  loss: number[];
  regularization: number;
  alpha: number;
  /** Distinct (user, item) pairs; solver wall time; the row updates' floating-point operations per second. */
  stats: { pairs: number; seconds: number; gflops: number };
}

function integer(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw typeError(invalidParameter(name, `an integer in [${min}, ${max}]`, value));
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(invalidParameter(name, `an integer in [${min}, ${max}]`, value));
  return value;
}

function nonNegative(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw typeError(invalidParameter(name, 'a finite number ≥ 0', value));
  if (!Number.isFinite(value)) throw rangeError(invalidParameter(name, 'a finite number ≥ 0', value), 'ERR_FUSIONRANK_NON_FINITE');
  if (value < 0) throw rangeError(invalidParameter(name, 'a finite number ≥ 0', value));
  return value;
}

function id(value: unknown, name: string): string {
  if (typeof value !== 'string') throw typeError(invalidParameter(name, 'a non-empty string', value), 'ERR_FUSIONRANK_INVALID_ID');
  if (value.length === 0) throw rangeError(invalidParameter(name, 'a non-empty string', value), 'ERR_FUSIONRANK_INVALID_ID');
  return value;
}

function ids(list: readonly string[] | undefined, name: string, rows: Uint32Array): string[] {
  if (list === undefined) {
    let max = -1;
    for (let k = 0; k < rows.length; k++) if (rows[k] > max) max = rows[k];
    return Array.from({ length: max + 1 }, (_, r) => String(r));
  }
  if (!Array.isArray(list)) throw typeError(invalidParameter(name, 'an array of ids', list));
  const seen = new Set<string>();
  list.forEach((v, r) => {
    id(v, `${name}[${r}]`);
    if (seen.has(v)) throw rangeError(`Duplicate id '${v}' in ${name}`, 'ERR_FUSIONRANK_DUPLICATE_ID');
    seen.add(v);
  });
  for (let k = 0; k < rows.length; k++)
    if (rows[k] >= list.length) throw rangeError(`Expected rows below ${name}.length (${list.length}) but row ${rows[k]} at index ${k} names no id`, 'ERR_FUSIONRANK_INVALID_ID');
  return [...list];
}

/** Coordinates and id lists from either input form; every id and weight checked. */
function readInteractions(interactions: unknown): { users: Uint32Array; items: Uint32Array; weights: Float32Array | null; userIds: string[]; itemIds: string[] } {
  if (Array.isArray(interactions)) {
    if (interactions.length === 0) throw rangeError('Expected at least one interaction', 'ERR_FUSIONRANK_EMPTY_INPUT');
    const userRow = new Map<string, number>();
    const itemRow = new Map<string, number>();
    const users = new Uint32Array(interactions.length);
    const items = new Uint32Array(interactions.length);
    let weights: Float32Array | null = null;
    interactions.forEach((entry: unknown, k) => {
      if (typeof entry !== 'object' || entry === null) throw typeError(invalidParameter(`interactions[${k}]`, '{ user, item, weight? }', entry));
      const e = entry as Partial<Interaction>;
      const user = id(e.user, `interactions[${k}].user`);
      const item = id(e.item, `interactions[${k}].item`);
      let u = userRow.get(user);
      if (u === undefined) userRow.set(user, (u = userRow.size));
      let i = itemRow.get(item);
      if (i === undefined) itemRow.set(item, (i = itemRow.size));
      users[k] = u;
      items[k] = i;
      if (e.weight !== undefined) {
        weights ??= new Float32Array(interactions.length).fill(1);
        weights[k] = nonNegative(e.weight, `interactions[${k}].weight`, 1);
      } else if (weights) weights[k] = 1;
    });
    return { users, items, weights, userIds: [...userRow.keys()], itemIds: [...itemRow.keys()] };
  }
  if (typeof interactions !== 'object' || interactions === null)
    throw typeError(invalidParameter('interactions', 'an array of { user, item, weight? } or { users: Uint32Array, items: Uint32Array, weights? }', interactions));
  const a = interactions as Partial<InteractionArrays>;
  if (!(a.users instanceof Uint32Array)) throw typeError(invalidParameter('interactions.users', 'a Uint32Array of user rows', a.users));
  if (!(a.items instanceof Uint32Array)) throw typeError(invalidParameter('interactions.items', 'a Uint32Array of item rows', a.items));
  if (a.weights !== undefined && !(a.weights instanceof Float32Array)) throw typeError(invalidParameter('interactions.weights', 'a Float32Array', a.weights));
  if (a.items.length !== a.users.length || (a.weights && a.weights.length !== a.users.length))
    throw rangeError(`Expected users, items and weights of the same length but received ${a.users.length}, ${a.items.length}${a.weights ? `, ${a.weights.length}` : ''}`, 'ERR_FUSIONRANK_LENGTH_MISMATCH');
  if (a.users.length === 0) throw rangeError('Expected at least one interaction', 'ERR_FUSIONRANK_EMPTY_INPUT');
  if (a.weights)
    for (let k = 0; k < a.weights.length; k++) {
      const w = a.weights[k];
      if (!Number.isFinite(w)) throw rangeError(invalidParameter(`interactions.weights[${k}]`, 'a finite number ≥ 0', w), 'ERR_FUSIONRANK_NON_FINITE');
      if (w < 0) throw rangeError(invalidParameter(`interactions.weights[${k}]`, 'a finite number ≥ 0', w));
    }
  return {
    users: a.users,
    items: a.items,
    weights: a.weights ?? null,
    userIds: ids(a.userIds, 'interactions.userIds', a.users),
    itemIds: ids(a.itemIds, 'interactions.itemIds', a.items),
  };
}

/**
 * Fits implicit-feedback ALS factors: minimises Σ_{u,i} c_ui (p_ui − x_u·y_i)²
 * + λ(Σ‖x_u‖² + Σ‖y_i‖²) over every (user, item) pair, with p = 1 and c =
 * 1 + alpha·weight for an interaction (repeated pairs add their weights) and
 * p = 0, c = 1 otherwise. Each half-step updates every row by `cgSteps`
 * conjugate-gradient steps from its previous value, on `threads` native
 * threads off the event loop. Users and items with no interaction get no row.
 *
 * @example
 * const model = await fitAls([{ user: 'ann', item: 'p1', weight: 3 }, { user: 'bob', item: 'p2' }], { factors: 32 });
 * model.itemFactors.subarray(0, 32); // p1's factors
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when interactions or options are of the wrong type
 * @throws {TypeError|RangeError} ERR_FUSIONRANK_INVALID_ID for an empty or non-string id, or a row with no id in userIds / itemIds
 * @throws {RangeError} ERR_FUSIONRANK_EMPTY_INPUT with no interaction
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE for a NaN or infinite weight; ERR_FUSIONRANK_INVALID_ARGUMENT for a negative one, or factors outside [1, 1024], iterations or cgSteps < 1
 * @throws {RangeError} ERR_FUSIONRANK_LENGTH_MISMATCH when the typed arrays differ in length
 * @throws {RangeError} ERR_FUSIONRANK_DUPLICATE_ID when userIds or itemIds repeat an id
 */
export async function fitAls(interactions: readonly Interaction[] | InteractionArrays, options: AlsOptions = {}): Promise<AlsModel> {
  const caller = new Error();
  if (typeof options !== 'object' || options === null) throw typeError(invalidParameter('options', 'an options object', options));
  const factors = integer(options.factors, 'options.factors', 1, 1024, 64);
  const regularization = nonNegative(options.regularization, 'options.regularization', 0.01);
  const alpha = nonNegative(options.alpha, 'options.alpha', 1);
  const iterations = integer(options.iterations, 'options.iterations', 1, 1_000_000, 15);
  const cgSteps = integer(options.cgSteps, 'options.cgSteps', 1, 10_000, 3);
  const seed = integer(options.seed, 'options.seed', 0, 2 ** 32 - 1, 42);
  const threads = integer(options.threads, 'options.threads', 1, 256, Math.max(1, availableParallelism()));
  if (options.loss !== undefined && typeof options.loss !== 'boolean') throw typeError(invalidParameter('options.loss', 'a boolean', options.loss));
  const input = readInteractions(interactions);
  const init = options.init === undefined ? undefined : startFrom(options.init, factors, input.userIds, input.itemIds, seed);
  try {
    const out = await binding.fitAls(input.users, input.items, input.weights, input.userIds.length, input.itemIds.length, {
      factors,
      regularization,
      alpha,
      iterations,
      cgSteps,
      seed,
      threads,
      loss: options.loss ?? true,
      userInit: init?.users,
      itemInit: init?.items,
    });
    return {
      users: input.userIds,
      items: input.itemIds,
      factors,
      userFactors: out.userFactors,
      itemFactors: out.itemFactors,
      loss: Array.from(out.loss),
      regularization,
      alpha,
      stats: { pairs: out.pairs, seconds: out.seconds, gflops: out.seconds > 0 ? out.solveFlops / out.seconds / 1e9 : 0 },
    };
  } catch (error) {
    throw withCallerStack(error, caller);
  }
}

/** Starting factors from a previous model, by id; N(0, 0.01²) for ids it lacks. */
function startFrom(model: AlsOptions['init'], factors: number, userIds: string[], itemIds: string[], seed: number): { users: Float32Array; items: Float32Array } {
  if (typeof model !== 'object' || model === null || !Array.isArray(model.users) || !Array.isArray(model.items))
    throw typeError(invalidParameter('options.init', 'an AlsModel', model));
  if (model.factors !== factors) throw rangeError(`Expected options.init with ${factors} factors but it has ${describeFactors(model.factors)}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
  const random = rng(seed);
  const side = (ids: string[], known: readonly string[], source: unknown, name: string): Float32Array => {
    if (!(source instanceof Float32Array) || source.length !== known.length * factors)
      throw rangeError(invalidParameter(`options.init.${name}`, `a Float32Array of ${known.length} × ${factors}`, source), 'ERR_FUSIONRANK_LENGTH_MISMATCH');
    const row = new Map(known.map((id, r) => [id, r]));
    const out = new Float32Array(ids.length * factors);
    ids.forEach((id, r) => {
      const from = row.get(id);
      for (let j = 0; j < factors; j++) {
        if (from !== undefined) out[r * factors + j] = source[from * factors + j];
        else out[r * factors + j] = 0.01 * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      }
    });
    return out;
  };
  return { users: side(userIds, model.users, model.userFactors, 'userFactors'), items: side(itemIds, model.items, model.itemFactors, 'itemFactors') };
}

function describeFactors(value: unknown): string {
  return typeof value === 'number' ? String(value) : `factors of type ${typeof value}`;
}

interface ModelCache {
  itemRow: Map<string, number>;
  gram: Float64Array;
  itemFactors: Float32Array;
}
const caches = new WeakMap<AlsModel, ModelCache>();

function cacheFor(model: AlsModel): ModelCache {
  const cached = caches.get(model);
  // A model whose item factors were replaced since is re-read.
  if (cached && cached.itemFactors === model.itemFactors) return cached;
  if (typeof model !== 'object' || model === null || !Array.isArray(model.items) || !(model.itemFactors instanceof Float32Array))
    throw typeError(invalidParameter('model', 'an AlsModel from fitAls', model));
  const factors = integer(model.factors, 'model.factors', 1, 1024, 0);
  if (model.itemFactors.length !== model.items.length * factors)
    throw rangeError(`Expected model.itemFactors of items.length · factors = ${model.items.length * factors} floats but received ${model.itemFactors.length}`, 'ERR_FUSIONRANK_LENGTH_MISMATCH');
  const itemRow = new Map(model.items.map((item, row) => [item, row]));
  const fresh = { itemRow, gram: binding.alsGram(model.itemFactors, model.items.length, factors), itemFactors: model.itemFactors };
  caches.set(model, fresh);
  return fresh;
}

export interface FoldInOptions {
  /** An item the model does not know: `'error'` (default) throws, `'skip'` leaves it out. */
  unknown?: 'error' | 'skip';
}

/**
 * A new user's factors from their history, in closed form against the
 * model's item factors (no retraining): the exact solution of the user step,
 * (YᵀY + λI + Σ α·w_i y_i y_iᵀ) x = Σ (1 + α·w_i) y_i, by Cholesky in
 * double precision. A repeated item adds its weights; an empty history gives
 * the zero vector.
 *
 * @example
 * const x = foldIn(model, ['p1', { item: 'p7', weight: 2 }]);
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when model or history is malformed
 * @throws {RangeError} ERR_FUSIONRANK_NOT_FOUND for an item the model does not know (unless `unknown: 'skip'`)
 * @throws {RangeError} ERR_FUSIONRANK_NON_FINITE / ERR_FUSIONRANK_INVALID_ARGUMENT for a NaN, infinite or negative weight
 */
export function foldIn(model: AlsModel, history: ReadonlyArray<string | { item: string; weight?: number }>, options: FoldInOptions = {}): Float32Array {
  const cache = cacheFor(model);
  if (!Array.isArray(history)) throw typeError(invalidParameter('history', 'an array of item ids or { item, weight? }', history));
  const unknown = options.unknown ?? 'error';
  if (unknown !== 'error' && unknown !== 'skip') throw rangeError(invalidParameter('options.unknown', "'error' or 'skip'", unknown));
  const rows: number[] = [];
  const weights: number[] = [];
  history.forEach((entry, k) => {
    const item = typeof entry === 'string' ? entry : typeof entry === 'object' && entry !== null ? entry.item : undefined;
    id(item, `history[${k}]${typeof entry === 'string' ? '' : '.item'}`);
    const weight = typeof entry === 'string' ? 1 : nonNegative(entry.weight, `history[${k}].weight`, 1);
    const row = cache.itemRow.get(item as string);
    if (row === undefined) {
      if (unknown === 'skip') return;
      throw rangeError(`Unknown item '${item}' at history[${k}]: the model has no factors for it (pass { unknown: 'skip' } to leave such items out)`, 'ERR_FUSIONRANK_NOT_FOUND');
    }
    rows.push(row);
    weights.push(weight);
  });
  return binding.alsFoldIn(
    model.itemFactors,
    model.items.length,
    model.factors,
    cache.gram,
    model.regularization,
    model.alpha,
    Uint32Array.from(rows),
    Float32Array.from(weights),
  );
}

export interface WriteFactorsResult {
  /** Catalog items whose vector was written. */
  written: number;
  /** Model items the catalog does not hold (left out). */
  skipped: number;
}

/**
 * Writes the model's item factors into a catalog vector (for a `behavior`
 * signal or `blend`), leaving every other vector and field of the items as it
 * is. Model items the catalog does not hold are left out and counted; catalog
 * items the model does not know keep their current value. The vector's `dim`
 * must equal `model.factors`. Note that the catalog stores vectors for
 * cosine scoring, so the factors' norms (which carry popularity in ALS) do
 * not reach the score.
 *
 * @example
 * const catalog = new Catalog({ vectors: { cf: { dim: 64 } }, fields: {} });
 * writeItemFactors(catalog, model, 'cf');
 * @throws {RangeError} ERR_FUSIONRANK_UNKNOWN_VECTOR when the catalog has no such vector
 * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when its dim is not model.factors (nothing is written)
 */
export function writeItemFactors(catalog: Catalog, model: AlsModel, vector: string): WriteFactorsResult {
  const { itemFactors } = cacheFor(model);
  const vectors = catalog.schema.vectors;
  const spec = Object.hasOwn(vectors, vector) ? vectors[vector] : undefined;
  if (spec === undefined) {
    const valid = Object.keys(catalog.schema.vectors).map((v) => `'${v}'`).join(', ') || '(none)';
    throw rangeError(`Unknown vector '${vector}'; valid vectors: ${valid}`, 'ERR_FUSIONRANK_UNKNOWN_VECTOR');
  }
  if (spec.dim !== model.factors)
    throw rangeError(`Expected catalog vector '${vector}' of dim ${model.factors} (the model's factors) but it has dim ${spec.dim}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
  const ids: string[] = [];
  const rows: number[] = [];
  model.items.forEach((item, row) => {
    if (catalog.has(item)) {
      ids.push(item);
      rows.push(row);
    }
  });
  const f = model.factors;
  const data = new Float32Array(ids.length * f);
  rows.forEach((row, i) => data.set(itemFactors.subarray(row * f, (row + 1) * f), i * f));
  catalog.setVector(vector, ids, data);
  return { written: ids.length, skipped: model.items.length - ids.length };
}
