/**
 * A general-purpose ONNX model on onnxruntime-node (an optional peer, loaded
 * on first use), for encoders and for any graph FusionMlp cannot run natively.
 *
 * - Device preference: 'auto' tries CUDA then CPU; when CUDA cannot start
 *   (missing libraries, no device) it falls back to CPU with one warning per
 *   process, and later 'auto' loads go straight to CPU. 'cuda' fails loudly.
 * - The session lives in its own worker thread: onnxruntime-node's `run()`
 *   computes on the calling thread, so hosting it elsewhere keeps the event
 *   loop free (measured: a 400 ms run blocked the loop for 400 ms in-thread).
 * - `submit()` micro-batches: concurrent requests with a dynamic batch axis
 *   are concatenated along axis 0, run once, and split back.
 */
import { Worker } from 'node:worker_threads';

import { FusionrankError, invalidParameter, rangeError, typeError, withCallerStack } from '../errors.js';
import { optionalOptions, requireInteger, requireOneOf } from '../util/validate.js';
import { decodeError } from '../util/wire-error.js';
import { workerScript } from '../util/worker-script.js';
import type { OnnxWorkerData, OnnxWorkerReply, WireTensor } from './workers/onnx-worker.js';

export type Device = 'auto' | 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda'];

/** Element types onnxruntime accepts, and the typed array that carries each. */
export type TensorType = 'float32' | 'float64' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool' | 'float16';
export type TensorData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** A tensor as fusionrank passes it: flat data and its dims. An onnxruntime `Tensor` also fits. */
export interface TensorLike {
  data: TensorData;
  dims: readonly number[];
  /** Needed only where the array type is ambiguous (Uint8Array for 'bool', Uint16Array for 'float16'). */
  type?: TensorType;
}

/** An output tensor. */
export interface OutputTensor {
  type: TensorType;
  data: TensorData;
  dims: number[];
}

/** Name, element type and shape of a model input or output; a string or -1 marks a dynamic axis. */
export interface TensorInfo {
  name: string;
  type: TensorType | 'non-tensor';
  shape: Array<number | string>;
}

export interface MicroBatchOptions {
  /** Most rows one batched run carries (default 32). */
  maxBatch?: number;
  /** Longest a request waits for company, in ms (default 2; 0 = the next turn of the event loop). */
  maxWaitMs?: number;
}

export interface RunOptions {
  /** Hand the input buffers over to the session thread instead of copying them (they are detached here afterwards). */
  transfer?: boolean;
}

/** Buffers of `feeds` that can be moved whole (not views into a larger or shared buffer). */
function transferList(feeds: Record<string, WireTensor>, options: RunOptions): ArrayBuffer[] {
  if (options === null || typeof options !== 'object') throw typeError(invalidParameter('options', 'an options object', options));
  if (!options.transfer) return [];
  const list: ArrayBuffer[] = [];
  for (const t of Object.values(feeds)) {
    const buffer = t.data.buffer;
    if (buffer instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === buffer.byteLength) list.push(buffer);
  }
  return list;
}

export interface OnnxModelOptions {
  /** 'auto' (default: CUDA, else CPU with one warning), 'cpu' or 'cuda' (fails when CUDA cannot start). */
  device?: Device;
  /** CUDA device ordinal (default 0). */
  cudaDeviceId?: number;
  /** Threads inside one operator (default: onnxruntime's choice, all cores). */
  intraOpThreads?: number;
  /** Graph optimisation level (default 'all'). */
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** The micro-batching queue used by `submit()`. */
  batch?: MicroBatchOptions;
}

const TYPE_OF_ARRAY: Array<[new (...args: never[]) => TensorData, TensorType]> = [
  [Float32Array, 'float32'], [Float64Array, 'float64'], [Int8Array, 'int8'], [Uint8Array, 'uint8'], [Int16Array, 'int16'],
  [Uint16Array, 'uint16'], [Int32Array, 'int32'], [Uint32Array, 'uint32'], [BigInt64Array, 'int64'], [BigUint64Array, 'uint64'],
];

