/**
 * fusionrank: native-accelerated multimodal embedding and ranking for Node.js.
 * @packageDocumentation
 */
export { capabilities, type Capabilities } from './capabilities.js';
export { FusionrankError, type ErrorCode } from './errors.js';
export { VectorStore, type Dtype, type VectorStoreOptions, type TopKResult, type TopKOptions, type TopKAsyncOptions } from './retrieval/vector-store.js';
export {
  FusionMlp,
  type Activation,
  type FusionMlpInput,
  type FusionMlpOptions,
  type LayerSummary,
  type MissingPolicy,
  type NamedInputs,
  type PredictAsyncOptions,
  type PredictOptions,
  type SafetensorsSpec,
} from './rerank/fusion-mlp.js';
