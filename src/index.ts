/**
 * fusionrank: native-accelerated multimodal embedding and ranking for Node.js.
 * @packageDocumentation
 */
export { capabilities, type Capabilities } from './capabilities.js';
export { FusionrankError, type ErrorCode } from './errors.js';
export { VectorStore, type Dtype, type VectorStoreOptions, type TopKResult, type TopKOptions, type TopKAsyncOptions } from './retrieval/vector-store.js';
