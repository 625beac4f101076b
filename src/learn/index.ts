/**
 * `fusionrank/learn`: factors and weights learned from interactions —
 * implicit-feedback ALS and closed-form fold-in of new users.
 * @packageDocumentation
 */
export {
  fitAls,
  foldIn,
  writeItemFactors,
  type AlsModel,
  type AlsOptions,
  type FoldInOptions,
  type Interaction,
  type InteractionArrays,
  type WriteFactorsResult,
} from './als.js';
export { saveAls, loadAls } from './persist.js';
export { fitWeights, type FitTarget, type FitSplit, type FitWeightsOptions, type FitWeightsResult, type FitStep } from './weights.js';