function tensorType(t: TensorLike, name: string): TensorType {
  if (t.type === 'bool' && t.data instanceof Uint8Array) return 'bool';
  if (t.type === 'float16' && t.data instanceof Uint16Array) return 'float16';
  for (const [ctor, type] of TYPE_OF_ARRAY) if (t.data instanceof ctor) return type;
  throw typeError(invalidParameter(`feeds.${name}.data`, 'a typed array (Float32Array, BigInt64Array, Int32Array, ...)', t.data));
}

/** A process-wide record that CUDA could not start, so 'auto' warns once. */
let cudaUnavailable: string | undefined;

/**
 * Forgets that CUDA failed, so the next 'auto' load tries it again (and may warn again).
 * For tests and long-lived processes after a driver install.
 * @example resetCudaProbe(); const model = await OnnxModel.load(bytes); // tries CUDA first again
 * @throws never
 */
export function resetCudaProbe(): void {
  cudaUnavailable = undefined;
}

interface Pending {
  resolve: (outputs: Array<Record<string, OutputTensor>>) => void;
  reject: (error: Error) => void;
  caller: Error;
}

interface Queued {
  feeds: Record<string, WireTensor>;
  transfer: ArrayBuffer[];
  rows: number;
  resolve: (outputs: Record<string, OutputTensor>) => void;
  reject: (error: unknown) => void;
}

interface BatchGroup {
  requests: Queued[];
  rows: number;
  timer?: NodeJS.Timeout | NodeJS.Immediate;
}

/**
 * @example
 * const model = await OnnxModel.load('clip-image.onnx', { device: 'auto' });
 * model.device;  // 'cuda' or 'cpu'
 * model.inputs;  // [{ name: 'pixel_values', type: 'float32', shape: ['batch', 3, 224, 224] }]
 * const out = await model.run({ pixel_values: { data: pixels, dims: [1, 3, 224, 224] } });
 * out.image_embeds.data; // Float32Array
 */
export class OnnxModel {
  /** The execution provider in use. */
  readonly device: 'cpu' | 'cuda';
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** The micro-batching settings of `submit()`. */
  readonly batch: Readonly<Required<MicroBatchOptions>>;
  /** Number of `run()` calls that reached onnxruntime (batched ones count once). */
  runs = 0;

  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  readonly #groups = new Map<string, BatchGroup>();
  #nextId = 0;
  #failure: Error | undefined;
  #closed = false;

  private constructor(worker: Worker, ready: Extract<OnnxWorkerReply, { kind: 'ready' }>, batch: Required<MicroBatchOptions>) {
    this.#worker = worker;
    this.device = ready.device;
    this.inputs = Object.freeze(ready.inputs.map((i) => Object.freeze({ ...i, type: i.type as TensorInfo['type'] })));
    this.outputs = Object.freeze(ready.outputs.map((i) => Object.freeze({ ...i, type: i.type as TensorInfo['type'] })));
    this.batch = Object.freeze(batch);
    worker.on('message', (message: OnnxWorkerReply) => this.#onMessage(message));
    worker.on('error', (error) => this.#fail(new FusionrankError(`The ONNX worker thread crashed: ${error.message}`, 'ERR_FUSIONRANK_WORKER_CRASHED', { cause: error })));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#fail(new FusionrankError(`The ONNX worker thread exited with code ${code}; load the model again`, 'ERR_FUSIONRANK_WORKER_CRASHED'));
    });
    worker.unref();
  }

