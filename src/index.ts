/**
 * fusionrank: native-accelerated multimodal embedding and ranking for Node.js.
 * @packageDocumentation
 */
export { capabilities, type Capabilities } from './capabilities.js';
export { FusionrankError, type ErrorCode } from './errors.js';
export { VectorStore, type Dtype, type VectorStoreOptions, type TopKResult, type TopKOptions, type TopKAsyncOptions } from './retrieval/vector-store.js';
export {
  FusionMlp,
  type Activation as MlpActivation,
  type FusionMlpInput,
  type FusionMlpOptions,
  type LayerSummary as MlpLayerSummary,
  type MissingPolicy,
  type NamedInputs as MlpNamedInputs,
  type PredictAsyncOptions as MlpPredictAsyncOptions,
  type PredictOptions as MlpPredictOptions,
  type SafetensorsSpec,
} from './rerank/fusion-mlp.js';
