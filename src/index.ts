/**
 * fusionrank: native-accelerated multimodal embedding and ranking for Node.js.
 * @packageDocumentation
 */
export { capabilities, type Capabilities } from './capabilities.js';
// The CUDA package loads on the first call, never on import.
export { cudaCapabilities, type CudaInfo, type CudaGpu } from './cuda.js';
export { nativePath } from './native.js';
export { FusionrankError, type ErrorCode } from './errors.js';
export { VectorStore, type Dtype, type VectorStoreOptions, type TopKResult, type TopKOptions, type TopKAsyncOptions, type TopKManyOptions, type TopKManyResult } from './retrieval/vector-store.js';
export {
  FusionMlp,
  type Activation as MlpActivation,
  type FusionMlpInput,
  type FusionMlpOptions,
  type LayerSummary as MlpLayerSummary,
  type MissingPolicy as MlpMissingPolicy,
  type NamedInputs as MlpNamedInputs,
  type PredictAsyncOptions as MlpPredictAsyncOptions,
  type PredictOptions as MlpPredictOptions,
  type Precision as MlpPrecision,
  type SafetensorsSpec,
} from './rerank/fusion-mlp.js';
// Ingest and encoders: their heavy peers (onnxruntime-node, sharp, tesseract.js,
// piscina, @huggingface/tokenizers) load on first use, not on import.
export { OnnxModel, type Device, type OnnxModelOptions, type MicroBatchOptions, type RunOptions, type TensorInfo, type TensorLike, type OutputTensor, type TensorType } from './models/onnx-model.js';
export { ClipEncoder, type ClipEncoderOptions } from './models/clip-encoder.js';
export { ImagePool, type ImagePoolOptions, type ImagePoolMode, type ImagePoolCalibration } from './ingest/image-pool.js';
export { OcrPool, type OcrPoolOptions, type OcrResult } from './ingest/ocr-pool.js';
export type { PoolOptions, TaskOptions } from './ingest/task-pool.js';
export { CLIP_MEAN, CLIP_STD, type PreprocessOptions, type ResizeKernel } from './ingest/preprocess.js';
export { classifyContent, type ContentType, type ContentThresholds, type ContentFeatures } from './ingest/content-type.js';
export {
  Ingestor,
  type IngestorOptions,
  type IngestItem,
  type IngestOptions,
  type IngestProgress,
  type IngestResult,
  type IngestFailure,
  type IngestedItem,
  type CatalogLike,
  type IngestEncoder,
} from './ingest/ingestor.js';
export type { IngestSchemaOptions, IngestVectorNames, IngestFieldNames } from './ingest/schema.js';
export { Catalog, type CatalogSchema, type CatalogItem, type StoredItem, type FieldType, type FieldValue, type VectorSpec, type CatalogTopKManyResult } from './catalog/catalog.js';
export type { FilterSpec, Condition } from './catalog/filter.js';
export {
  Ranker,
  type RankerOptions,
  type RetrieverOptions,
  type SignalOptions,
  type NormalizeMethod,
  type MissingPolicy,
  type RerankModel,
  type RerankOptions,
  type TowerOptions,
  type UserFeatures,
  type FeatureSpec,
  type RuleOptions,
  type RuleTarget,
  type RankRequest,
  type RankQuery,
  type RankResult,
  type RankManyOptions,
  type RankedItem,
  type RankTimings,
  type SignalExplanation,
} from './scoring/ranker.js';
// Evaluation (also `fusionrank/eval`, which loads without the native addon).
export * from './eval/index.js';
export * from './learn/index.js';
