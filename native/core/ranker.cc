#include "ranker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

#include "error.h"
#include "topk.h"

namespace fr {

double NowUs() {
  using namespace std::chrono;
  return duration<double, std::micro>(steady_clock::now().time_since_epoch()).count();
}

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

double ApplyTransform(Transform t, double v, double scale) {
  switch (t) {
    case Transform::kLog: return std::log1p(std::max(0.0, v));
    case Transform::kSqrt: return std::sqrt(std::max(0.0, v));
    case Transform::kSigmoid: return 1.0 / (1.0 + std::exp(-v / scale));
    default: return v;
  }
}

double RecencyDecay(Decay decay, double age_ms, double half_life_ms) {
  const double x = std::max(0.0, age_ms) / half_life_ms;
  switch (decay) {
    case Decay::kGauss: return std::exp2(-x * x);
    case Decay::kLinear: return std::max(0.0, 1.0 - 0.5 * x);
    default: return std::exp2(-x);
  }
}

// Normalises the present values of one signal in place (missing stay NaN).
void NormalizeSignal(Normalize how, double rrf_k, const float* raw, float* out, size_t n) {
  std::vector<uint32_t> present;
  present.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (!std::isnan(raw[i])) present.push_back(static_cast<uint32_t>(i));
  for (size_t i = 0; i < n; ++i) out[i] = kNaN;
  if (present.empty()) return;
  switch (how) {
    case Normalize::kNone:
      for (uint32_t i : present) out[i] = raw[i];
      break;
    case Normalize::kMinMax: {
      float lo = raw[present[0]], hi = lo;
      for (uint32_t i : present) lo = std::min(lo, raw[i]), hi = std::max(hi, raw[i]);
      // Identical values carry no preference: every item gets the midpoint.
      for (uint32_t i : present) out[i] = hi > lo ? (raw[i] - lo) / (hi - lo) : 0.5f;
      break;
    }
    case Normalize::kZScore: {
      double mean = 0, sq = 0;
      for (uint32_t i : present) mean += raw[i];
      mean /= present.size();
      for (uint32_t i : present) sq += (raw[i] - mean) * (raw[i] - mean);
      const double sd = std::sqrt(sq / present.size());
      for (uint32_t i : present) out[i] = sd > 0 ? static_cast<float>((raw[i] - mean) / sd) : 0.0f;
      break;
    }
    case Normalize::kRank:
    case Normalize::kRrf: {
      std::sort(present.begin(), present.end(), [&](uint32_t a, uint32_t b) {
        return raw[a] > raw[b] || (raw[a] == raw[b] && a < b);
      });
      const size_t m = present.size();
      size_t rank = 0;
      for (size_t r = 0; r < m; ++r) {
        if (r > 0 && raw[present[r]] != raw[present[r - 1]]) rank = r;  // ties share a rank
        const uint32_t i = present[r];
        out[i] = how == Normalize::kRank ? (m > 1 ? 1.0f - float(rank) / float(m - 1) : 1.0f)
                                         : static_cast<float>(1.0 / (rrf_k + rank + 1));
      }
      break;
    }
  }
}

// What a row must also pass in this request, beyond the cached plan filter
// and vector presence (the Passing bitsets).
struct PredicateContext {
  const std::vector<uint32_t>* exclude;
  const Catalog* catalog;
  const FilterNode* request_filter;  // null = none
};

bool KeepRequestRow(const void* ctx, uint32_t row) {
  const auto* c = static_cast<const PredicateContext*>(ctx);
  if (!c->exclude->empty() && std::binary_search(c->exclude->begin(), c->exclude->end(), row)) return false;
  return !c->request_filter || Matches(*c->catalog, *c->request_filter, row);
}

// One field column's values for `rows`, as doubles (NaN where missing;
// bools and categories as their codes). One short loop per column, with a
// prefetch a fixed distance ahead, keeps a dozen misses in flight; the
// signal loops, with their log and exp calls, stalled on each load in turn
// (over half of the scoring stage's own time in a profile of the feed).
void GatherField(const FieldColumn& field, const uint32_t* rows, size_t n, double* out) {
  constexpr size_t kAhead = 16;
  if (field.kind == FieldKind::kNumber || field.kind == FieldKind::kTime) {
    const double* values = field.numbers.data();
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) __builtin_prefetch(values + rows[i + kAhead]);
      out[i] = values[rows[i]];
    }
  } else if (field.kind != FieldKind::kTags) {
    const int32_t* codes = field.codes.data();
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) __builtin_prefetch(codes + rows[i + kAhead]);
      const int32_t c = codes[rows[i]];
      out[i] = c < 0 ? kNaN : static_cast<double>(c);
    }
  } else {
    std::fill(out, out + n, static_cast<double>(kNaN));
  }
}

}  // namespace

