/**
 * fusionrank: native-accelerated multimodal embedding and ranking for Node.js.
 * @packageDocumentation
 */
export { capabilities, type Capabilities } from './capabilities.js';
export { FusionrankError, type ErrorCode } from './errors.js';
export { VectorStore, type Dtype, type VectorStoreOptions, type TopKResult, type TopKOptions, type TopKAsyncOptions } from './retrieval/vector-store.js';
export { Catalog, type CatalogSchema, type CatalogItem, type StoredItem, type FieldType, type FieldValue, type VectorSpec } from './catalog/catalog.js';
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
  type FeatureSpec,
  type RuleOptions,
  type RuleTarget,
  type RankRequest,
  type RankQuery,
  type RankResult,
  type RankedItem,
  type RankTimings,
  type SignalExplanation,
} from './scoring/ranker.js';