  /**
   * Loads a model from a path or its bytes and starts its session thread.
   * @example
   * const model = await OnnxModel.load(bytes, { device: 'cpu', batch: { maxBatch: 64, maxWaitMs: 1 } });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when the source is neither a path nor bytes, or an option is wrong
   * @throws {FusionrankError} ERR_FUSIONRANK_INVALID_MODEL when onnxruntime cannot parse or load the model
   * @throws {FusionrankError} ERR_FUSIONRANK_FILE_NOT_FOUND when the path does not exist
   * @throws {FusionrankError} ERR_FUSIONRANK_CUDA_UNAVAILABLE when device is 'cuda' and CUDA cannot start
   * @throws {FusionrankError} ERR_FUSIONRANK_MISSING_DEPENDENCY when onnxruntime-node is not installed
   */
  static async load(pathOrBytes: string | Uint8Array, options: OnnxModelOptions = {}): Promise<OnnxModel> {
    const caller = new Error();
    const opts = optionalOptions<OnnxModelOptions>(options, 'options');
    if (typeof pathOrBytes !== 'string' && !(pathOrBytes instanceof Uint8Array))
      throw typeError(invalidParameter('pathOrBytes', 'a model file path or the model bytes (Uint8Array)', pathOrBytes));
    if (pathOrBytes.length === 0) throw typeError(invalidParameter('pathOrBytes', 'a non-empty path or non-empty bytes', pathOrBytes), 'ERR_FUSIONRANK_INVALID_MODEL');
    const device = requireOneOf(opts.device ?? 'auto', 'device', DEVICES);
    const cudaDeviceId = requireInteger(opts.cudaDeviceId ?? 0, 'cudaDeviceId', 0, 64);
    const batchOptions = optionalOptions<MicroBatchOptions>(opts.batch, 'batch');
    const batch = {
      maxBatch: requireInteger(batchOptions.maxBatch ?? 32, 'batch.maxBatch', 1, 65536),
      maxWaitMs: requireInteger(batchOptions.maxWaitMs ?? 2, 'batch.maxWaitMs', 0, 60_000),
    };
    const sessionOptions: Record<string, unknown> = { graphOptimizationLevel: opts.graphOptimization ?? 'all', logSeverityLevel: 3 };
    if (opts.graphOptimization !== undefined) requireOneOf(opts.graphOptimization, 'graphOptimization', ['disabled', 'basic', 'extended', 'all']);
    if (opts.intraOpThreads !== undefined) sessionOptions.intraOpNumThreads = requireInteger(opts.intraOpThreads, 'intraOpThreads', 1, 1024);
    if (typeof pathOrBytes === 'string') {
      const { stat } = await import('node:fs/promises');
      const { fileError } = await import('../ingest/input.js');
      await stat(pathOrBytes).catch((error: unknown) => {
        throw withCallerStack(fileError(error, pathOrBytes), caller);
      });
    }
    const data: OnnxWorkerData = { model: pathOrBytes, device, cudaKnownUnavailable: cudaUnavailable !== undefined, sessionOptions, cudaDeviceId };
    const worker = new Worker(workerScript(import.meta.url, 'workers/onnx-worker.js', 'src/models'), { workerData: data });
    const listeners: Array<[string, (...args: any[]) => void]> = [];
    const reply = await new Promise<OnnxWorkerReply>((resolve, reject) => {
      listeners.push(['message', resolve]);
      listeners.push(['error', (error: Error) => reject(new FusionrankError(`The ONNX worker thread failed to start: ${error.message}`, 'ERR_FUSIONRANK_WORKER_CRASHED', { cause: error }))]);
      listeners.push(['exit', (code: number) => reject(new FusionrankError(`The ONNX worker thread exited with code ${code} while loading`, 'ERR_FUSIONRANK_WORKER_CRASHED'))]);
      for (const [event, listener] of listeners) worker.once(event, listener);
    }).catch((error: unknown) => {
      void worker.terminate();
      throw withCallerStack(error, caller);
    });
    // Only our own listeners: Worker keeps internal ones of its own.
    for (const [event, listener] of listeners) worker.off(event, listener);
    if (reply.kind !== 'ready') {
      await worker.terminate();
      throw withCallerStack(reply.kind === 'failed' ? decodeError(reply.error) : new FusionrankError('Unexpected reply from the ONNX worker', 'ERR_FUSIONRANK_INTERNAL'), caller);
    }
    if (reply.cudaError !== undefined && cudaUnavailable === undefined) {
      cudaUnavailable = reply.cudaError;
      process.emitWarning(`CUDA is unavailable (${reply.cudaError.split('\n')[0]}); fusionrank runs ONNX models on the CPU. Pass device: 'cpu' to silence this.`, {
        type: 'FusionrankWarning',
        code: 'FUSIONRANK_CUDA_FALLBACK',
      });
    }
    return new OnnxModel(worker, reply, batch);
  }