Ranker::Ranker(std::shared_ptr<Catalog> catalog, RankPlan plan)
    : catalog_(std::move(catalog)), plan_(std::move(plan)) {
  if (plan_.has_filter) ValidateFilter(*catalog_, plan_.filter);
  for (const auto& rule : plan_.rules)
    if (rule.has_filter) ValidateFilter(*catalog_, rule.filter);
  gathered_slot_.assign(catalog_->fields().size(), -1);
  auto gather = [&](int field) {
    if (field < 0 || gathered_slot_[field] >= 0) return;
    gathered_slot_[field] = static_cast<int>(gathered_fields_.size());
    gathered_fields_.push_back(field);
  };
  for (const SignalPlan& sig : plan_.signals)
    if (sig.kind != SignalKind::kSimilarity && sig.kind != SignalKind::kBehavior)
      for (int f : sig.fields) gather(f);
  gather(plan_.blend_field);
  for (const FeaturePlan& f : plan_.features)
    if (f.kind == FeaturePlan::Kind::kField) gather(f.index);
}

std::vector<int> Ranker::IndexedVectors() const {
  std::vector<int> out;
  for (const auto& r : plan_.retrievers)
    if (!r.exact && std::find(out.begin(), out.end(), r.vector) == out.end()) out.push_back(r.vector);
  return out;
}

std::shared_ptr<const Passing> Ranker::PassingRows() const {
  const Catalog& catalog = *catalog_;
  std::lock_guard<std::mutex> lock(passing_mutex_);
  if (passing_ && passing_->epoch == catalog.epoch()) return passing_;
  auto fresh = std::make_shared<Passing>();
  fresh->epoch = catalog.epoch();
  const size_t rows = catalog.rows();
  fresh->bits.assign(rows, 0);
  for (uint32_t row = 0; row < rows; ++row) {
    if (!catalog.alive(row)) continue;
    if (plan_.has_filter && !Matches(catalog, plan_.filter, row)) continue;
    fresh->bits[row] = 1;
    ++fresh->count;
  }
  fresh->searchable.resize(catalog.vectors().size());
  for (const RetrieverPlan& r : plan_.retrievers) {
    const int v = r.vector;
    if (!fresh->searchable[v].empty() || rows == 0) continue;
    const auto& present = catalog.vectors()[v].present;
    auto& words = fresh->searchable[v];
    words.assign((rows + 63) / 64, 0);
    for (uint32_t row = 0; row < rows; ++row)
      if (fresh->bits[row] && present[row]) words[row >> 6] |= uint64_t(1) << (row & 63);
  }
  passing_ = fresh;
  return passing_;
}

