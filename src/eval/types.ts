/**
 * The shapes shared by the evaluation module. Pure data: no native addon.
 */

/** Relevance labels: `qrels[query][doc] = label` (0 or negative: not relevant). */
export type Qrels = Record<string, Record<string, number>>;

/** Retrieval scores: `run[query][doc] = score` (higher is better). */
export type Run = Record<string, Record<string, number>>;

/** A metric name such as `'ndcg@10'`, `'map'`, `'P@5'`, `'recall@100'`. */
export type MetricName = string;

export interface EvaluateOptions {
  /** `'linear'` (default, as trec_eval): gain = label; `'exponential'`: 2^label − 1. */
  gain?: 'linear' | 'exponential';
  /**
   * `'trec'` (default): ties in score broken by document id, descending, as
   * trec_eval does; `'average'`: each metric is averaged over every ordering
   * of tied documents (McSherry & Najork 2008, as sklearn's `ndcg_score`).
   */
  ties?: 'trec' | 'average';
  /**
   * `'both'` (default, as trec_eval): average over the queries in both qrels
   * and run; `'qrels'` (as `trec_eval -c`): every query of the qrels, a query
   * missing from the run scoring 0.
   */
  queries?: 'both' | 'qrels';
  /** The smallest label that counts as relevant for binary metrics (default 1, as `trec_eval -l 1`). */
  relevanceLevel?: number;
}

export interface EvaluateResult {
  /** Mean of each metric over the evaluated queries. */
  mean: Record<MetricName, number>;
  /** Each metric's value per query: `perQuery[metric][query]`. */
  perQuery: Record<MetricName, Record<string, number>>;
}

export interface PairedOptions {
  /** Sign-flip permutations of the randomization test (default 10000); exact enumeration when 2^n ≤ permutations. */
  permutations?: number;
  /** Bootstrap resamples of the CI (default 10000). */
  bootstrap?: number;
  /** Seed of the permutations and resamples (default 42): the same seed gives the same p and CI. */
  seed?: number;
}

export interface PairedResult {
  /** Queries compared. */
  n: number;
  meanA: number;
  meanB: number;
  /** mean(b − a). */
  delta: number;
  /** Percentile bootstrap 95 % interval of mean(b − a). */
  ci95: [number, number];
  /** Two-sided paired t-test p-value. */
  pTTest: number;
  /** Two-sided randomization (sign-flip) test p-value, (b + 1)/(B + 1), or exact. */
  pRandomization: number;
  /** d_z = mean(d) / sd(d) (0 when every difference is 0). */
  effectSize: number;
  /** Queries where b > a, b = a, b < a. */
  wins: number;
  ties: number;
  losses: number;
}

export interface CompareRow extends PairedResult {
  run: string;
  metric: MetricName;
  baseline: string;
  /** The p-value of `test`, adjusted for every row of the comparison. */
  pAdjusted: number;
}

export interface CompareOptions extends PairedOptions, EvaluateOptions {
  /** The run the others are compared to (default: the first). */
  baseline?: string;
  metrics: MetricName[];
  /** Multiple-comparison correction over all rows (default `'holm'`). */
  correction?: 'holm' | 'bonferroni' | 'none';
  /** Which p-value `pAdjusted` corrects (default `'randomization'`). */
  test?: 'randomization' | 't';
}

export interface AgreementOptions {
  /** Compare the top k of each ranking (default: the whole lists). */
  k?: number;
  /** RBO persistence (default 0.9). */
  p?: number;
}

export interface AgreementValues {
  /** Kendall's tau-b over the items both rankings hold. */
  kendallTau: number;
  /** Spearman's rho over the items both rankings hold. */
  spearman: number;
  /** Rank-biased overlap, extrapolated (Webber, Moffat & Zobel 2010). */
  rbo: number;
  /** |A_k ∩ B_k| / k. */
  overlap: number;
  /** 1 when both rankings start with the same item (mean: share of queries). */
  top1: number;
  /** Mean |Δrank| over the union of both top k (an item absent from one list sits at k + 1 there). */
  positionsMoved: number;
  /** Pearson correlation of the scores of the items both rankings hold. */
  scoreCorrelation: number;
}

export interface AgreementResult extends AgreementValues {
  /** Queries in both runs. */
  queries: number;
  perQuery: Record<string, AgreementValues>;
}

/** One logged impression list: what was shown, in order, and what was clicked. */
export interface ImpressionLog {
  query: string;
  shown: readonly string[];
  clicks: readonly string[];
}
