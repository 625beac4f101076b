/**
 * `fusionrank/eval`: is a ranking change real? Metrics with trec_eval's
 * semantics, paired statistics, agreement between rankings, fusion
 * baselines, counterfactual estimates from click logs, and the Ranker in the
 * loop. Pure TypeScript: importing it does not load the native addon.
 * @packageDocumentation
 */
export type * from './types.js';
export { evaluate, parseMetric, METRIC_FORMS, type ParsedMetric } from './metrics.js';
export { parseQrels, parseRun, parseQrelsJsonl, parseRunJsonl, readQrels, readRun } from './readers.js';
export { paired, compare, adjustPValues } from './stats.js';
export { agreement } from './agreement.js';
export { fuse, type FuseOptions, type FusionMethod, type FusionNorm } from './fuse.js';
export * from './counterfactual.js';
export {
  evaluateRanker,
  ablate,
  type Slice,
  type EvaluateRankerOptions,
  type RankerEvaluation,
  type AblateOptions,
  type AblationVariant,
  type Ablation,
} from './ranker-eval.js';
export { renderReport, type ReportData } from './report.js';
