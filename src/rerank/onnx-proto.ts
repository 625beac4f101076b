/**
 * The ONNX messages, built on first use. @bufbuild/protobuf is a large module
 * graph (about 0.1 s to load), so the reader loads it (its CommonJS build,
 * synchronously) and builds the messages from onnx.proto's descriptor only
 * when a model is read: importing fusionrank does not pay for it.
 */
import { createRequire } from 'node:module';

import type * as protobuf from '@bufbuild/protobuf';
import type * as codegen from '@bufbuild/protobuf/codegenv2';

import { ONNX_FILE_DESCRIPTOR } from './onnx_descriptor.js';
import type { ModelProtoSchema, NodeProtoSchema, TensorProtoSchema } from './onnx_pb.js';

export interface OnnxProto {
  fromBinary: typeof protobuf.fromBinary;
  create: typeof protobuf.create;
  ModelProto: typeof ModelProtoSchema;
  NodeProto: typeof NodeProtoSchema;
  TensorProto: typeof TensorProtoSchema;
}

let loaded: OnnxProto | undefined;

/** The runtime and the message schemas (the same descriptor as ./onnx_pb.ts). */
export function onnxProto(): OnnxProto {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const runtime = require('@bufbuild/protobuf') as typeof protobuf;
  const { fileDesc } = require('@bufbuild/protobuf/codegenv2') as typeof codegen;
  const file = fileDesc(ONNX_FILE_DESCRIPTOR);
  const message = <T>(name: string): T => {
    const found = file.messages.find((m) => m.name === name);
    if (!found) throw new Error(`onnx.proto has no message ${name}`);
    return found as T;
  };
  loaded = {
    fromBinary: runtime.fromBinary,
    create: runtime.create,
    ModelProto: message<typeof ModelProtoSchema>('ModelProto'),
    NodeProto: message<typeof NodeProtoSchema>('NodeProto'),
    TensorProto: message<typeof TensorProtoSchema>('TensorProto'),
  };
  return loaded;
}