  /** Names of the inputs, in order. */
  get inputNames(): string[] {
    return this.inputs.map((i) => i.name);
  }

  /** Names of the outputs, in order. */
  get outputNames(): string[] {
    return this.outputs.map((o) => o.name);
  }

  /**
   * Runs the model once on the session thread. Input arrays are copied (the
   * caller keeps them) unless `transfer` hands them over; outputs are
   * transferred back without a copy.
   * @example
   * const { logits } = await model.run({ input: { data: x, dims: [8, 64] } });
   * @throws {TypeError} ERR_FUSIONRANK_INVALID_ARGUMENT when feeds are not tensors or an input is missing
   * @throws {RangeError} ERR_FUSIONRANK_DIM_MISMATCH when data.length does not match dims
   * @throws {FusionrankError} ERR_FUSIONRANK_INFERENCE_FAILED when onnxruntime rejects the run
   * @throws {FusionrankError} ERR_FUSIONRANK_WORKER_CRASHED / ERR_FUSIONRANK_POOL_CLOSED when the model can no longer run
   */
  run(feeds: Record<string, TensorLike>, options: RunOptions = {}): Promise<Record<string, OutputTensor>> {
    const caller = new Error();
    let wire: Record<string, WireTensor>;
    try {
      wire = this.#checkFeeds(feeds);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#post([wire], transferList(wire, options), caller).then((outputs) => outputs[0]);
  }

  /**
   * Queues a request for the micro-batcher: requests that arrive within
   * `batch.maxWaitMs` of each other (up to `batch.maxBatch` rows) share one
   * run, concatenated along axis 0, and each gets its own rows back. Models
   * whose inputs have a fixed first axis run each request alone.
   * @example
   * const results = await Promise.all(images.map((px) => model.submit({ pixel_values: { data: px, dims: [1, 3, 224, 224] } })));
   * @throws the errors of `run()`
   */
  submit(feeds: Record<string, TensorLike>, options: RunOptions = {}): Promise<Record<string, OutputTensor>> {
    let rows: number;
    let wire: Record<string, WireTensor>;
    try {
      wire = this.#checkFeeds(feeds);
      rows = this.#batchRows(feeds);
    } catch (error) {
      return Promise.reject(error);
    }
    if (rows < 0 || rows >= this.batch.maxBatch) return this.run(feeds, options);
    const key = Object.entries(wire)
      .map(([name, t]) => `${name}:${t.type}:${t.dims.slice(1).join('x')}`)
      .sort()
      .join('|');
    return new Promise((resolve, reject) => {
      let group = this.#groups.get(key);
      if (group && group.rows + rows > this.batch.maxBatch) {
        this.#flush(key, group);
        group = undefined;
      }
      if (!group) {
        group = { requests: [], rows: 0 };
        this.#groups.set(key, group);
      }
      group.requests.push({ feeds: wire, transfer: transferList(wire, options), rows, resolve, reject });
      group.rows += rows;
      const current = group;
      if (group.rows >= this.batch.maxBatch) this.#flush(key, group);
      else if (!group.timer)
        group.timer = this.batch.maxWaitMs === 0 ? setImmediate(() => this.#flush(key, current)) : setTimeout(() => this.#flush(key, current), this.batch.maxWaitMs);
    });
  }

  /**
   * Stops the session thread. Queued and running requests fail with ERR_FUSIONRANK_POOL_CLOSED.
   * @example await model.close();
   * @throws never
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [key, group] of this.#groups) this.#flush(key, group);
    this.#fail(new FusionrankError('The model was closed', 'ERR_FUSIONRANK_POOL_CLOSED'));
    await this.#worker.terminate();
  }

  /** Rows of a request along axis 0, or -1 when it cannot be batched. */
  #batchRows(feeds: Record<string, TensorLike>): number {
    let rows = -1;
    for (const info of this.inputs) {
      const first = info.shape[0];
      if (info.shape.length === 0 || (typeof first === 'number' && first >= 0)) return -1;
      const t = feeds[info.name];
      if (!t || t.dims.length === 0) return -1;
      if (rows === -1) rows = t.dims[0];
      else if (rows !== t.dims[0]) return -1;
    }
    return rows;
  }

  #flush(key: string, group: BatchGroup): void {
    if (this.#groups.get(key) === group) this.#groups.delete(key);
    if (group.timer) {
      clearTimeout(group.timer as NodeJS.Timeout);
      clearImmediate(group.timer as NodeJS.Immediate);
      group.timer = undefined;
    }
    const { requests } = group;
    if (requests.length === 0) return;
    // The session thread concatenates and splits: the event loop only posts.
    this.#post(
      requests.map((r) => r.feeds),
      requests.flatMap((r) => r.transfer),
      new Error(),
    ).then(
      (outputs) => requests.forEach((r, i) => r.resolve(outputs[i])),
      (error) => requests.forEach((r) => r.reject(error)),
    );
  }