Stage1 Ranker::RunStage1(const KernelTable& kernels, const RankRequest& request) const {
  const Catalog& catalog = *catalog_;
  const RankPlan& plan = plan_;
  Stage1 out;
  const double t0 = NowUs();
  auto passing = PassingRows();
  const size_t total_rows = catalog.rows();

  // ---- retrieval: union of the retrievers' top-k, then pinned rows
  // Rows expected to pass: the cached plan filter, scaled by a strided
  // sample of the request filter when there is one.
  double expected_passing = static_cast<double>(passing->count);
  if (request.has_filter && passing->count > 0) {
    const size_t step = std::max<size_t>(1, total_rows / 4096);
    size_t seen = 0, kept = 0;
    for (uint32_t row = 0; row < total_rows; row += static_cast<uint32_t>(step)) {
      if (!passing->bits[row]) continue;
      ++seen;
      if (Matches(catalog, request.filter, row)) ++kept;
    }
    if (seen > 0) expected_passing *= static_cast<double>(kept) / static_cast<double>(seen);
  }
  std::vector<uint32_t> candidates;
  // Each retriever's rows with their exact similarity to its query: the
  // similarity signal on the same vector reuses them instead of rescoring.
  struct Retrieved {
    int vector;
    TopKResult top;
  };
  std::vector<Retrieved> retrieved;
  bool retrieved_any = false;
  for (const RetrieverPlan& r : plan.retrievers) {
    const float* q = request.queries[r.vector].get();
    if (!q) continue;  // this request has no query for that vector
    retrieved_any = true;
    const VectorColumn& column = catalog.vectors()[r.vector];
    const StoreView view = column.store->View();
    TopKHeap heap(r.k);
    PredicateContext ctx{&request.exclude, &catalog, request.has_filter ? &request.filter : nullptr};
    const bool use_index = !r.exact && expected_passing > static_cast<double>(plan.exact_below) && column.index &&
                           column.indexed_version == column.version;
    bool exact = !use_index;
    if (use_index) {
      out.used_index = true;
      const auto& words = passing->searchable[r.vector];
      RowFilter filter;
      filter.allowed = words.data();
      filter.allowed_rows = std::min(total_rows, words.size() * 64);
      filter.selectivity = total_rows ? expected_passing / static_cast<double>(total_rows) : 1.0;
      if (!request.exclude.empty() || request.has_filter) filter.predicate = KeepRequestRow, filter.context = &ctx;
      column.index->Search(kernels, view, q, r.k, r.expansion ? r.expansion : std::max<size_t>(r.k, 64),
                           filter, &heap);
      // A filter can cut the graph into pieces the search does not reach;
      // when it returns short while enough rows pass, scan exactly instead.
      if (heap.size() < r.k && expected_passing > static_cast<double>(heap.size())) {
        heap = TopKHeap(r.k);
        exact = true;
      }
    }
    if (exact) {
      // Exact filtered scan, in blocks of eligible rows.
      constexpr size_t kBlock = 512;
      uint32_t rows[kBlock];
      float scores[kBlock];
      size_t m = 0;
      auto flush = [&] {
        Score(kernels, view, q, rows, m, scores);
        for (size_t i = 0; i < m; ++i) heap.Push(scores[i], rows[i]);
        m = 0;
      };
      // Candidates come from the cached bitset, 64 rows per word: a
      // selective filter skips most of the catalog a word at a time.
      const auto& words = passing->searchable[r.vector];
      const bool per_request = !request.exclude.empty() || request.has_filter;
      for (size_t w = 0; w < words.size(); ++w) {
        for (uint64_t bits = words[w]; bits; bits &= bits - 1) {
          const uint32_t row = static_cast<uint32_t>(w * 64 + __builtin_ctzll(bits));
          if (row >= total_rows) break;
          if (per_request && !KeepRequestRow(&ctx, row)) continue;
          rows[m++] = row;
          if (m == kBlock) flush();
        }
      }
      if (m) flush();
    }
    TopKResult top = heap.TakeByRow();
    candidates.insert(candidates.end(), top.rows.begin(), top.rows.end());
    retrieved.push_back({r.vector, std::move(top)});
  }
  if (!retrieved_any) {
    // No query vector: every filter-passing row is a candidate (a pure
    // metadata feed, e.g. recency + engagement).
    for (uint32_t row = 0; row < total_rows; ++row)
      if (passing->bits[row] &&
          (request.exclude.empty() || !std::binary_search(request.exclude.begin(), request.exclude.end(), row)) &&
          (!request.has_filter || Matches(catalog, request.filter, row)))
        candidates.push_back(row);
  }
  for (size_t ri = 0; ri < plan.rules.size(); ++ri) {
    if (plan.rules[ri].kind != RulePlan::Kind::kPin) continue;
    for (uint32_t row : request.rule_rows[ri])
      if (row < total_rows && passing->bits[row] &&
          !std::binary_search(request.exclude.begin(), request.exclude.end(), row) &&
          (!request.has_filter || Matches(catalog, request.filter, row)))
        candidates.push_back(row);
  }
  // One retriever and no pins: its rows are already sorted and unique.
  if (!std::is_sorted(candidates.begin(), candidates.end())) std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  out.retrieved = candidates.size();
  const double t1 = NowUs();
  out.retrieve_us = t1 - t0;

  // ---- signals: raw values, NaN where missing
  const size_t S = plan.signals.size();
  size_t n = candidates.size();
  // Every field the signals and the blend read, in candidate order.
  std::vector<double> gathered(gathered_fields_.size() * n);
  for (size_t g = 0; g < gathered_fields_.size(); ++g)
    GatherField(catalog.fields()[gathered_fields_[g]], candidates.data(), n, gathered.data() + g * n);
  auto values_of = [&](int field) { return gathered.data() + size_t(gathered_slot_[field]) * n; };
  std::vector<float> raw(n * S, kNaN);  // signal-major: raw[s * n + i]
  for (size_t s = 0; s < S; ++s) {
    const SignalPlan& sig = plan.signals[s];
    float* dst = raw.data() + s * n;
    switch (sig.kind) {
      case SignalKind::kSimilarity:
      case SignalKind::kBehavior: {
        const float* q = request.queries[sig.vector].get();
        if (!q || n == 0) break;
        const VectorColumn& column = catalog.vectors()[sig.vector];
        // Known from a retriever on this vector, which searches only rows
        // that have it (both lists sorted by row: one merge walk)...
        for (const Retrieved& r : retrieved) {
          if (r.vector != sig.vector) continue;
          size_t at = 0;
          for (size_t j = 0; j < r.top.rows.size(); ++j) {
            while (at < n && candidates[at] < r.top.rows[j]) ++at;
            if (at < n && candidates[at] == r.top.rows[j]) dst[at] = r.top.scores[j];
          }
        }
        // ...else scored now, where the row has the vector (NaN otherwise).
        const uint8_t* present = column.present.data();
        // Branch-free, the presence bytes prefetched ahead: they are
        // scattered over the column (scoring stage -5.5 % in an in-process
        // A/B on the bench feed).
        std::vector<uint32_t> rows(n), where(n);
        size_t m = 0;
        for (size_t i = 0; i < n; ++i) {
          if (i + 16 < n) __builtin_prefetch(present + candidates[i + 16]);
          rows[m] = candidates[i], where[m] = static_cast<uint32_t>(i);
          m += std::isnan(dst[i]) & (present[candidates[i]] != 0);
        }
        rows.resize(m), where.resize(m);
        std::vector<float> scored(rows.size());
        if (!rows.empty()) Score(kernels, column.store->View(), q, rows.data(), rows.size(), scored.data());
        for (size_t j = 0; j < rows.size(); ++j) dst[where[j]] = scored[j];
        break;
      }
      case SignalKind::kEngagement: {
        for (size_t i = 0; i < n; ++i) {
          double sum = 0;
          bool any = false;
          for (int f : sig.fields) {
            const double v = values_of(f)[i];
            if (!std::isnan(v)) sum += v, any = true;
          }
          if (!any) continue;
          dst[i] = static_cast<float>(sig.transform == Transform::kSigmoid
                                          ? 2.0 / (1.0 + std::exp(-std::max(0.0, sum) / sig.scale)) - 1.0
                                          : ApplyTransform(sig.transform, sum, sig.scale));
        }
        break;
      }
      case SignalKind::kRecency: {
        const double* values = values_of(sig.fields[0]);
        for (size_t i = 0; i < n; ++i) {
          const double t = values[i];
          if (!std::isnan(t)) dst[i] = static_cast<float>(RecencyDecay(sig.decay, request.now - t, sig.half_life_ms));
        }
        break;
      }
      case SignalKind::kField: {
        const double* values = values_of(sig.fields[0]);
        for (size_t i = 0; i < n; ++i) {
          const double v = values[i];
          if (!std::isnan(v)) dst[i] = static_cast<float>(ApplyTransform(sig.transform, v, sig.scale));
        }
        break;
      }
    }
  }

  // ---- drop policy: an item missing any weighted signal leaves the set
  if (plan.missing == MissingPolicy::kDrop && S > 0) {
    std::vector<uint32_t> keep_idx;
    for (size_t i = 0; i < n; ++i) {
      bool complete = true;
      for (size_t s = 0; s < S && complete; ++s)
        if (plan.signals[s].weight != 0 && std::isnan(raw[s * n + i])) complete = false;
      if (complete) keep_idx.push_back(static_cast<uint32_t>(i));
    }
    if (keep_idx.size() != n) {
      std::vector<uint32_t> rows2(keep_idx.size());
      std::vector<float> raw2(keep_idx.size() * S);
      for (size_t j = 0; j < keep_idx.size(); ++j) {
        rows2[j] = candidates[keep_idx[j]];
        for (size_t s = 0; s < S; ++s) raw2[s * keep_idx.size() + j] = raw[s * n + keep_idx[j]];
      }
      const size_t G = gathered_fields_.size(), kept_n = keep_idx.size();
      std::vector<double> gathered2(G * kept_n);
      for (size_t g = 0; g < G; ++g)
        for (size_t j = 0; j < kept_n; ++j) gathered2[g * kept_n + j] = gathered[g * n + keep_idx[j]];
      candidates.swap(rows2);
      raw.swap(raw2);
      gathered.swap(gathered2);
      n = candidates.size();
    }
  }

  // ---- normalisation over the candidate set
  std::vector<float> norm(n * S);
  for (size_t s = 0; s < S; ++s) NormalizeSignal(plan.normalize, plan.rrf_k, raw.data() + s * n, norm.data() + s * n, n);

  // ---- weights, cold-start blend, missing policy, fusion
  std::vector<float> contrib(n * S, 0.0f);
  std::vector<float> fused(n, 0.0f);
  std::vector<double> w(S);
  for (size_t i = 0; i < n; ++i) {
    double alpha = 0;
    if (plan.blend_field >= 0) {
      double interactions = values_of(plan.blend_field)[i];
      if (std::isnan(interactions) || interactions < 0) interactions = 0;
      alpha = interactions / (interactions + plan.blend_k);
    }
    double all = 0, present = 0;
    for (size_t s = 0; s < S; ++s) {
      const SignalPlan& sig = plan.signals[s];
      w[s] = sig.weight * (sig.blend_group == 1 ? 1 - alpha : sig.blend_group == 2 ? alpha : 1);
      all += std::fabs(w[s]);
      if (!std::isnan(norm[s * n + i])) present += std::fabs(w[s]);
    }
    const double scale = plan.missing == MissingPolicy::kRenormalize ? (present > 0 ? all / present : 0) : 1;
    double total = 0;
    for (size_t s = 0; s < S; ++s) {
      double v = norm[s * n + i];
      if (std::isnan(v)) {
        if (plan.missing != MissingPolicy::kDefault) continue;
        v = plan.missing_default;
      }
      const double c = w[s] * v * scale;
      contrib[s * n + i] = static_cast<float>(c);
      total += c;
    }
    fused[i] = static_cast<float>(total);
  }

  // ---- order by fused score, keep the head (pinned rows always kept)
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  auto before = [&](uint32_t a, uint32_t b) {
    return fused[a] > fused[b] || (fused[a] == fused[b] && candidates[a] < candidates[b]);
  };
  const size_t keep = std::min(n, std::max(plan.keep, request.k ? request.k : plan.k));
  // Stage 2 orders what it reads itself: here only the kept set, and the
  // rerank head in order, are needed (a full sort of the feed's 500
  // candidates was ~2 % of its time, and stage 2 sorted them again).
  if (keep < n) std::nth_element(order.begin(), order.begin() + keep, order.end(), before);
  const size_t head = std::min(keep, plan.rerank_top);
  if (head > 0 && head < keep) std::nth_element(order.begin(), order.begin() + head, order.begin() + keep, before);
  if (head > 0) std::sort(order.begin(), order.begin() + head, before);
  std::vector<uint32_t> kept;
  kept.assign(order.begin(), order.begin() + keep);
  for (size_t ri = 0; ri < plan.rules.size(); ++ri) {
    if (plan.rules[ri].kind != RulePlan::Kind::kPin) continue;
    for (uint32_t row : request.rule_rows[ri])
      for (size_t j = keep; j < n; ++j)
        if (candidates[order[j]] == row) kept.push_back(order[j]);
  }
  const size_t m = kept.size();
  out.rows.resize(m);
  out.fused.resize(m);
  for (size_t j = 0; j < m; ++j) out.rows[j] = candidates[kept[j]], out.fused[j] = fused[kept[j]];
  if (request.explain) {
    out.raw.resize(m * S), out.normalized.resize(m * S), out.contribution.resize(m * S);
    for (size_t j = 0; j < m; ++j)
      for (size_t s = 0; s < S; ++s) {
        out.raw[j * S + s] = raw[s * n + kept[j]];
        out.normalized[j * S + s] = norm[s * n + kept[j]];
        out.contribution[j * S + s] = contrib[s * n + kept[j]];
      }
  }

  // ---- rerank features, in the model's input order
  if (plan.rerank_top > 0) {
    const size_t fr = std::min(m, plan.rerank_top);
    // The item cache covers the vector features: only the rest are written.
    const bool cached = item_cache_ != nullptr;
    const size_t F = cached ? item_cache_->rest_size() : plan.feature_size;
    out.feature_rows = fr;
    out.features.reset(new float[std::max<size_t>(1, fr * F)]);
    // Row by row: each item's features are written as one contiguous run.
    std::vector<StoreView> views(plan.features.size());
    for (size_t fi = 0; fi < plan.features.size(); ++fi)
      if (plan.features[fi].kind == FeaturePlan::Kind::kVector && !cached)
        views[fi] = catalog.vectors()[plan.features[fi].index].store->View();
    for (size_t j = 0; j < fr; ++j) {
      const uint32_t row = out.rows[j];
      float* dst = out.features.get() + j * F;
      for (size_t fi = 0; fi < plan.features.size(); ++fi) {
        const FeaturePlan& f = plan.features[fi];
        switch (f.kind) {
          case FeaturePlan::Kind::kVector:
            if (cached) continue;  // no width taken: dst stays
            // Missing: zeros, flagged by a kPresent feature.
            if (catalog.vectors()[f.index].present[row]) DecodeRow(kernels, views[fi], row, dst);
            else std::fill(dst, dst + f.width, 0.0f);
            break;
          case FeaturePlan::Kind::kPresent:
            dst[0] = catalog.vectors()[f.index].present[row] ? 1.0f : 0.0f;
            break;
          case FeaturePlan::Kind::kSignal: {
            const float v = norm[size_t(f.index) * n + kept[j]];
            dst[0] = std::isnan(v) ? 0.0f : v;
            break;
          }
          case FeaturePlan::Kind::kSignalRaw: {
            const float v = raw[size_t(f.index) * n + kept[j]];
            dst[0] = std::isnan(v) ? 0.0f : v;
            break;
          }
          case FeaturePlan::Kind::kField: {
            // Gathered with the signals' fields, in candidate order.
            const FieldKind kind = catalog.fields()[f.index].kind;
            const double g = values_of(f.index)[kept[j]];
            double v = 0;
            if (kind == FieldKind::kNumber || kind == FieldKind::kTime)
              v = std::isnan(g) ? 0 : g;
            else if (kind == FieldKind::kBool)
              v = g > 0 ? 1 : 0;
            dst[0] = static_cast<float>(v);
            break;
          }
        }
        dst += f.width;
      }
    }
  }
  out.score_us = NowUs() - t1;
  return out;
}

