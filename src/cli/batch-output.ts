/**
 * The output of `fusionrank batch`: JSON lines, an Arrow IPC file or a
 * Parquet file, written chunk by chunk into a temporary file beside the
 * output and renamed over it on success, so a failed or interrupted run
 * never leaves a partial file under the output's name.
 *
 * Arrow and Parquet hold one row per (request, rank), the long layout that
 * pandas and polars group, join and pivot directly:
 *   id: utf8 (the request's id) · rank: int32 (1-based) · item: utf8 · score: float64
 * A request with no results has no rows.
 */
import { unlinkSync } from 'node:fs';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import type * as Arrow from 'apache-arrow';
import type * as HyparquetWriter from 'hyparquet-writer';

import { FusionrankError } from '../errors.js';
import type { RankResult } from '../scoring/ranker.js';
import { loadOptional } from '../util/optional.js';

export type BatchFormat = 'jsonl' | 'arrow' | 'parquet';
export const BATCH_FORMATS: readonly BatchFormat[] = ['jsonl', 'arrow', 'parquet'];

/** One ranked request. */
export interface BatchRow {
  id: string;
  result: RankResult;
}

/** Writes the ranked requests of each chunk; `commit` makes the file appear, `abort` removes what was written. */
export interface BatchWriter {
  write(rows: readonly BatchRow[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  /** Synchronous cleanup for a process about to exit. */
  abortSync(): void;
  /** Items written so far. */
  readonly items: number;
}

/** Where the bytes go: a temporary file renamed on commit, or stdout. */
interface Sink {
  write(data: string | Uint8Array): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  abortSync(): void;
}

const PEERS: Record<Exclude<BatchFormat, 'jsonl'>, string> = { arrow: 'apache-arrow', parquet: 'hyparquet-writer' };

/**
 * Loads the optional peer a format needs (`apache-arrow`, `hyparquet-writer`)
 * through `load` (the optional-peer loader by default; a test passes its own).
 * @example
 * const arrow = await loadFormatPeer('arrow');
 * @throws {FusionrankError} ERR_FUSIONRANK_MISSING_DEPENDENCY when the package is not installed; the message gives the npm install command
 */
export async function loadFormatPeer<T = unknown>(format: Exclude<BatchFormat, 'jsonl'>, load: (name: string) => Promise<unknown> = loadOptional): Promise<T> {
  const name = PEERS[format];
  try {
    return (await load(name)) as T;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'ERR_FUSIONRANK_MISSING_DEPENDENCY') throw error;
    throw new FusionrankError(
      `The optional dependency '${name}' is needed for fusionrank batch --format ${format} but could not be loaded. Install it with: npm install ${name}`,
      'ERR_FUSIONRANK_MISSING_DEPENDENCY',
      { cause: error },
    );
  }
}

async function fileSink(path: string): Promise<Sink> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Math.random().toString(36).slice(2, 10)}.tmp`);
  let handle: FileHandle;
  try {
    handle = await open(temp, 'wx');
  } catch (error) {
    throw new FusionrankError(`Cannot write --output ${path}: ${(error as Error).message}`, 'ERR_FUSIONRANK_IO', { cause: error });
  }
  let closed = false;
  const io = async <T>(what: () => Promise<T>): Promise<T> => {
    try {
      return await what();
    } catch (error) {
      throw new FusionrankError(`Cannot write --output ${path}: ${(error as Error).message}`, 'ERR_FUSIONRANK_IO', { cause: error });
    }
  };
  return {
    // writeFile writes at the current position and loops until all is written.
    write: (data) => io(() => handle.writeFile(data)),
    commit: () =>
      io(async () => {
        await handle.sync();
        await handle.close();
        closed = true;
        await rename(temp, path);
      }),
    async abort() {
      if (!closed) await handle.close().catch(() => {});
      closed = true;
      await unlink(temp).catch(() => {});
    },
    abortSync() {
      try {
        unlinkSync(temp);
      } catch {
        // already gone
      }
    },
  };
}

function stdoutSink(): Sink {
  return {
    write: (data) =>
      new Promise((resolveWrite, rejectWrite) => {
        process.stdout.write(data, (error) => (error ? rejectWrite(new FusionrankError(`Cannot write to stdout: ${error.message}`, 'ERR_FUSIONRANK_IO', { cause: error })) : resolveWrite()));
      }),
    commit: async () => {},
    abort: async () => {},
    abortSync() {},
  };
}

function jsonlWriter(sink: Sink): BatchWriter {
  let items = 0;
  return {
    async write(rows) {
      if (!rows.length) return;
      let text = '';
      for (const { id, result } of rows) {
        items += result.items.length;
        text += `${JSON.stringify({ id, items: result.items, candidates: result.candidates })}\n`;
      }
      await sink.write(text);
    },
    commit: () => sink.commit(),
    abort: () => sink.abort(),
    abortSync: () => sink.abortSync(),
    get items() {
      return items;
    },
  };
}

/** The long layout's columns of a chunk. */
function longColumns(rows: readonly BatchRow[]): { ids: string[]; ranks: Int32Array; items: string[]; scores: Float64Array } {
  let n = 0;
  for (const row of rows) n += row.result.items.length;
  const ids = new Array<string>(n);
  const items = new Array<string>(n);
  const ranks = new Int32Array(n);
  const scores = new Float64Array(n);
  let at = 0;
  for (const { id, result } of rows) {
    result.items.forEach((item, r) => {
      ids[at] = id;
      ranks[at] = r + 1;
      items[at] = item.id;
      scores[at] = item.score;
      at++;
    });
  }
  return { ids, ranks, items, scores };
}

/** A utf8 column's Arrow buffers: offsets and the concatenated UTF-8 bytes. */
function utf8Buffers(values: readonly string[]): { valueOffsets: Int32Array; data: Uint8Array } {
  const encoder = new TextEncoder();
  const parts = values.map((x) => encoder.encode(x));
  const valueOffsets = new Int32Array(values.length + 1);
  for (let i = 0; i < parts.length; i++) valueOffsets[i + 1] = valueOffsets[i] + parts[i].length;
  const data = new Uint8Array(valueOffsets[values.length]);
  parts.forEach((part, i) => data.set(part, valueOffsets[i]));
  return { valueOffsets, data };
}

function arrowWriter(sink: Sink, arrow: typeof Arrow): BatchWriter {
  const { Field, Float64, Int32, RecordBatch, RecordBatchFileWriter, Schema, Struct, Table, Utf8, makeData } = arrow;
  const fields = [new Field('id', new Utf8(), false), new Field('rank', new Int32(), false), new Field('item', new Utf8(), false), new Field('score', new Float64(), false)];
  // Every batch carries this one schema object: the writer starts a new file on a schema it sees as different.
  const schema = new Schema(fields);
  const writer = new RecordBatchFileWriter();
  // The writer queues its bytes; this loop moves them to the sink as they come.
  const drained = (async () => {
    for await (const bytes of writer as unknown as AsyncIterable<Uint8Array>) await sink.write(bytes);
  })();
  drained.catch(() => {}); // awaited in commit and abort
  let items = 0;
  let written = false;
  const batch = (rows: readonly BatchRow[]) => {
    const c = longColumns(rows);
    const length = c.ids.length;
    const children = [
      makeData({ type: new Utf8(), length, nullCount: 0, ...utf8Buffers(c.ids) }),
      makeData({ type: new Int32(), length, nullCount: 0, data: c.ranks }),
      makeData({ type: new Utf8(), length, nullCount: 0, ...utf8Buffers(c.items) }),
      makeData({ type: new Float64(), length, nullCount: 0, data: c.scores }),
    ];
    return new RecordBatch(schema, makeData({ type: new Struct(fields), length, nullCount: 0, children }));
  };
  return {
    async write(rows) {
      const b = batch(rows);
      if (b.numRows === 0) return;
      writer.write(b);
      written = true;
      items += b.numRows;
      // Let the drain loop catch up so the queue holds about one chunk.
      await new Promise((r) => setImmediate(r));
    },
    async commit() {
      if (!written) writer.write(new Table(schema));
      writer.close(); // writes the footer
      await drained;
      await sink.commit();
    },
    async abort() {
      try {
        writer.abort();
      } catch {
        // the sink is removed below either way
      }
      await drained.catch(() => {});
      await sink.abort();
    },
    abortSync: () => sink.abortSync(),
    get items() {
      return items;
    },
  };
}

function parquetWriter(sink: Sink, hyparquet: typeof HyparquetWriter): BatchWriter {
  const bytes = new hyparquet.ByteWriter();
  let pending: Uint8Array[] = [];
  const take = () => {
    if (bytes.index > 0) pending.push(new Uint8Array(bytes.buffer.slice(0, bytes.index)));
    bytes.index = 0;
  };
  // The file goes out a row group at a time: each flush hands the buffered bytes to the sink.
  const writer = bytes as HyparquetWriter.ByteWriter & { flush(): void };
  writer.flush = take;
  writer.finish = take;
  const flushPending = async () => {
    const out = pending;
    pending = [];
    for (const b of out) await sink.write(b);
  };
  const schema = hyparquet.schemaFromColumnData({
    columnData: [
      { name: 'id', data: [], type: 'STRING', nullable: false },
      { name: 'rank', data: [], type: 'INT32', nullable: false },
      { name: 'item', data: [], type: 'STRING', nullable: false },
      { name: 'score', data: [], type: 'DOUBLE', nullable: false },
    ],
  });
  const parquet = new hyparquet.ParquetWriter({ writer, schema, createdBy: 'fusionrank batch' });
  let items = 0;
  return {
    async write(rows) {
      const c = longColumns(rows);
      if (c.ids.length === 0) return;
      await parquet.write({
        columnData: [
          { name: 'id', data: c.ids },
          { name: 'rank', data: c.ranks },
          { name: 'item', data: c.items },
          { name: 'score', data: c.scores },
        ],
        rowGroupSize: c.ids.length,
      });
      items += c.ids.length;
      await flushPending();
    },
    async commit() {
      await parquet.finish();
      await flushPending();
      await sink.commit();
    },
    abort: () => sink.abort(),
    abortSync: () => sink.abortSync(),
    get items() {
      return items;
    },
  };
}

/**
 * Opens the writer of a format: into a temporary file beside `output`
 * (renamed onto it by `commit`), or onto stdout when `output` is undefined.
 * Load the format's peer first with `loadFormatPeer`.
 * @example
 * const writer = await openBatchWriter('jsonl', 'ranked.jsonl');
 * await writer.write([{ id: 'u1', result }]);
 * await writer.commit();
 * @throws {FusionrankError} ERR_FUSIONRANK_IO when the temporary file cannot be created
 */
export async function openBatchWriter(format: BatchFormat, output: string | undefined, peer?: unknown): Promise<BatchWriter> {
  const sink = output === undefined ? stdoutSink() : await fileSink(output);
  if (format === 'arrow') return arrowWriter(sink, peer as typeof Arrow);
  if (format === 'parquet') return parquetWriter(sink, peer as typeof HyparquetWriter);
  return jsonlWriter(sink);
}