  #checkFeeds(feeds: Record<string, TensorLike>): Record<string, WireTensor> {
    if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds))
      throw typeError(invalidParameter('feeds', 'an object of { name: { data, dims } }', feeds));
    const wire: Record<string, WireTensor> = {};
    for (const info of this.inputs) {
      const t = feeds[info.name];
      if (t === undefined) throw typeError(`Missing input '${info.name}' in feeds; the model's inputs are ${this.inputNames.map((n) => `'${n}'`).join(', ')}`);
      if (t === null || typeof t !== 'object' || !ArrayBuffer.isView(t.data) || !Array.isArray(t.dims))
        throw typeError(invalidParameter(`feeds.${info.name}`, 'a tensor { data: TypedArray, dims: number[] }', t));
      const type = tensorType(t, info.name);
      if (t.dims.some((d) => !Number.isInteger(d) || d < 0)) throw rangeError(invalidParameter(`feeds.${info.name}.dims`, 'non-negative integers', t.dims));
      const count = t.dims.reduce((a, b) => a * b, 1);
      if (count !== t.data.length)
        throw rangeError(`feeds.${info.name} has ${t.data.length} elements but dims [${t.dims.join(', ')}] need ${count}`, 'ERR_FUSIONRANK_DIM_MISMATCH');
      if (info.type !== 'non-tensor' && info.type !== type)
        throw typeError(`Expected ${info.type} data for feeds.${info.name} but received ${type} (${t.data.constructor.name})`);
      if (info.shape.length !== t.dims.length)
        throw rangeError(`Expected ${info.shape.length} dims [${info.shape.join(', ')}] for feeds.${info.name} but received [${t.dims.join(', ')}]`, 'ERR_FUSIONRANK_DIM_MISMATCH');
      info.shape.forEach((d, i) => {
        if (typeof d === 'number' && d !== t.dims[i])
          throw rangeError(`Expected dims [${info.shape.join(', ')}] for feeds.${info.name} but received [${t.dims.join(', ')}]`, 'ERR_FUSIONRANK_DIM_MISMATCH');
      });
      wire[info.name] = { type, data: t.data, dims: [...t.dims] };
    }
    return wire;
  }

  #post(requests: Array<Record<string, WireTensor>>, transfer: ArrayBuffer[], caller: Error): Promise<Array<Record<string, OutputTensor>>> {
    if (this.#failure) return Promise.reject(withCallerStack(this.#failure, caller));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, caller });
      if (this.#pending.size === 1) this.#worker.ref();
      this.runs++;
      this.#worker.postMessage({ id, requests }, [...new Set(transfer)]);
    });
  }

  #onMessage(message: OnnxWorkerReply): void {
    if (message.kind !== 'result' && message.kind !== 'error') return;
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    this.#pending.delete(message.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (message.kind === 'result') pending.resolve(message.outputs as Array<Record<string, OutputTensor>>);
    else pending.reject(withCallerStack(decodeError(message.error), pending.caller) as Error);
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of this.#pending.values()) pending.reject(withCallerStack(error, pending.caller) as Error);
    this.#pending.clear();
  }
}