Stage2 Ranker::RunStage2(const KernelTable& kernels, const RankRequest& request, const Stage1& stage1,
                         const float* rerank, size_t rerank_count) const {
  const Catalog& catalog = *catalog_;
  const RankPlan& plan = plan_;
  const double t0 = NowUs();
  Stage2 out;
  // After a rerank only the reranked head competes.
  // After a rerank only the reranked head competes, plus pinned rows.
  const size_t all = stage1.rows.size();
  const size_t head = rerank ? std::min(rerank_count, all) : all;
  std::vector<uint32_t> consider(head);
  std::iota(consider.begin(), consider.end(), 0u);
  if (head < all) {
    for (size_t ri = 0; ri < plan.rules.size(); ++ri) {
      if (plan.rules[ri].kind != RulePlan::Kind::kPin) continue;
      for (size_t i = head; i < all; ++i)
        for (uint32_t row : request.rule_rows[ri])
          if (stage1.rows[i] == row) consider.push_back(static_cast<uint32_t>(i));
    }
    std::sort(consider.begin() + head, consider.end());
    consider.erase(std::unique(consider.begin() + head, consider.end()), consider.end());
  }
  std::vector<double> score(all, 0.0);
  for (uint32_t i : consider) {
    score[i] = stage1.fused[i];
    if (rerank && i < head)
      score[i] = plan.rerank_replace ? rerank[i]
                                     : (1 - plan.rerank_weight) * stage1.fused[i] + plan.rerank_weight * rerank[i];
  }

  // ---- business rules, in order; the last one that applies is reported
  std::vector<uint8_t> rule(all, 0);
  std::vector<float> delta(all, 0.0f);
  std::vector<int64_t> pin_rank(all, -1);
  std::vector<uint8_t> buried(all, 0);
  for (size_t ri = 0; ri < plan.rules.size(); ++ri) {
    const RulePlan& r = plan.rules[ri];
    const auto& ids = request.rule_rows[ri];
    for (uint32_t i : consider) {
      const uint32_t row = stage1.rows[i];
      int64_t position = -1;
      for (size_t p = 0; p < ids.size(); ++p)
        if (ids[p] == row) { position = static_cast<int64_t>(p); break; }
      const bool hit = position >= 0 || (r.has_filter && Matches(catalog, r.filter, row));
      if (!hit) continue;
      switch (r.kind) {
        case RulePlan::Kind::kPin:
          if (pin_rank[i] < 0) pin_rank[i] = static_cast<int64_t>(ri) * 1000000 + std::max<int64_t>(position, 0);
          rule[i] = 1;
          break;
        case RulePlan::Kind::kBoost:
          score[i] += r.by, delta[i] += static_cast<float>(r.by), rule[i] = 2;
          break;
        case RulePlan::Kind::kBury:
          buried[i] = 1, rule[i] = 3;
          break;
      }
    }
  }

  // ---- order: pins, then by score, buried last
  std::vector<uint32_t> pinned, regular;
  for (uint32_t i : consider) (pin_rank[i] >= 0 ? pinned : regular).push_back(i);
  std::sort(pinned.begin(), pinned.end(), [&](uint32_t a, uint32_t b) { return pin_rank[a] < pin_rank[b]; });
  auto ranks_before = [&](uint32_t a, uint32_t b) {
    if (buried[a] != buried[b]) return buried[a] < buried[b];
    return score[a] > score[b] || (score[a] == score[b] && stage1.rows[a] < stage1.rows[b]);
  };
  // regular[0, sorted) is in final order. Selection reads only the head
  // (k, or the MMR pool plus replacements), so it is ordered on demand.
  size_t sorted = 0;
  auto order_through = [&](size_t j) {  // makes regular[j] final
    if (j < sorted || j >= regular.size()) return;
    // The next chunk: selected in linear time, then sorted (stage 1 leaves
    // the candidates unordered; sorting all of them cost the feed ~15 us).
    const size_t upto = std::min(regular.size(), std::max({j + 1, 2 * sorted, size_t(64)}));
    if (upto < regular.size()) std::nth_element(regular.begin() + sorted, regular.begin() + upto, regular.end(), ranks_before);
    std::sort(regular.begin() + sorted, regular.begin() + upto, ranks_before);
    sorted = upto;
  };

  // ---- caps and MMR
  const size_t k = request.k ? request.k : plan.k;
  std::vector<std::vector<size_t>> cap_counts(plan.caps.size());
  auto capped = [&](uint32_t i) {
    for (size_t c = 0; c < plan.caps.size(); ++c) {
      const FieldColumn& field = catalog.fields()[plan.caps[c].field];
      const int32_t code = field.codes[stage1.rows[i]];
      if (code < 0) continue;
      if (size_t(code) < cap_counts[c].size() && cap_counts[c][code] >= plan.caps[c].max) return true;
    }
    return false;
  };
  auto count = [&](uint32_t i) {
    for (size_t c = 0; c < plan.caps.size(); ++c) {
      const int32_t code = catalog.fields()[plan.caps[c].field].codes[stage1.rows[i]];
      if (code < 0) continue;
      if (cap_counts[c].size() <= size_t(code)) cap_counts[c].resize(size_t(code) + 1, 0);
      ++cap_counts[c][code];
    }
  };
  std::vector<uint32_t> selected;
  for (uint32_t i : pinned) {
    if (selected.size() >= k) break;
    selected.push_back(i), count(i);
  }
  if (plan.mmr_vector < 0) {
    for (size_t j = 0; j < regular.size() && selected.size() < k; ++j) {
      order_through(j);
      const uint32_t i = regular[j];
      if (capped(i)) continue;
      selected.push_back(i), count(i);
    }
  } else {
    const VectorColumn& column = catalog.vectors()[plan.mmr_vector];
    const StoreView view = column.store->View();
    const size_t pool = std::max(plan.mmr_pool, k);
    // Relevance scaled to [0, 1] over the pool so lambda weighs like against like.
    double lo = 0, hi = 0;
    const size_t head = std::min(pool, regular.size());
    if (head > 0) order_through(head - 1);
    for (size_t j = 0; j < head; ++j) {
      const double s = score[regular[j]];
      if (j == 0 || s < lo) lo = s;
      if (j == 0 || s > hi) hi = s;
    }
    auto relevance = [&](uint32_t i) { return hi > lo ? (std::clamp(score[i], lo, hi) - lo) / (hi - lo) : 1.0; };
    // Lazy greedy MMR: an item's MMR value only falls as the selection grows
    // (its max similarity to the selected items can only rise), so a value
    // computed against part of the selection bounds the exact one from above.
    // Each step brings the best bound up to date until the best is current:
    // the same choice, ties to the earlier item, as scoring every window item
    // against every pick, for a fraction of the similarities: on the bench
    // feed (20 picks from a pool of 60) ~520 pairs instead of ~1,400. (Up to
    // rounding: a pair is scored with the window item as the query, so exact
    // duplicates may trade places with the eager order.)
    struct Entry {
      uint32_t i;       // candidate index
      uint32_t synced;  // selected[0, synced) are accounted for in max_sim
      float max_sim;    // max similarity to selected[0, synced); -1 when none
      double bound;     // MMR value from max_sim: >= the exact value
    };
    auto value = [&](const Entry& e) {
      // Buried items only once nothing else is left.
      const double penalty = e.max_sim < 0 ? 0 : e.max_sim;
      return plan.mmr_lambda * relevance(e.i) - (1 - plan.mmr_lambda) * penalty - (buried[e.i] ? 1e9 : 0);
    };
    std::vector<Entry> window;  // in the order items joined it
    const size_t row_bytes = RowBytes(view);
    size_t next = 0;
    AlignedPtr<float> decoded = AllocateAligned<float>(view.pdim);
    std::vector<uint32_t> rows;
    std::vector<float> sims;
    // Brings e up to date: its row, decoded, against the picks made since
    // (an item without the MMR vector has nothing to compare).
    auto refresh = [&](Entry& e) {
      const uint32_t now = static_cast<uint32_t>(selected.size());
      if (e.synced < now && column.present[stage1.rows[e.i]]) {
        rows.clear();
        for (uint32_t j = e.synced; j < now; ++j)
          if (column.present[stage1.rows[selected[j]]]) rows.push_back(stage1.rows[selected[j]]);
        if (!rows.empty()) {
          DecodeRow(kernels, view, stage1.rows[e.i], decoded.get());
          sims.resize(rows.size());
          Score(kernels, view, decoded.get(), rows.data(), rows.size(), sims.data());
          e.max_sim = std::max(e.max_sim, *std::max_element(sims.begin(), sims.end()));
        }
      }
      e.synced = now;
      e.bound = value(e);
    };
    auto refill = [&] {
      while (window.size() < pool && next < regular.size()) {
        order_through(next);
        const uint32_t i = regular[next++];
        if (capped(i)) continue;
        Entry e{i, 0u, -1.0f, 0.0};
        e.bound = value(e);
        window.push_back(e);
        // Its presence and row are read when it first reaches the top: fetch
        // them now.
        __builtin_prefetch(column.present.data() + stage1.rows[i]);
        const char* row_data = reinterpret_cast<const char*>(view.block->data.get()) + size_t(stage1.rows[i]) * row_bytes;
        for (size_t line = 0; line < row_bytes; line += 64) __builtin_prefetch(row_data + line);
      }
    };
    while (selected.size() < k) {
      // Drop window items a cap now excludes, then refill.
      window.erase(std::remove_if(window.begin(), window.end(), [&](const Entry& e) { return capped(e.i); }), window.end());
      refill();
      if (window.empty()) break;
      size_t best;
      for (;;) {
        best = 0;
        for (size_t w = 1; w < window.size(); ++w)
          if (window[w].bound > window[best].bound) best = w;
        if (window[best].synced == selected.size()) break;
        refresh(window[best]);
      }
      const uint32_t chosen = window[best].i;
      window.erase(window.begin() + static_cast<ptrdiff_t>(best));
      selected.push_back(chosen), count(chosen);
    }
  }
  out.order = selected;
  out.scores.resize(selected.size());
  out.rule.resize(selected.size());
  out.rule_delta.resize(selected.size());
  for (size_t j = 0; j < selected.size(); ++j) {
    out.scores[j] = static_cast<float>(score[selected[j]]);
    out.rule[j] = rule[selected[j]];
    out.rule_delta[j] = delta[selected[j]];
  }
  out.diversify_us = NowUs() - t0;
  return out;
}

}  // namespace fr
