/**
 * Catalog persistence: a directory with a versioned manifest and one binary
 * file per column and per HNSW index, each with its byte length and SHA-256
 * in the manifest. Written to a temporary sibling directory, fsynced, then
 * renamed into place, so a crash mid-save leaves the previous catalog intact.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import { FusionrankError, invalidParameter, typeError } from '../errors.js';
import { Catalog, internalsOf, type CatalogSchema } from './catalog.js';

export const FORMAT = 'fusionrank-catalog';
export const FORMAT_VERSION = 1;

interface FileEntry {
  bytes: number;
  sha256: string;
}

interface Manifest {
  format: string;
  version: number;
  savedAt: string;
  schema: CatalogSchema;
  rows: number;
  free: number[];
  dictionaries: Record<string, string[]>;
  files: Record<string, FileEntry>;
  /** Vector name → index file name, for vectors with an HNSW graph. */
  indexes: Record<string, string>;
}

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function writeDurable(path: string, data: Uint8Array): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function hashFile(path: string): Promise<FileEntry> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

function corrupt(file: string, why: string): FusionrankError {
  return new FusionrankError(`Catalog file ${file} is ${why}`, 'ERR_FUSIONRANK_CORRUPT');
}

/** Saves `catalog` to `dir` (see module comment). */
export async function saveCatalog(catalog: Catalog, dir: string): Promise<void> {
  if (typeof dir !== 'string' || dir.length === 0) throw typeError(invalidParameter('dir', 'a directory path', dir));
  const c = internalsOf(catalog);
  const tmp = join(dirname(dir), `.${basename(dir)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  await mkdir(tmp, { recursive: true });
  try {
    // Snapshot every column synchronously, so a concurrent upsert cannot
    // interleave with the export; the writes happen afterwards.
    const files = new Map<string, Uint8Array>();
    const indexes: Record<string, string> = {};
    files.set('alive.bin', c.native.exportAlive());
    files.set('ids.json', Buffer.from(JSON.stringify(c.ids().map((id) => id ?? null))));
    for (const v of c.vectors.values()) {
      const column = c.native.exportVector(v.index);
      files.set(`vector.${v.name}.bin`, column.data);
      files.set(`vector.${v.name}.present.bin`, column.present);
      if (column.scales) files.set(`vector.${v.name}.scales.bin`, bytesOf(column.scales));
      const indexFile = `index.${v.name}.usearch`;
      if (c.native.saveIndex(v.index, join(tmp, indexFile))) indexes[v.name] = indexFile;
    }
    const dictionaries: Record<string, string[]> = {};
    for (const f of c.fields.values()) {
      files.set(`field.${f.name}.bin`, bytesOf(c.native.exportField(f.index)));
      if (f.dictionary) dictionaries[f.name] = [...f.dictionary.values];
    }
    const rows = c.native.rows();
    const free = [...c.free()];

    const entries: Record<string, FileEntry> = {};
    for (const [name, data] of files) {
      await writeDurable(join(tmp, name), data);
      entries[name] = { bytes: data.byteLength, sha256: sha256(data) };
    }
    for (const name of Object.values(indexes)) {
      await fsyncPath(join(tmp, name));
      entries[name] = await hashFile(join(tmp, name));
    }
    const manifest: Manifest = {
      format: FORMAT,
      version: FORMAT_VERSION,
      savedAt: new Date().toISOString(),
      schema: catalog.schema,
      rows,
      free,
      dictionaries,
      files: entries,
      indexes,
    };
    await writeDurable(join(tmp, 'manifest.json'), Buffer.from(JSON.stringify(manifest, null, 2)));
    await fsyncPath(tmp);
    // Swap: the old directory moves aside first (rename cannot replace a
    // non-empty directory), then is removed once the new one is in place.
    let old: string | undefined;
    try {
      await stat(dir);
      old = join(dirname(dir), `.${basename(dir)}.old-${process.pid}-${Date.now().toString(36)}`);
      await rename(dir, old);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await rename(tmp, dir);
    await fsyncPath(dirname(dir));
    if (old) await rm(old, { recursive: true, force: true });
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    if (error instanceof FusionrankError) throw error;
    throw new FusionrankError(`Could not save the catalog to ${dir}: ${(error as Error).message}`, 'ERR_FUSIONRANK_IO', { cause: error });
  }
}

/** Loads a catalog saved by `saveCatalog`. */
export async function loadCatalog(dir: string, options: { mmap?: boolean } = {}): Promise<Catalog> {
  if (typeof dir !== 'string' || dir.length === 0) throw typeError(invalidParameter('dir', 'a directory path', dir));
  if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object', options));
  const manifestPath = join(dir, 'manifest.json');
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Manifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FusionrankError(`No catalog at ${dir}: ${manifestPath} does not exist`, 'ERR_FUSIONRANK_NOT_FOUND');
    throw corrupt(manifestPath, `not valid JSON (${(error as Error).message})`);
  }
  if (manifest === null || typeof manifest !== 'object' || manifest.format !== FORMAT) throw corrupt(manifestPath, 'not a fusionrank catalog manifest');
  if (typeof manifest.version !== 'number' || manifest.version > FORMAT_VERSION)
    throw new FusionrankError(
      `Catalog at ${dir} was saved by format version ${manifest.version}; this fusionrank reads up to version ${FORMAT_VERSION}. Upgrade fusionrank to load it.`,
      'ERR_FUSIONRANK_UNSUPPORTED_VERSION',
    );
  const read = async (name: string): Promise<Uint8Array> => {
    const entry = manifest.files[name];
    const path = join(dir, name);
    if (!entry) throw corrupt(manifestPath, `missing the entry for ${name}`);
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch {
      throw corrupt(path, 'missing');
    }
    if (data.byteLength !== entry.bytes) throw corrupt(path, `truncated or resized (${data.byteLength} bytes, expected ${entry.bytes})`);
    if (sha256(data) !== entry.sha256) throw corrupt(path, 'corrupt (checksum mismatch)');
    // A fresh, aligned copy for typed-array views.
    const out = new Uint8Array(new ArrayBuffer(data.byteLength));
    out.set(data);
    return out;
  };

  const catalog = new Catalog(manifest.schema);
  const c = internalsOf(catalog);
  const alive = await read('alive.bin');
  if (alive.length !== manifest.rows) throw corrupt(join(dir, 'alive.bin'), 'inconsistent with the manifest row count');
  const ids = JSON.parse(Buffer.from(await read('ids.json')).toString('utf8')) as Array<string | null>;
  if (!Array.isArray(ids) || ids.length > manifest.rows) throw corrupt(join(dir, 'ids.json'), 'inconsistent with the manifest row count');
  try {
    c.native.importAlive(alive);
  } catch (error) {
    throw corrupt(join(dir, 'alive.bin'), `inconsistent (${(error as Error).message})`);
  }
  for (const v of c.vectors.values()) {
    const data = await read(`vector.${v.name}.bin`);
    const present = await read(`vector.${v.name}.present.bin`);
    const scaleBytes = v.dtype === 'i8' ? await read(`vector.${v.name}.scales.bin`) : undefined;
    try {
      // (A length that is not whole floats is corrupt too.)
      const scales = scaleBytes ? new Float32Array(scaleBytes.buffer) : undefined;
      c.native.importVector(v.index, data, present, scales);
    } catch (error) {
      throw corrupt(join(dir, `vector.${v.name}.bin`), `inconsistent (${(error as Error).message})`);
    }
  }
  for (const f of c.fields.values()) {
    const name = `field.${f.name}.bin`;
    const bytes = await read(name);
    // The native side checks codes against the dictionary's size.
    const dictionary = manifest.dictionaries?.[f.name];
    const dictionarySize = f.dictionary ? (Array.isArray(dictionary) ? dictionary.length : 0) : undefined;
    try {
      const values = f.type === 'number' || f.type === 'time' ? new Float64Array(bytes.buffer) : f.type === 'tags' ? new Uint32Array(bytes.buffer) : new Int32Array(bytes.buffer);
      c.native.importField(f.index, values, dictionarySize);
    } catch (error) {
      throw corrupt(join(dir, name), `inconsistent (${(error as Error).message})`);
    }
    if (f.dictionary) for (const value of manifest.dictionaries[f.name] ?? []) f.dictionary.intern(value);
  }
  for (const [vector, file] of Object.entries(manifest.indexes ?? {})) {
    const v = c.vectors.get(vector);
    if (!v) throw corrupt(manifestPath, `naming an index for unknown vector '${vector}'`);
    const entry = manifest.files[file];
    const path = join(dir, file);
    if (!entry) throw corrupt(manifestPath, `missing the entry for ${file}`);
    let actual: FileEntry;
    try {
      actual = await hashFile(path);
    } catch {
      throw corrupt(path, 'missing');
    }
    if (actual.bytes !== entry.bytes) throw corrupt(path, `truncated or resized (${actual.bytes} bytes, expected ${entry.bytes})`);
    if (actual.sha256 !== entry.sha256) throw corrupt(path, 'corrupt (checksum mismatch)');
    c.native.loadIndex(v.index, path, options.mmap === true);
  }
  c.restore(ids, manifest.free ?? []);
  return catalog;
}
