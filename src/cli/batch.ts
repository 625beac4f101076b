/**
 * `npx fusionrank batch`: rank every request of a JSON-lines file against a
 * saved catalog with a ranker config file, `rankMany` a chunk at a time, and
 * write the results as JSON lines, Arrow or Parquet.
 */
import { existsSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { type Command, Option } from 'commander';

import { FusionrankError } from '../errors.js';
import type { Ranker, RankManyOptions, RankRequest, RankResult } from '../scoring/ranker.js';
import { type BadLine, type BatchRequest, countRequestLines, readRequestChunks } from './batch-input.js';
import { BATCH_FORMATS, type BatchFormat, type BatchRow, loadFormatPeer, openBatchWriter, type BatchWriter } from './batch-output.js';
import { positiveInt } from './options.js';

// The catalog, ranker and model modules (and the native addon) are imported
// when the command runs, so the other commands do not load them.

export type BatchDevice = 'cpu' | 'auto' | 'cuda';

export interface BatchCliOptions {
  catalog: string;
  config: string;
  input: string;
  /** Default: stdout. */
  output?: string;
  format: BatchFormat;
  /** Results per request unless the line says otherwise (default: the config's k). */
  k?: number;
  threads?: number;
  device?: BatchDevice;
  onError: 'fail' | 'skip';
  quiet?: boolean;
  /** Request lines ranked per rankMany call (default 4096). */
  chunkSize?: number;
}

/** What a run did. */
export interface BatchSummary {
  /** Requests ranked and written. */
  requests: number;
  /** Lines skipped with --on-error skip (unreadable lines and requests the ranker refused). */
  skipped: number;
  /** Items written, over all requests. */
  items: number;
  /** From the first line read to the output in place. */
  seconds: number;
  requestsPerSecond: number;
  output: string;
  format: BatchFormat;
}

/** How a run reports as it goes. */
export interface BatchReporter {
  /** Lines of the input handled so far (ranked or skipped) of about `total` (0 when not counted). */
  progress?(done: number, total: number): void;
  /** A skipped line, with --on-error skip. */
  skipped?(bad: BadLine): void;
  /** Set when the output file is open: the hook a process exit uses to remove the temporary file. */
  opened?(writer: BatchWriter): void;
  /** Count the input's lines first for a progress total. */
  countLines?: boolean;
}

type BatchRanker = Ranker;

function isAbort(error: unknown, signal?: AbortSignal): boolean {
  return signal?.aborted === true || (error as { code?: string } | null)?.code === 'ERR_FUSIONRANK_ABORTED' || (error as Error | null)?.name === 'AbortError';
}

function abortError(signal: AbortSignal): FusionrankError {
  const reason = signal.reason as { code?: string } | undefined;
  return reason instanceof FusionrankError && reason.code === 'ERR_FUSIONRANK_ABORTED' ? reason : new FusionrankError('The batch was aborted', 'ERR_FUSIONRANK_ABORTED', { cause: reason });
}

/** The error of one request, named by file:line and id; class and code kept. */
function atLine(error: unknown, file: string, request: BatchRequest): Error {
  const e = error instanceof Error ? error : new FusionrankError(String(error), 'ERR_FUSIONRANK_INTERNAL');
  e.message = `${file}:${request.line} (id ${JSON.stringify(request.id)}): ${e.message}`;
  return e;
}

function requireFile(path: string, option: string, kind: 'file' | 'directory'): void {
  const stat = existsSync(path) ? statSync(path) : undefined;
  if (!stat) throw new FusionrankError(`${option} ${path}: no such ${kind}`, 'ERR_FUSIONRANK_FILE_NOT_FOUND');
  // A pipe or /dev/stdin serves as a file.
  if (kind === 'directory' ? !stat.isDirectory() : stat.isDirectory())
    throw new FusionrankError(`${option} ${path}: expected a ${kind === 'directory' ? 'directory (a catalog saved with Catalog.save)' : 'file'}`, 'ERR_FUSIONRANK_FILE_NOT_FOUND');
}

/**
 * Ranks a chunk with one rankMany call. When it fails for a reason other
 * than an abort, the chunk is ranked again a request at a time to find the
 * line at fault: with 'fail' its error is thrown naming file:line, with
 * 'skip' such requests are reported and left out. When every request fails
 * alone too, with errors other than argument errors (CUDA unavailable, out
 * of memory), the failure is not a request's, and the chunk's error is thrown.
 */
async function rankChunk(
  ranker: BatchRanker,
  requests: BatchRequest[],
  opts: BatchCliOptions,
  signal: AbortSignal | undefined,
  onProgress: (done: number) => void,
  onSkip: (bad: BadLine) => void,
): Promise<Array<RankResult | undefined>> {
  const options: RankManyOptions = { signal };
  if (opts.threads !== undefined) options.threads = opts.threads;
  if (opts.device !== undefined) options.device = opts.device;
  try {
    return await ranker.rankMany(
      requests.map((r) => r.request),
      { ...options, onProgress: (done) => onProgress(done) },
    );
  } catch (error) {
    if (isAbort(error, signal)) throw signal?.aborted ? abortError(signal) : error;
    const results: Array<RankResult | undefined> = [];
    const failures: Array<{ request: BatchRequest; error: unknown }> = [];
    for (const request of requests) {
      try {
        results.push((await ranker.rankMany([request.request], options))[0]);
      } catch (single) {
        if (isAbort(single, signal)) throw signal?.aborted ? abortError(signal) : single;
        failures.push({ request, error: single });
        results.push(undefined);
      }
      onProgress(results.length);
    }
    // A request's own fault: the library's argument errors (TypeError, RangeError),
    // or any error when other requests of the chunk went through.
    const own = failures.length < requests.length || failures.every((f) => f.error instanceof TypeError || f.error instanceof RangeError);
    if (failures.length === 0 || !own) throw error;
    if (opts.onError === 'fail') throw atLine(failures[0].error, opts.input, failures[0].request);
    for (const f of failures) onSkip({ line: f.request.line, error: atLine(f.error, opts.input, f.request) as FusionrankError });
    return results;
  }
}

/**
 * Runs a batch: checks the files, loads the config (and its models) and the
 * catalog, then reads, ranks and writes a chunk at a time; the output file
 * appears only when the whole run succeeded.
 * @example
 * const summary = await runBatch({ catalog: 'catalog', config: 'ranker.json', input: 'users.jsonl', output: 'ranked.jsonl', format: 'jsonl', onError: 'fail' });
 * summary.requestsPerSecond;
 * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND for a missing catalog, config or input
 * @throws {FusionrankError} what loadRankerConfig throws (ERR_FUSIONRANK_INVALID_SPEC naming the JSON path, ...), and `new Ranker`'s errors prefixed with the config file
 * @throws {FusionrankError} ERR_FUSIONRANK_PARSE / ERR_FUSIONRANK_DUPLICATE_NAME naming file:line for a bad line (with onError 'fail'); a request the ranker refuses, with its own code, also naming file:line
 * @throws {FusionrankError} ERR_FUSIONRANK_MISSING_DEPENDENCY when the format's optional peer is not installed
 * @throws {FusionrankError} ERR_FUSIONRANK_ABORTED when `signal` aborts
 */
export async function runBatch(opts: BatchCliOptions, signal?: AbortSignal, report: BatchReporter = {}): Promise<BatchSummary> {
  requireFile(opts.catalog, '--catalog', 'directory');
  requireFile(opts.config, '--config', 'file');
  requireFile(opts.input, '--input', 'file');
  const peer = opts.format === 'jsonl' ? undefined : await loadFormatPeer(opts.format);
  const [{ loadRankerConfig }, { Catalog }, { Ranker }] = await Promise.all([import('./batch-config.js'), import('../catalog/catalog.js'), import('../scoring/ranker.js')]);
  const options = await loadRankerConfig(opts.config);
  if (opts.k !== undefined) options.k = opts.k;
  const catalog = await Catalog.load(opts.catalog);
  let ranker: BatchRanker;
  try {
    ranker = new Ranker(catalog, options);
  } catch (error) {
    (error as Error).message = `--config ${opts.config} does not fit the catalog ${opts.catalog}: ${(error as Error).message}`;
    throw error;
  }
  if (signal?.aborted) throw abortError(signal);

  const started = performance.now();
  const total = report.countLines ? await countRequestLines(opts.input) : 0;
  const writer = await openBatchWriter(opts.format, opts.output, peer);
  report.opened?.(writer);
  let done = 0;
  let requests = 0;
  let skipped = 0;
  const skip = (bad: BadLine) => {
    skipped++;
    report.skipped?.(bad);
  };
  // An abort ends the run at once, even while a read waits on a slow input or a rank call is in flight.
  const aborted = new Promise<never>((_, reject) => {
    if (signal?.aborted) reject(abortError(signal));
    signal?.addEventListener('abort', () => reject(abortError(signal)), { once: true });
  });
  aborted.catch(() => {});
  const untilAborted = <T>(work: Promise<T>): Promise<T> => (signal ? Promise.race([work, aborted]) : work);
  const chunks = readRequestChunks(opts.input, { chunkSize: opts.chunkSize ?? 4096, onError: opts.onError, signal });
  try {
    for (;;) {
      const next = await untilAborted(chunks.next());
      if (next.done) break;
      const chunk = next.value;
      if (signal?.aborted) throw abortError(signal);
      for (const bad of chunk.bad) skip(bad);
      done += chunk.bad.length;
      const base = done;
      const results = chunk.requests.length ? await untilAborted(rankChunk(ranker, chunk.requests, opts, signal, (d) => report.progress?.(base + d, total), skip)) : [];
      if (signal?.aborted) throw abortError(signal);
      const rows: BatchRow[] = [];
      results.forEach((result, i) => {
        if (result) rows.push({ id: chunk.requests[i].id, result });
      });
      await writer.write(rows);
      requests += rows.length;
      done += chunk.requests.length;
      report.progress?.(done, total);
    }
    if (signal?.aborted) throw abortError(signal);
    await writer.commit();
  } catch (error) {
    // Close the input (the generator is at a yield) unless an abort left a read pending.
    if (!signal?.aborted) await chunks.return(undefined).catch(() => {});
    await writer.abort();
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  return { requests, skipped, items: writer.items, seconds, requestsPerSecond: seconds > 0 ? requests / seconds : 0, output: opts.output ?? '(stdout)', format: opts.format };
}

/**
 * Progress on `stream`: a bar redrawn at most 10 times a second on a TTY, a
 * plain line every 5 seconds otherwise.
 * @example
 * const progress = progressReporter(process.stderr);
 * progress.update(500, 1000); // [############............]  50% 500/1000 requests, 812/s ETA 1 s
 * @throws never
 */
export function progressReporter(stream: Pick<NodeJS.WriteStream, 'write' | 'isTTY'>, clock: () => number = () => performance.now()): { update(done: number, total: number): void; clear(): void } {
  const tty = stream.isTTY === true;
  const start = clock();
  // The first line or bar comes one interval in: a short run shows only its summary.
  let last = start;
  let shown = false;
  return {
    update(done, total) {
      const now = clock();
      if (now - last < (tty ? 100 : 5000)) return;
      last = now;
      const seconds = (now - start) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      const fraction = total > 0 ? Math.min(1, done / total) : 0;
      const eta = rate > 0 && total > done ? ` ETA ${Math.ceil((total - done) / rate)} s` : '';
      const counts = total > 0 ? `${done}/${total}` : `${done}`;
      if (tty) {
        const width = 24;
        const filled = Math.round(fraction * width);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}% ${counts} requests, ${rate.toFixed(0)}/s${eta}\x1b[K`);
        shown = true;
      } else {
        stream.write(`fusionrank batch: ${counts} requests${total > 0 ? ` (${(fraction * 100).toFixed(0)}%)` : ''}, ${rate.toFixed(0)} requests/s${eta}\n`);
      }
    },
    clear() {
      if (tty && shown) stream.write('\r\x1b[K');
    },
  };
}

/** The summary line: requests, seconds, requests/s, items written. */
export function formatBatchSummary(s: BatchSummary): string {
  const rate = s.requestsPerSecond >= 100 ? s.requestsPerSecond.toFixed(0) : s.requestsPerSecond.toFixed(1);
  return `fusionrank batch: ranked ${s.requests} requests in ${s.seconds.toFixed(2)} s (${rate} requests/s), wrote ${s.items} items to ${s.output} (${s.format})${s.skipped ? `; skipped ${s.skipped} lines` : ''}`;
}

/** How many skipped lines are shown one by one before only being counted. */
const SHOWN_SKIPS = 20;

/**
 * Registers `fusionrank batch` on the program.
 * @example
 * registerBatch(program);
 * // npx fusionrank batch --catalog catalog/ --config ranker.json --input users.jsonl --output ranked.arrow --format arrow
 * @throws never (the command reports errors on stderr and exits with code 1, or 130 when interrupted)
 */
export function registerBatch(program: Command): void {
  program
    .command('batch')
    .description('rank every request of a JSON-lines file against a saved catalog with a ranker config, and write the results (JSON lines, Arrow or Parquet)')
    .requiredOption('--catalog <dir>', 'a saved catalog (Catalog.save)')
    .requiredOption('--config <file>', 'the ranker options as JSON; rerank.model / tower.model: an .onnx path, or { "path": "m.safetensors", "spec": ... }, relative to this file')
    .requiredOption('--input <file>', 'requests as JSON lines: {"id": "u1", "query": {"visual": [...]}, "fromHistory": [...], "exclude": [...], "filter": {...}, "k": 20, "now": ...}; blank and # lines skipped')
    .option('--output <file>', 'where to write the results (default: stdout); written to a temporary file and renamed on success')
    .addOption(new Option('--format <format>', 'jsonl: one line per request; arrow (Arrow IPC file) and parquet: one row per (request, rank) with columns id, rank, item, score').choices([...BATCH_FORMATS]).default('jsonl'))
    .option('--k <n>', "results per request for lines without their own k (default: the config's k, else 20)", positiveInt)
    .option('--threads <n>', 'ranking threads (default: rankMany decides)', positiveInt)
    .addOption(new Option('--device <device>', 'where to rank (auto: CUDA when available, else CPU)').choices(['cpu', 'auto', 'cuda']))
    .addOption(new Option('--on-error <policy>', 'a bad line or a request the ranker refuses: fail the run, or skip it and count it').choices(['fail', 'skip']).default('fail'))
    .option('--quiet', 'no progress and no summary (skipped lines are still reported)')
    .addOption(new Option('--chunk-size <n>', 'request lines per rankMany call').argParser(positiveInt).default(4096).hideHelp())
    .action(async (opts: BatchCliOptions) => {
      const controller = new AbortController();
      let writer: BatchWriter | undefined;
      let interrupted = 0;
      const onSigint = () => {
        interrupted++;
        if (interrupted > 1) {
          // A second Ctrl-C: leave now, still without a partial file.
          writer?.abortSync();
          process.stderr.write('\nfusionrank batch: interrupted twice; exiting without output\n');
          process.exit(130);
        }
        controller.abort(new FusionrankError('Interrupted (SIGINT)', 'ERR_FUSIONRANK_ABORTED'));
      };
      process.on('SIGINT', onSigint);
      const progress = opts.quiet ? undefined : progressReporter(process.stderr);
      let skippedShown = 0;
      try {
        const summary = await runBatch(opts, controller.signal, {
          countLines: progress !== undefined,
          progress: progress && ((done, total) => progress.update(done, total)),
          opened: (w) => (writer = w),
          skipped: (bad) => {
            if (skippedShown++ >= SHOWN_SKIPS) return;
            progress?.clear();
            console.error(`fusionrank batch: skipped ${bad.error.code ? `${bad.error.code}: ` : ''}${bad.error.message}`);
          },
        });
        progress?.clear();
        if (summary.skipped > SHOWN_SKIPS) console.error(`fusionrank batch: ... ${summary.skipped - SHOWN_SKIPS} more lines skipped`);
        if (!opts.quiet) console.error(formatBatchSummary(summary));
        else if (summary.skipped) console.error(`fusionrank batch: skipped ${summary.skipped} lines`);
      } catch (error) {
        progress?.clear();
        const e = error as { code?: string; message?: string };
        if (controller.signal.aborted) {
          console.error(`fusionrank batch: interrupted (SIGINT); ${opts.output ? `${opts.output} was not written` : 'the output on stdout is incomplete'}`);
          // A read of a pipe or a rank call may still be pending on the thread pool: do not wait for it.
          process.exit(130);
        } else {
          console.error(`fusionrank batch: ${e.code ? `${e.code}: ` : ''}${e.message ?? String(error)}`);
          if (opts.output) console.error(`fusionrank batch: ${opts.output} was not written`);
          process.exitCode = 1;
        }
      } finally {
        process.off('SIGINT', onSigint);
      }
    });
}
