/**
 * The bench's rerank MLP (1296 → 128 → 32 → 1, ReLU), generated as an ONNX
 * file with seeded weights, and an onnxruntime-node wrapper that satisfies
 * the Ranker's RerankModel interface (async only: ORT's run is async).
 */
import onnxProto from 'onnx-proto';

import type { RerankModel } from '../src/scoring/ranker.js';
import { rng } from './harness.js';

const { onnx } = onnxProto;

/** Serialises a Gemm/Relu MLP with the given layer sizes. */
export function mlpOnnx(sizes: number[], seed: number): Uint8Array {
  const random = rng(seed);
  const nodes = [];
  const initializers = [];
  let input = 'input';
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [fanIn, fanOut] = [sizes[l], sizes[l + 1]];
    const scale = Math.sqrt(2 / fanIn);
    const weights = Float32Array.from({ length: fanIn * fanOut }, () => (random() * 2 - 1) * scale);
    const bias = Float32Array.from({ length: fanOut }, () => (random() * 2 - 1) * 0.01);
    initializers.push(
      onnx.TensorProto.create({ name: `W${l}`, dims: [fanIn, fanOut], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(weights.buffer) }),
      onnx.TensorProto.create({ name: `B${l}`, dims: [fanOut], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(bias.buffer) }),
    );
    const last = l + 2 === sizes.length;
    const gemmOut = last ? 'output' : `H${l}`;
    nodes.push(onnx.NodeProto.create({ opType: 'Gemm', input: [input, `W${l}`, `B${l}`], output: [gemmOut], name: `gemm${l}` }));
    if (!last) {
      nodes.push(onnx.NodeProto.create({ opType: 'Relu', input: [gemmOut], output: [`R${l}`], name: `relu${l}` }));
      input = `R${l}`;
    }
  }
  const tensorType = (dim: number) =>
    onnx.TypeProto.create({ tensorType: onnx.TypeProto.Tensor.create({ elemType: onnx.TensorProto.DataType.FLOAT, shape: onnx.TensorShapeProto.create({ dim: [onnx.TensorShapeProto.Dimension.create({ dimParam: 'N' }), onnx.TensorShapeProto.Dimension.create({ dimValue: dim })] }) }) });
  const graph = onnx.GraphProto.create({
    name: 'fusion_mlp',
    node: nodes,
    initializer: initializers,
    input: [onnx.ValueInfoProto.create({ name: 'input', type: tensorType(sizes[0]) })],
    output: [onnx.ValueInfoProto.create({ name: 'output', type: tensorType(sizes[sizes.length - 1]) })],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, producerName: 'fusionrank-bench', opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 17 })], graph });
  return onnx.ModelProto.encode(model).finish();
}

interface Ort {
  InferenceSession: { create(bytes: Uint8Array, options?: object): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: Float32Array }>> }> };
  Tensor: new (type: string, data: Float32Array, dims: number[]) => unknown;
}

/** An onnxruntime-node session as a RerankModel (single-threaded, like the rest of the bench). */
export async function ortModel(ort: Ort, bytes: Uint8Array, inputSize: number): Promise<RerankModel & { run(x: Float32Array): Promise<Float32Array> }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const run = async (x: Float32Array) => (await session.run({ input: new ort.Tensor('float32', x, [x.length / inputSize, inputSize]) })).output.data;
  return {
    inputSize,
    outputSize: 1,
    predict: () => {
      throw new Error('onnxruntime-node runs asynchronously; use rankAsync');
    },
    predictAsync: run,
    run,
  };
}
