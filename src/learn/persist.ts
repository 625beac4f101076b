/**
 * ALS models as safetensors files: `user_factors` and `item_factors` (F32,
 * [rows, factors]) and, in `__metadata__`, the format name and version, the
 * ids (JSON arrays), regularization, alpha and the loss history. Written to a
 * temporary sibling, fsynced and renamed into place, so a crash leaves the
 * previous file intact; read back with every size, id and value checked.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { FusionrankError, invalidParameter, typeError } from '../errors.js';
import { parseSafetensors } from '../rerank/safetensors.js';
import type { AlsModel } from './als.js';

const FORMAT = 'fusionrank-als';
const VERSION = 1;

function corrupt(path: string, why: string): FusionrankError {
  return new FusionrankError(`Not a valid fusionrank ALS file '${path}': ${why}`, 'ERR_FUSIONRANK_CORRUPT');
}

/**
 * Saves an ALS model as one safetensors file: the factors as F32 tensors,
 * the ids and hyperparameters in the header's `__metadata__`.
 *
 * @example await saveAls(model, './cf.safetensors');
 * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when model is not an AlsModel
 * @throws {FusionrankError} ERR_FUSIONRANK_IO when the file cannot be written
 */
export async function saveAls(model: AlsModel, path: string): Promise<void> {
  if (typeof path !== 'string' || path.length === 0) throw typeError(invalidParameter('path', 'a file path', path));
  if (
    typeof model !== 'object' || model === null || !Array.isArray(model.users) || !Array.isArray(model.items) ||
    !(model.userFactors instanceof Float32Array) || !(model.itemFactors instanceof Float32Array) ||
    model.userFactors.length !== model.users.length * model.factors || model.itemFactors.length !== model.items.length * model.factors
  )
    throw typeError(invalidParameter('model', 'an AlsModel from fitAls (factors of ids × factors floats)', model));
  const userBytes = model.userFactors.byteLength;
  const header = JSON.stringify({
    __metadata__: {
      format: FORMAT,
      version: String(VERSION),
      users: JSON.stringify(model.users),
      items: JSON.stringify(model.items),
      regularization: String(model.regularization),
      alpha: String(model.alpha),
      loss: JSON.stringify(model.loss),
    },
    user_factors: { dtype: 'F32', shape: [model.users.length, model.factors], data_offsets: [0, userBytes] },
    item_factors: { dtype: 'F32', shape: [model.items.length, model.factors], data_offsets: [userBytes, userBytes + model.itemFactors.byteLength] },
  });
  // The header is padded with spaces to a multiple of 8 bytes, as the reference writer does.
  const encoded = new TextEncoder().encode(header);
  const padded = new Uint8Array(Math.ceil(encoded.length / 8) * 8).fill(0x20);
  padded.set(encoded);
  const length = new Uint8Array(8);
  new DataView(length.buffer).setBigUint64(0, BigInt(padded.length), true);
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${Date.now()}`);
  try {
    const handle = await open(tmp, 'w');
    try {
      await handle.write(length);
      await handle.write(padded);
      await handle.write(new Uint8Array(model.userFactors.buffer, model.userFactors.byteOffset, userBytes));
      await handle.write(new Uint8Array(model.itemFactors.buffer, model.itemFactors.byteOffset, model.itemFactors.byteLength));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw new FusionrankError(`Could not write '${path}': ${(error as Error).message}`, 'ERR_FUSIONRANK_IO');
  }
}

function idList(value: string | undefined, path: string, name: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value ?? '');
  } catch {
    throw corrupt(path, `metadata '${name}' is not a JSON array`);
  }
  if (!Array.isArray(parsed) || !parsed.every((id) => typeof id === 'string' && id.length > 0)) throw corrupt(path, `metadata '${name}' is not an array of non-empty ids`);
  if (new Set(parsed).size !== parsed.length) throw corrupt(path, `metadata '${name}' repeats an id`);
  return parsed as string[];
}

function finiteNumber(value: string | undefined, path: string, name: string): number {
  const n = Number(value);
  if (value === undefined || !Number.isFinite(n) || n < 0) throw corrupt(path, `metadata '${name}' is not a finite number ≥ 0`);
  return n;
}

/**
 * Loads a model written by `saveAls`. Everything in the file is checked: the
 * format, the tensors' dtype and shape against the ids and each other, and
 * every factor finite.
 *
 * @example const model = await loadAls('./cf.safetensors'); foldIn(model, ['p1']);
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_READ when the file cannot be read
 * @throws {FusionrankError} ERR_FUSIONRANK_CORRUPT / ERR_FUSIONRANK_SAFETENSORS_PARSE naming what is wrong
 */
export async function loadAls(path: string): Promise<AlsModel> {
  if (typeof path !== 'string' || path.length === 0) throw typeError(invalidParameter('path', 'a file path', path));
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new FusionrankError(`Could not read '${path}': ${(error as Error).message}`, 'ERR_FUSIONRANK_FILE_READ');
  }
  const tensors = parseSafetensors(bytes);
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const meta = (JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))).__metadata__ ?? {}) as Record<string, string>;
  if (meta.format !== FORMAT) throw corrupt(path, `its format is ${JSON.stringify(meta.format)}, not '${FORMAT}'`);
  if (meta.version !== String(VERSION)) throw new FusionrankError(`'${path}' has ALS format version ${meta.version}; this fusionrank reads version ${VERSION}`, 'ERR_FUSIONRANK_UNSUPPORTED_VERSION');
  const users = idList(meta.users, path, 'users');
  const items = idList(meta.items, path, 'items');
  const factorsOf = (name: string, rows: number): { factors: number; data: Float32Array } => {
    const t = tensors.get(name);
    if (!t) throw corrupt(path, `tensor '${name}' is missing`);
    if (t.dtype !== 'F32' || t.shape.length !== 2 || t.shape[0] !== rows || t.shape[1] < 1 || t.shape[1] > 1024)
      throw corrupt(path, `tensor '${name}' is ${t.dtype} [${t.shape.join(', ')}], expected F32 [${rows}, factors ≤ 1024]`);
    const data = new Float32Array(t.shape[0] * t.shape[1]);
    new Uint8Array(data.buffer).set(t.bytes);
    for (let j = 0; j < data.length; j++) if (!Number.isFinite(data[j])) throw corrupt(path, `tensor '${name}' holds a non-finite value at ${j}`);
    return { factors: t.shape[1], data };
  };
  const u = factorsOf('user_factors', users.length);
  const i = factorsOf('item_factors', items.length);
  if (u.factors !== i.factors) throw corrupt(path, `user factors have ${u.factors} columns, item factors ${i.factors}`);
  let loss: unknown;
  try {
    loss = JSON.parse(meta.loss ?? '[]');
  } catch {
    loss = undefined;
  }
  if (!Array.isArray(loss) || !loss.every((l) => typeof l === 'number')) throw corrupt(path, "metadata 'loss' is not an array of numbers");
  return {
    users,
    items,
    factors: u.factors,
    userFactors: u.data,
    itemFactors: i.data,
    loss: loss as number[],
    regularization: finiteNumber(meta.regularization, path, 'regularization'),
    alpha: finiteNumber(meta.alpha, path, 'alpha'),
    stats: { pairs: 0, seconds: 0, gflops: 0 },
  };
}
