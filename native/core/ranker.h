// A compiled ranking plan: retrieval (HNSW or exact, filtered), signals,
// normalisation over the candidate set, missing-modality policy, cold-start
// blend and weighted fusion (stage 1); then rerank blend, business rules,
// MMR and caps (stage 2). Built once per Ranker; executed per request with
// the catalog's reader lock held.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "catalog.h"
#include "filter.h"
#include "item_cache.h"

namespace fr {

enum class SignalKind { kSimilarity, kBehavior, kEngagement, kRecency, kField };
enum class Transform { kNone, kLog, kSqrt, kSigmoid };
enum class Decay { kExp, kGauss, kLinear };
enum class Normalize { kNone, kMinMax, kZScore, kRank, kRrf };
enum class MissingPolicy { kRenormalize, kZero, kDefault, kDrop };

struct SignalPlan {
  SignalKind kind = SignalKind::kSimilarity;
  int vector = -1;           // similarity / behavior
  std::vector<int> fields;   // engagement: summed; recency / field: one
  Transform transform = Transform::kNone;
  double scale = 1;          // sigmoid scale
  Decay decay = Decay::kExp;
  double half_life_ms = 0;   // recency: where the decay reaches 0.5
  double weight = 0;
  int blend_group = 0;       // 0 none, 1 content, 2 behaviour
};

struct RetrieverPlan {
  int vector = -1;
  size_t k = 0;
  bool exact = false;
  size_t expansion = 0;  // HNSW ef; 0 = max(k, 64)
};

struct RulePlan {
  enum class Kind { kPin, kBoost, kBury } kind = Kind::kBoost;
  double by = 0;
  bool has_filter = false;
  FilterNode filter;
};

struct CapPlan {
  int field = -1;
  size_t max = 0;
};

struct FeaturePlan {
  enum class Kind { kVector, kSignal, kSignalRaw, kField, kPresent } kind = Kind::kSignal;
  int index = -1;
  size_t width = 1;
};

struct RankPlan {
  std::vector<RetrieverPlan> retrievers;
  bool has_filter = false;
  FilterNode filter;
  size_t exact_below = 20000;  // filtered candidate sets this small are scanned exactly
  std::vector<SignalPlan> signals;
  Normalize normalize = Normalize::kMinMax;
  double rrf_k = 60;
  MissingPolicy missing = MissingPolicy::kRenormalize;
  double missing_default = 0;
  int blend_field = -1;  // cold start: interactions field; -1 = no blend
  double blend_k = 20;
  size_t k = 10;
  size_t keep = 1000;    // candidates carried from stage 1 to stage 2
  size_t rerank_top = 0; // > 0: stage 1 also assembles features for the top rows
  std::vector<FeaturePlan> features;
  size_t feature_size = 0;
  bool rerank_replace = true;
  double rerank_weight = 1;
  int mmr_vector = -1;
  double mmr_lambda = 0.7;
  size_t mmr_pool = 0;
  std::vector<CapPlan> caps;
  std::vector<RulePlan> rules;
};

struct RankRequest {
  std::vector<AlignedPtr<float>> queries;  // per catalog vector; null when absent
  double now = 0;
  std::vector<uint32_t> exclude;           // sorted rows
  bool has_filter = false;                 // a per-request filter, ANDed with the plan's
  FilterNode filter;
  std::vector<std::vector<uint32_t>> rule_rows;  // per rule: rows named by id, in order
  bool explain = false;
  size_t k = 0;  // results for this request; 0 = the plan's k
};

struct Stage1 {
  std::vector<uint32_t> rows;  // best first by fused score
  std::vector<float> fused;
  // n x signals, filled when explain is set (raw/normalized NaN = missing)
  std::vector<float> raw, normalized, contribution;
  // min(n, rerank_top) x feature_size (with an item cache: x its
  // rest_size(), the vector features left out), uninitialised beyond that
  // (a fresh zero fill of ~1 MiB per request measured ~50 us).
  std::unique_ptr<float[]> features;
  size_t feature_rows = 0;
  size_t retrieved = 0;         // candidates before drop
  bool used_index = false;
  double retrieve_us = 0, score_us = 0;
};

struct Stage2 {
  std::vector<uint32_t> order;  // indices into the stage-1 rows
  std::vector<float> scores;
  std::vector<uint8_t> rule;    // 0 none, 1 pin, 2 boost, 3 bury
  std::vector<float> rule_delta;
  double diversify_us = 0;
};

// Filter-passing rows, cached per catalog epoch.
struct Passing {
  uint64_t epoch = ~uint64_t(0);
  std::vector<uint8_t> bits;
  size_t count = 0;
  // Per vector column: passing rows that have that vector, one bit per row
  // (what a graph search admits before any per-request condition).
  std::vector<std::vector<uint64_t>> searchable;
};

class Ranker {
 public:
  Ranker(std::shared_ptr<Catalog> catalog, RankPlan plan);
  const RankPlan& plan() const { return plan_; }
  const std::shared_ptr<Catalog>& catalog() const { return catalog_; }

  // Reader lock held by the caller for both stages.
  Stage1 RunStage1(const KernelTable& kernels, const RankRequest& request) const;
  // rerank: scores for the first `rerank_count` stage-1 rows (or null).
  Stage2 RunStage2(const KernelTable& kernels, const RankRequest& request, const Stage1& stage1,
                   const float* rerank, size_t rerank_count) const;
  // Vectors whose HNSW index this plan would search (for catch-up).
  std::vector<int> IndexedVectors() const;

  // A rerank item cache for this plan's native model: set once, before any
  // request. Stage 1 then assembles only the features it does not cover.
  void SetItemCache(std::shared_ptr<ItemCache> cache) { item_cache_ = std::move(cache); }
  ItemCache* item_cache() const { return item_cache_.get(); }

 private:
  std::shared_ptr<const Passing> PassingRows() const;

  std::shared_ptr<Catalog> catalog_;
  RankPlan plan_;
  // Fields read per candidate by the signals and the cold-start blend, each
  // once; gathered_slot_[field] is its place in that list (-1: not read).
  std::vector<int> gathered_fields_;
  std::vector<int> gathered_slot_;
  std::shared_ptr<ItemCache> item_cache_;
  mutable std::mutex passing_mutex_;
  mutable std::shared_ptr<const Passing> passing_;
};

double NowUs();

}  // namespace fr
