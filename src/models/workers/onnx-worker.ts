/**
 * Hosts one onnxruntime-node session in its own thread: onnxruntime-node's
 * `run()` computes on the calling thread, so running it here keeps the
 * event loop of the main thread free.
 */
import { parentPort, workerData } from 'node:worker_threads';

import type { InferenceSession, Tensor } from 'onnxruntime-node';

import { encodeError, type WireError } from '../../util/wire-error.js';
import { missingCudaProvider } from '../cuda-provider.js';

export interface OnnxWorkerData {
  model: string | Uint8Array;
  device: 'auto' | 'cpu' | 'cuda';
  /** Skip the CUDA attempt for 'auto' (it already failed in this process). */
  cudaKnownUnavailable: boolean;
  sessionOptions: Record<string, unknown>;
  cudaDeviceId: number;
}

export interface WireTensor {
  type: string;
  data: ArrayBufferView;
  dims: number[];
}

export type OnnxWorkerReply =
  | { kind: 'ready'; device: 'cpu' | 'cuda'; cudaError?: string; inputs: WireInfo[]; outputs: WireInfo[] }
  | { kind: 'failed'; error: WireError }
  | { kind: 'result'; id: number; outputs: Array<Record<string, WireTensor>> }
  | { kind: 'error'; id: number; error: WireError };

export interface WireInfo {
  name: string;
  type: string;
  shape: Array<number | string>;
}

type Ort = typeof import('onnxruntime-node');

const port = parentPort!;
const data = workerData as OnnxWorkerData;

function describeMetadata(list: readonly InferenceSession.ValueMetadata[]): WireInfo[] {
  return list.map((m) =>
    m.isTensor ? { name: m.name, type: m.type, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) } : { name: m.name, type: 'non-tensor', shape: [] },
  );
}

async function start(): Promise<void> {
  let ort: Ort;
  try {
    const mod = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    ort = mod.default && typeof mod.default === 'object' ? mod.default : mod;
  } catch (error) {
    port.postMessage({ kind: 'failed', error: { name: 'FusionrankError', code: 'ERR_FUSIONRANK_MISSING_DEPENDENCY', message: `The optional dependency 'onnxruntime-node' is needed for ONNX encoder sessions (OnnxModel, ClipEncoder) but could not be loaded. Install it with: npm install onnxruntime-node (${(error as Error).message})` } } satisfies OnnxWorkerReply);
    return;
  }
  const create = (providers: unknown[]) =>
    typeof data.model === 'string'
      ? ort.InferenceSession.create(data.model, { ...data.sessionOptions, executionProviders: providers } as InferenceSession.SessionOptions)
      : ort.InferenceSession.create(data.model, { ...data.sessionOptions, executionProviders: providers } as InferenceSession.SessionOptions);

  let session: InferenceSession;
  let device: 'cpu' | 'cuda' = 'cpu';
  let cudaError: string | undefined;
  try {
    const missing = data.device === 'cpu' ? undefined : missingCudaProvider();
    if (missing !== undefined && data.device === 'cuda') throw new Error(missing);
    if (missing !== undefined) {
      cudaError = missing;
      session = await create(['cpu']);
    } else if (data.device === 'cuda' || (data.device === 'auto' && !data.cudaKnownUnavailable)) {
      try {
        session = await create([{ name: 'cuda', deviceId: data.cudaDeviceId }, 'cpu']);
        device = 'cuda';
      } catch (error) {
        const message = String((error as Error)?.message ?? error);
        if (data.device === 'cuda' || /protobuf|parse|invalid model|load model/i.test(message)) throw error;
        cudaError = message;
        session = await create(['cpu']);
      }
    } else {
      session = await create(['cpu']);
    }
  } catch (error) {
    const message = String((error as Error)?.message ?? error);
    const cuda = data.device === 'cuda' && /cuda|provider|shared library|libcu/i.test(message);
    port.postMessage({
      kind: 'failed',
      error: cuda
        ? { name: 'FusionrankError', code: 'ERR_FUSIONRANK_CUDA_UNAVAILABLE', message: `device 'cuda' was requested but the CUDA execution provider cannot start: ${message}. Install the CUDA 12 libraries and onnxruntime-node's CUDA provider (its install step, without ONNXRUNTIME_NODE_INSTALL=skip), or use device 'auto' to fall back to CPU` }
        : { name: 'FusionrankError', code: 'ERR_FUSIONRANK_INVALID_MODEL', message: `onnxruntime cannot load the model: ${message}` },
    } satisfies OnnxWorkerReply);
    return;
  }
  port.postMessage({ kind: 'ready', device, cudaError, inputs: describeMetadata(session.inputMetadata), outputs: describeMetadata(session.outputMetadata) } satisfies OnnxWorkerReply);

  port.on('message', async (message: { id: number; requests: Array<Record<string, WireTensor>> }) => {
    try {
      const { requests } = message;
      const rows = requests.map((r) => Object.values(r)[0]?.dims[0] ?? 0);
      const total = rows.reduce((a, b) => a + b, 0);
      // Concatenate along axis 0 here, off the main thread.
      const feeds: Record<string, Tensor> = {};
      for (const name of Object.keys(requests[0])) {
        const first = requests[0][name];
        let data = first.data;
        if (requests.length > 1) {
          const Ctor = first.data.constructor as new (n: number) => Float32Array;
          const joined = new Ctor(requests.reduce((n, r) => n + (r[name].data as Float32Array).length, 0));
          let offset = 0;
          for (const r of requests) {
            joined.set(r[name].data as Float32Array, offset);
            offset += (r[name].data as Float32Array).length;
          }
          data = joined;
        }
        feeds[name] = new ort.Tensor(first.type as 'float32', data as Float32Array, [total, ...first.dims.slice(1)]);
      }
      const results = await session.run(feeds);
      const transfer: ArrayBuffer[] = [];
      const outputs: Array<Record<string, WireTensor>> = requests.map(() => ({}));
      for (const [name, tensor] of Object.entries(results)) {
        const view = tensor.data as unknown as Float32Array;
        if (requests.length === 1) {
          outputs[0][name] = { type: tensor.type, data: view, dims: [...tensor.dims] };
          if (view.buffer instanceof ArrayBuffer && !transfer.includes(view.buffer)) transfer.push(view.buffer);
          continue;
        }
        if (tensor.dims[0] !== total) throw Object.assign(new Error(`Output '${name}' has dims [${tensor.dims.join(', ')}] without the batch axis of ${total} rows; use run() for this model`), { code: 'ERR_FUSIONRANK_INFERENCE_FAILED' });
        const per = view.length / total;
        let start = 0;
        requests.forEach((_, i) => {
          const part = view.slice(start * per, (start + rows[i]) * per);
          start += rows[i];
          outputs[i][name] = { type: tensor.type, data: part, dims: [rows[i], ...tensor.dims.slice(1)] };
          transfer.push(part.buffer as ArrayBuffer);
        });
      }
      port.postMessage({ kind: 'result', id: message.id, outputs } satisfies OnnxWorkerReply, transfer);
    } catch (error) {
      port.postMessage({ kind: 'error', id: message.id, error: encodeError(error, 'ERR_FUSIONRANK_INFERENCE_FAILED') } satisfies OnnxWorkerReply);
    }
  });
}

void start();
