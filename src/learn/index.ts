/**
 * `fusionrank/learn`: factors and weights learned from interactions —
 * implicit-feedback ALS and closed-form fold-in of new users.
 * @packageDocumentation
 */
export { fitAls, foldIn, type AlsModel, type AlsOptions, type FoldInOptions, type Interaction, type InteractionArrays } from './als.js';
