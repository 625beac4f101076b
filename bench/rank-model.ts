/**
 * The bench's rerank MLP (1296 → 128 → 32 → 1, ReLU), generated as an ONNX
 * file with seeded weights, and an onnxruntime-node wrapper that satisfies
 * the Ranker's RerankModel interface (async only: ORT's run is async).
 */
import { create, toBinary } from '@bufbuild/protobuf';

import { ModelProtoSchema, type NodeProto, NodeProtoSchema, TensorProto_DataType, type TensorProto, TensorProtoSchema, type TypeProto, TypeProtoSchema } from '../src/rerank/onnx_pb.js';
import type { RerankModel } from '../src/scoring/ranker.js';
import { rng } from './harness.js';

/** Serialises a Gemm/Relu MLP with the given layer sizes. */
export function mlpOnnx(sizes: number[], seed: number): Uint8Array {
  const random = rng(seed);
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let input = 'input';
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [fanIn, fanOut] = [sizes[l], sizes[l + 1]];
    const scale = Math.sqrt(2 / fanIn);
    const weights = Float32Array.from({ length: fanIn * fanOut }, () => (random() * 2 - 1) * scale);
    const bias = Float32Array.from({ length: fanOut }, () => (random() * 2 - 1) * 0.01);
    initializers.push(
      create(TensorProtoSchema, { name: `W${l}`, dims: [BigInt(fanIn), BigInt(fanOut)], dataType: TensorProto_DataType.FLOAT, rawData: new Uint8Array(weights.buffer) }),
      create(TensorProtoSchema, { name: `B${l}`, dims: [BigInt(fanOut)], dataType: TensorProto_DataType.FLOAT, rawData: new Uint8Array(bias.buffer) }),
    );
    const last = l + 2 === sizes.length;
    const gemmOut = last ? 'output' : `H${l}`;
    nodes.push(create(NodeProtoSchema, { opType: 'Gemm', input: [input, `W${l}`, `B${l}`], output: [gemmOut], name: `gemm${l}` }));
    if (!last) {
      nodes.push(create(NodeProtoSchema, { opType: 'Relu', input: [gemmOut], output: [`R${l}`], name: `relu${l}` }));
      input = `R${l}`;
    }
  }
  const tensorType = (dim: number): TypeProto =>
    create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: { elemType: TensorProto_DataType.FLOAT, shape: { dim: [{ value: { case: 'dimParam', value: 'N' } }, { value: { case: 'dimValue', value: BigInt(dim) } }] } },
      },
    });
  const model = create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'fusionrank-bench',
    opsetImport: [{ domain: '', version: 17n }],
    graph: {
      name: 'fusion_mlp',
      node: nodes,
      initializer: initializers,
      input: [{ name: 'input', type: tensorType(sizes[0]) }],
      output: [{ name: 'output', type: tensorType(sizes[sizes.length - 1]) }],
    },
  });
  return toBinary(ModelProtoSchema, model);
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
