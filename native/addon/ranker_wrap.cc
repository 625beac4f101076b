// JS binding of fr::Ranker. The plan arrives as a plain object that the
// TypeScript Ranker has validated and resolved to column indices; it is
// parsed once here. A request is copied into a RankRequest on the main
// thread; rankAsync runs the same plan on the libuv pool.
#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "../core/parallel.h"
#include "../core/ranker.h"
#include "addon.h"
#include "catalog_wrap.h"
#include "topk_many_wrap.h"

namespace fr {

namespace {

[[noreturn]] void BadPlan(Napi::Env env, const std::string& message) {
  Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Invalid native plan: " + message);
}

// An enum option by name; a name not in `names` is an invalid plan (the
// TypeScript Ranker validates first, so only direct native calls get here).
template <typename E>
E Pick(Napi::Env env, const std::string& what, const std::string& name,
       std::initializer_list<std::pair<const char*, E>> names) {
  for (const auto& [n, e] : names)
    if (name == n) return e;
  BadPlan(env, "unknown " + what + " '" + name + "'");
}

double Num(Napi::Object o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) BadPlan(o.Env(), std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

int Int(Napi::Object o, const char* key, int fallback) {
  const double v = Num(o, key, fallback);
  if (!(v >= -1 && v <= 2147483647.0) || v != std::floor(v)) BadPlan(o.Env(), std::string(key) + " must be an integer");
  return static_cast<int>(v);
}

size_t Size(Napi::Object o, const char* key, size_t fallback) {
  const double v = Num(o, key, static_cast<double>(fallback));
  if (!(v >= 0 && v <= 4294967295.0) || v != std::floor(v)) BadPlan(o.Env(), std::string(key) + " must be a count");
  return static_cast<size_t>(v);
}

std::string Str(Napi::Object o, const char* key, const char* fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsString()) BadPlan(o.Env(), std::string(key) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Array Arr(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return Napi::Array::New(o.Env(), 0);
  if (!v.IsArray()) BadPlan(o.Env(), std::string(key) + " must be an array");
  return v.As<Napi::Array>();
}

Napi::Object Obj(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsObject() || v.IsArray()) BadPlan(env, std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

FilterNode ParseFilter(Napi::Env env, Napi::Value value, int depth) {
  if (depth > 64) BadPlan(env, "filter nests too deeply");
  Napi::Object o = Obj(env, value, "filter");
  FilterNode node;
  const std::string op = Str(o, "op", "");
  using Op = FilterNode::Op;
  if (op == "true") node.op = Op::kTrue;
  else if (op == "false") node.op = Op::kFalse;
  else if (op == "and") node.op = Op::kAnd;
  else if (op == "or") node.op = Op::kOr;
  else if (op == "not") node.op = Op::kNot;
  else if (op == "range") node.op = Op::kRange;
  else if (op == "in") node.op = Op::kCodeIn;
  else if (op == "tagsAny") node.op = Op::kTagsAny;
  else if (op == "tagsAll") node.op = Op::kTagsAll;
  else if (op == "exists") node.op = Op::kExists;
  else if (op == "hasVector") node.op = Op::kHasVector;
  else BadPlan(env, "unknown filter op '" + op + "'");
  node.column = Int(o, "column", -1);
  node.lo = Num(o, "lo", -INFINITY);
  node.hi = Num(o, "hi", INFINITY);
  node.lo_open = o.Get("loOpen").ToBoolean().Value();
  node.hi_open = o.Get("hiOpen").ToBoolean().Value();
  Napi::Array codes = Arr(o, "codes");
  for (uint32_t i = 0; i < codes.Length(); ++i) {
    Napi::Value c = codes.Get(i);
    if (!c.IsNumber()) BadPlan(env, "filter codes must be numbers");
    const double d = c.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d < 16777216) || d != std::floor(d)) BadPlan(env, "filter code out of range");
    const uint32_t code = static_cast<uint32_t>(d);
    if (node.op == Op::kCodeIn) {
      if (node.codes.size() <= code) node.codes.resize(code + 1, 0);
      node.codes[code] = 1;
    } else {
      node.tags.push_back(code);
    }
  }
  std::sort(node.tags.begin(), node.tags.end());
  Napi::Array children = Arr(o, "children");
  for (uint32_t i = 0; i < children.Length(); ++i) node.children.push_back(ParseFilter(env, children.Get(i), depth + 1));
  return node;
}

RankPlan ParsePlan(Napi::Env env, Napi::Object o, const Catalog& catalog) {
  RankPlan plan;
  const int vectors = static_cast<int>(catalog.vectors().size());
  const int fields = static_cast<int>(catalog.fields().size());
  auto vector_index = [&](int v) {
    if (v < 0 || v >= vectors) BadPlan(env, "vector index out of range");
    return v;
  };
  auto field_index = [&](int f, std::initializer_list<FieldKind> kinds) {
    if (f < 0 || f >= fields) BadPlan(env, "field index out of range");
    const FieldKind kind = catalog.fields()[f].kind;
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) BadPlan(env, "field '" + catalog.fields()[f].name + "' has the wrong kind");
    return f;
  };
  Napi::Array retrievers = Arr(o, "retrievers");
  for (uint32_t i = 0; i < retrievers.Length(); ++i) {
    Napi::Object r = Obj(env, retrievers.Get(i), "retriever");
    RetrieverPlan rp;
    rp.vector = vector_index(Int(r, "vector", -1));
    rp.k = Size(r, "k", 100);
    if (rp.k == 0) BadPlan(env, "retriever k must be positive");
    rp.exact = r.Get("exact").ToBoolean().Value();
    rp.expansion = Size(r, "expansion", 0);
    plan.retrievers.push_back(rp);
  }
  Napi::Value filter = o.Get("filter");
  if (!filter.IsUndefined() && !filter.IsNull()) {
    plan.has_filter = true;
    plan.filter = ParseFilter(env, filter, 0);
  }
  plan.exact_below = Size(o, "exactBelow", 20000);
  Napi::Array signals = Arr(o, "signals");
  for (uint32_t i = 0; i < signals.Length(); ++i) {
    Napi::Object s = Obj(env, signals.Get(i), "signal");
    SignalPlan sp;
    const std::string kind = Str(s, "kind", "");
    const std::string transform = Str(s, "transform", "none");
    sp.transform = Pick<Transform>(env, "transform", transform,
                                   {{"none", Transform::kNone}, {"log", Transform::kLog},
                                    {"sqrt", Transform::kSqrt}, {"sigmoid", Transform::kSigmoid}});
    sp.scale = Num(s, "scale", 1);
    if (!(sp.scale > 0)) BadPlan(env, "signal scale must be positive");
    sp.weight = Num(s, "weight", 0);
    if (!std::isfinite(sp.weight)) BadPlan(env, "signal weight must be finite");
    sp.blend_group = Int(s, "blendGroup", 0);
    Napi::Array fs = Arr(s, "fields");
    if (kind == "similarity" || kind == "behavior") {
      sp.kind = kind == "similarity" ? SignalKind::kSimilarity : SignalKind::kBehavior;
      sp.vector = vector_index(Int(s, "vector", -1));
    } else if (kind == "engagement") {
      sp.kind = SignalKind::kEngagement;
      if (fs.Length() == 0) BadPlan(env, "engagement needs fields");
      for (uint32_t j = 0; j < fs.Length(); ++j)
        sp.fields.push_back(field_index(fs.Get(j).ToNumber().Int32Value(), {FieldKind::kNumber, FieldKind::kTime}));
    } else if (kind == "recency" || kind == "field") {
      sp.kind = kind == "recency" ? SignalKind::kRecency : SignalKind::kField;
      if (fs.Length() != 1) BadPlan(env, kind + " needs one field");
      sp.fields.push_back(kind == "recency"
                              ? field_index(fs.Get(0u).ToNumber().Int32Value(), {FieldKind::kTime, FieldKind::kNumber})
                              : field_index(fs.Get(0u).ToNumber().Int32Value(), {FieldKind::kNumber, FieldKind::kTime, FieldKind::kBool}));
      const std::string decay = Str(s, "decay", "exp");
      sp.decay = Pick<Decay>(env, "decay", decay, {{"exp", Decay::kExp}, {"gauss", Decay::kGauss}, {"linear", Decay::kLinear}});
      sp.half_life_ms = Num(s, "halfLifeMs", 86400000.0);
      if (sp.kind == SignalKind::kRecency && !(sp.half_life_ms > 0)) BadPlan(env, "halfLifeMs must be positive");
    } else {
      BadPlan(env, "unknown signal kind '" + kind + "'");
    }
    plan.signals.push_back(sp);
  }
  const std::string normalize = Str(o, "normalize", "minmax");
  plan.normalize = Pick<Normalize>(env, "normalize", normalize,
                                   {{"none", Normalize::kNone}, {"minmax", Normalize::kMinMax},
                                    {"zscore", Normalize::kZScore}, {"rank", Normalize::kRank},
                                    {"rrf", Normalize::kRrf}});
  plan.rrf_k = Num(o, "rrfK", 60);
  const std::string missing = Str(o, "missing", "renormalize");
  plan.missing = Pick<MissingPolicy>(env, "missing policy", missing,
                                     {{"renormalize", MissingPolicy::kRenormalize}, {"zero", MissingPolicy::kZero},
                                      {"default", MissingPolicy::kDefault}, {"drop", MissingPolicy::kDrop}});
  plan.missing_default = Num(o, "missingDefault", 0);
  const int blend_field = Int(o, "blendField", -1);
  plan.blend_field = blend_field < 0 ? -1 : field_index(blend_field, {FieldKind::kNumber});
  plan.blend_k = Num(o, "blendK", 20);
  if (!(plan.blend_k > 0)) BadPlan(env, "blendK must be positive");
  plan.k = Size(o, "k", 10);
  if (plan.k == 0) BadPlan(env, "k must be positive");
  plan.keep = Size(o, "keep", 1000);
  plan.rerank_top = Size(o, "rerankTop", 0);
  Napi::Array features = Arr(o, "features");
  for (uint32_t i = 0; i < features.Length(); ++i) {
    Napi::Object f = Obj(env, features.Get(i), "feature");
    FeaturePlan fp;
    const std::string kind = Str(f, "kind", "");
    fp.index = Int(f, "index", -1);
    if (kind == "vector" || kind == "present") {
      fp.kind = kind == "vector" ? FeaturePlan::Kind::kVector : FeaturePlan::Kind::kPresent;
      vector_index(fp.index);
      fp.width = kind == "vector" ? catalog.vectors()[fp.index].store->dim() : 1;
    } else if (kind == "signal" || kind == "signalRaw") {
      fp.kind = kind == "signal" ? FeaturePlan::Kind::kSignal : FeaturePlan::Kind::kSignalRaw;
      if (fp.index < 0 || size_t(fp.index) >= plan.signals.size()) BadPlan(env, "feature signal index out of range");
    } else if (kind == "field") {
      fp.kind = FeaturePlan::Kind::kField;
      field_index(fp.index, {FieldKind::kNumber, FieldKind::kTime, FieldKind::kBool});
    } else {
      BadPlan(env, "unknown feature kind '" + kind + "'");
    }
    plan.feature_size += fp.width;
    plan.features.push_back(fp);
  }
  plan.rerank_replace = Pick<bool>(env, "rerank mode", Str(o, "rerankMode", "replace"), {{"replace", true}, {"blend", false}});
  plan.rerank_weight = Num(o, "rerankWeight", 1);
  const int mmr_vector = Int(o, "mmrVector", -1);
  plan.mmr_vector = mmr_vector < 0 ? -1 : vector_index(mmr_vector);
  plan.mmr_lambda = Num(o, "mmrLambda", 0.7);
  plan.mmr_pool = Size(o, "mmrPool", 0);
  Napi::Array caps = Arr(o, "caps");
  for (uint32_t i = 0; i < caps.Length(); ++i) {
    Napi::Object c = Obj(env, caps.Get(i), "cap");
    CapPlan cp;
    cp.field = field_index(Int(c, "field", -1), {FieldKind::kCategory, FieldKind::kBool});
    cp.max = Size(c, "max", 1);
    plan.caps.push_back(cp);
  }
  Napi::Array rules = Arr(o, "rules");
  for (uint32_t i = 0; i < rules.Length(); ++i) {
    Napi::Object r = Obj(env, rules.Get(i), "rule");
    RulePlan rp;
    const std::string kind = Str(r, "kind", "");
    rp.kind = kind == "pin" ? RulePlan::Kind::kPin : kind == "bury" ? RulePlan::Kind::kBury : RulePlan::Kind::kBoost;
    if (kind != "pin" && kind != "bury" && kind != "boost") BadPlan(env, "unknown rule kind '" + kind + "'");
    rp.by = Num(r, "by", 0);
    Napi::Value f = r.Get("filter");
    if (!f.IsUndefined() && !f.IsNull()) rp.has_filter = true, rp.filter = ParseFilter(env, f, 0);
    plan.rules.push_back(std::move(rp));
  }
  return plan;
}

// Rankers over the same catalog and model whose vector features sit at the
// same inputs share one item cache (a cache keeps its ranker's catalog and
// model alive, so their addresses identify them while it lives).
std::shared_ptr<ItemCache> SharedItemCache(const std::shared_ptr<Catalog>& catalog, const std::shared_ptr<const Mlp>& model,
                                           const std::vector<uint8_t>& item_input, const std::vector<CachedVectorInput>& inputs) {
  struct Entry {
    const Catalog* catalog;
    const Mlp* model;
    std::vector<uint8_t> item_input;
    std::vector<std::pair<int, size_t>> inputs;
    std::weak_ptr<ItemCache> cache;
  };
  static std::mutex mutex;
  static std::vector<Entry> entries;
  std::vector<std::pair<int, size_t>> key;
  for (const CachedVectorInput& in : inputs) key.emplace_back(in.vector, in.offset);
  std::lock_guard<std::mutex> lock(mutex);
  entries.erase(std::remove_if(entries.begin(), entries.end(), [](const Entry& e) { return e.cache.expired(); }),
                entries.end());
  for (const Entry& e : entries)
    if (e.catalog == catalog.get() && e.model == model.get() && e.item_input == item_input && e.inputs == key)
      if (auto cache = e.cache.lock()) return cache;
  auto cache = std::make_shared<ItemCache>(*model, item_input, inputs);
  entries.push_back({catalog.get(), model.get(), item_input, std::move(key), cache});
  return cache;
}

struct Pending {
  RankRequest request;
  Stage1 stage1;
  // The user tower's input row (request.query.userFeatures, flattened), or
  // empty: the tower turns it into the query of its vector before stage 1.
  std::vector<float> tower_input;
};

// A user tower: an MLP whose output is the query of one catalog vector.
struct Tower {
  std::shared_ptr<const Mlp> model;
  int vector = -1;
};

// Runs the tower at batch 1 and makes its output the query of the tower's
// vector (normalised like any query). Reader lock held.
void ApplyTower(const KernelTable& kernels, const Tower& tower, const Catalog& catalog, Pending& pending) {
  if (pending.tower_input.empty()) return;
  const Mlp& model = *tower.model;
  const VectorStore& store = *catalog.vectors()[tower.vector].store;
  // Both checked when the plan and the request were parsed; kept as guards.
  if (model.output_size() != store.dim() || pending.tower_input.size() != model.input_size())
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH", "The user tower does not fit its vector or input");
  std::vector<float> out(model.output_size());
  model.Forward(kernels, pending.tower_input.data(), model.input_size(), 1, out.data());
  const size_t bad = FirstNonFinite(out.data(), out.size());
  if (bad < out.size())
    throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_NON_FINITE",
                "The user tower's query for vector '" + catalog.vectors()[tower.vector].name +
                    "' has a non-finite element at " + std::to_string(bad) +
                    " (is request.query.userFeatures finite?)");
  pending.request.queries[tower.vector] = PrepareQuery(kernels, out.data(), store.dim(), store.pdim());
}

// request.towerInput: a Float32Array of the tower's input size, or absent.
std::vector<float> ParseTowerInput(Napi::Env env, Napi::Value value, const Tower& tower) {
  Napi::Value v = value.As<Napi::Object>().Get("towerInput");
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!tower.model)
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "request.query.userFeatures needs a Ranker with a tower");
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a Float32Array tower input");
  auto f = v.As<Napi::Float32Array>();
  if (f.ElementLength() != tower.model->input_size())
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
          "Expected a tower input of " + std::to_string(tower.model->input_size()) + " floats but received " +
              std::to_string(f.ElementLength()));
  return std::vector<float>(f.Data(), f.Data() + f.ElementLength());
}

// Stands in for the scores of a rerank over zero rows (null means no rerank).
const float kNoScore = 0;

RankRequest ParseRequest(Napi::Env env, Napi::Value value, const Ranker& ranker) {
  Napi::Object o = Obj(env, value, "request");
  const Catalog& catalog = *ranker.catalog();
  RankRequest request;
  request.queries.resize(catalog.vectors().size());
  Napi::Array queries = Arr(o, "queries");
  for (uint32_t v = 0; v < queries.Length() && v < catalog.vectors().size(); ++v) {
    Napi::Value q = queries.Get(v);
    if (q.IsUndefined() || q.IsNull()) continue;
    if (!q.IsTypedArray() || q.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a Float32Array query");
    auto f = q.As<Napi::Float32Array>();
    const VectorStore& store = *catalog.vectors()[v].store;
    if (f.ElementLength() != store.dim())
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected a query of length " + std::to_string(store.dim()) + " for vector '" + catalog.vectors()[v].name + "'");
    const size_t bad = FirstNonFinite(f.Data(), store.dim());
    if (bad < store.dim())
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_NON_FINITE",
            "request.query." + catalog.vectors()[v].name + " has a non-finite element at " + std::to_string(bad));
    request.queries[v] = Guard(env, [&] { return PrepareQuery(*Data(env).kernels, f.Data(), store.dim(), store.pdim()); });
  }
  request.now = Num(o, "now", 0);
  auto rows_of = [&](Napi::Value v) {
    std::vector<uint32_t> out;
    if (v.IsUndefined() || v.IsNull()) return out;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a Uint32Array of rows");
    auto a = v.As<Napi::Uint32Array>();
    out.assign(a.Data(), a.Data() + a.ElementLength());
    return out;
  };
  request.exclude = rows_of(o.Get("exclude"));
  Napi::Value filter = o.Get("filter");
  if (!filter.IsUndefined() && !filter.IsNull()) {
    request.has_filter = true;
    request.filter = ParseFilter(env, filter, 0);
    Guard(env, [&] { ValidateFilter(catalog, request.filter); });
  }
  std::sort(request.exclude.begin(), request.exclude.end());
  Napi::Array rule_rows = Arr(o, "ruleRows");
  request.rule_rows.resize(ranker.plan().rules.size());
  for (uint32_t i = 0; i < rule_rows.Length() && i < request.rule_rows.size(); ++i)
    request.rule_rows[i] = rows_of(rule_rows.Get(i));
  request.explain = o.Get("explain").ToBoolean().Value();
  request.k = Size(o, "k", 0);
  return request;
}

template <typename T>
Napi::TypedArrayOf<T> ToTyped(Napi::Env env, const std::vector<T>& v) {
  auto out = Napi::TypedArrayOf<T>::New(env, v.size());
  std::copy(v.begin(), v.end(), out.Data());
  return out;
}

// Runs a native rerank model over the stage-1 features: the first output of
// each row is its score.
// With the ranker's item cache, the features are only those it does not cover.
std::vector<float> RunModel(const KernelTable& kernels, const Mlp& model, const Ranker& ranker, const Stage1& stage1,
                            double* us) {
  const double t0 = NowUs();
  std::vector<float> scores(stage1.feature_rows);
  if (stage1.feature_rows > 0) {
    const size_t outputs = model.output_size();
    std::vector<float> out(stage1.feature_rows * outputs);
    if (const ItemCache* cache = ranker.item_cache())
      cache->Forward(kernels, *ranker.catalog(), stage1.rows.data(), stage1.feature_rows, stage1.features.get(),
                     out.data());
    else
      model.Forward(kernels, stage1.features.get(), model.input_size(), stage1.feature_rows, out.data());
    for (size_t i = 0; i < scores.size(); ++i) scores[i] = out[i * outputs];
  }
  *us = NowUs() - t0;
  return scores;
}

// What a request hands back to TypeScript: only the selected items, in
// order, as flat typed arrays in a plain array (positions, not named
// properties: creating the key strings was a third of the main thread's
// work per async request). See NativeRankResult in native-types.ts:
//   [rows, scores, rule, ruleDelta, figures, fused, raw, normalized, contribution, rerank]
// figures = Float64Array [candidates, usedIndex, retrieveUs, scoreUs, rerankUs, diversifyUs];
// the explain entries (per item; raw / normalized / contribution items x
// signals; rerank NaN where not reranked) only with explain.
Napi::Array ResultToJs(Napi::Env env, const Stage1& s1, const Stage2& s2, const RankRequest& request,
                       size_t signals, const float* rerank, size_t rerank_count, double rerank_us) {
  const size_t m = s2.order.size();
  Napi::Array out = Napi::Array::New(env, request.explain ? 10 : 5);
  auto rows = Napi::Uint32Array::New(env, m);
  for (size_t j = 0; j < m; ++j) rows[j] = s1.rows[s2.order[j]];
  out.Set(0u, rows);
  out.Set(1u, ToTyped(env, s2.scores));
  out.Set(2u, ToTyped(env, s2.rule));
  out.Set(3u, ToTyped(env, s2.rule_delta));
  auto figures = Napi::Float64Array::New(env, 6);
  figures[0] = static_cast<double>(s1.retrieved);
  figures[1] = s1.used_index ? 1 : 0;
  figures[2] = s1.retrieve_us;
  figures[3] = s1.score_us;
  figures[4] = rerank_us;
  figures[5] = s2.diversify_us;
  out.Set(4u, figures);
  if (request.explain) {
    auto fused = Napi::Float32Array::New(env, m);
    auto raw = Napi::Float32Array::New(env, m * signals);
    auto normalized = Napi::Float32Array::New(env, m * signals);
    auto contribution = Napi::Float32Array::New(env, m * signals);
    auto reranked = Napi::Float32Array::New(env, m);
    for (size_t j = 0; j < m; ++j) {
      const size_t i = s2.order[j];
      fused[j] = s1.fused[i];
      reranked[j] = rerank && i < rerank_count ? rerank[i] : NAN;
      for (size_t s = 0; s < signals && i * signals + s < s1.raw.size(); ++s) {
        raw[j * signals + s] = s1.raw[i * signals + s];
        normalized[j * signals + s] = s1.normalized[i * signals + s];
        contribution[j * signals + s] = s1.contribution[i * signals + s];
      }
    }
    out.Set(5u, fused);
    out.Set(6u, raw);
    out.Set(7u, normalized);
    out.Set(8u, contribution);
    out.Set(9u, reranked);
  }
  return out;
}

// Stage 1 of a plan whose rerank model runs in JavaScript: the features and
// a `pending` handle for finish().
Napi::Object PendingToJs(Napi::Env env, std::unique_ptr<Pending> pending, size_t feature_size) {
  const Stage1& s = pending->stage1;
  Napi::Object out = Napi::Object::New(env);
  const size_t count = s.feature_rows * feature_size;
  auto features = Napi::Float32Array::New(env, count);
  if (count) std::copy(s.features.get(), s.features.get() + count, features.Data());
  out.Set("features", features);
  out.Set("featureRows", static_cast<double>(s.feature_rows));
  out.Set("candidates", static_cast<double>(s.retrieved));
  out.Set("usedIndex", s.used_index);
  out.Set("retrieveUs", s.retrieve_us);
  out.Set("scoreUs", s.score_us);
  out.Set("pending", Napi::External<Pending>::New(env, pending.release(), [](Napi::Env, Pending* p) { delete p; }));
  return out;
}

class RankerWrap : public Napi::ObjectWrap<RankerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRanker",
                       {
                           InstanceMethod<&RankerWrap::Rank>("rank"),
                           InstanceMethod<&RankerWrap::RankAsync>("rankAsync"),
                           InstanceMethod<&RankerWrap::RankBatchAsync>("rankBatchAsync"),
                           InstanceMethod<&RankerWrap::Finish>("finish"),
                           InstanceMethod<&RankerWrap::Prepare>("prepare"),
                           InstanceMethod<&RankerWrap::ItemCacheStats>("itemCacheStats"),
                       });
  }

  explicit RankerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RankerWrap>(info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Catalog> catalog = CatalogFromJs(env, info[0]);
    if (info.Length() < 2) BadPlan(env, "missing");
    Napi::Object plan_object = Obj(env, info[1], "plan");
    std::shared_lock<std::shared_mutex> lock(catalog->mutex());
    RankPlan plan = ParsePlan(env, plan_object, *catalog);
    Napi::Value model = plan_object.Get("nativeModel");
    if (!model.IsUndefined() && !model.IsNull()) {
      model_ = MlpFromJs(env, model);
      if (plan.rerank_top == 0 || model_->input_size() != plan.feature_size)
        BadPlan(env, "the rerank model's input size does not match the features");
    }
    Napi::Value tower = plan_object.Get("tower");
    if (!tower.IsUndefined() && !tower.IsNull()) {
      if (!tower.IsObject()) BadPlan(env, "tower must be an object");
      Napi::Object t = tower.As<Napi::Object>();
      tower_.model = MlpFromJs(env, t.Get("model"));
      tower_.vector = Int(t, "vector", -1);
      if (tower_.vector < 0 || static_cast<size_t>(tower_.vector) >= catalog->vectors().size())
        BadPlan(env, "tower.vector is not a vector of the catalog");
      if (tower_.model->output_size() != catalog->vectors()[tower_.vector].store->dim())
        BadPlan(env, "the tower's output size does not match its vector's dim");
    }
    const bool item_cache = plan_object.Get("itemCache").ToBoolean().Value();
    if (item_cache && !model_) BadPlan(env, "itemCache needs a native rerank model");
    Guard(env, [&] {
      std::shared_ptr<ItemCache> cache;
      if (item_cache) {
        // The model inputs that are item vectors, and where each vector sits
        // among them.
        std::vector<uint8_t> item_input(plan.feature_size, 0);
        std::vector<CachedVectorInput> inputs;
        size_t at = 0, item_at = 0;
        for (const FeaturePlan& f : plan.features) {
          if (f.kind == FeaturePlan::Kind::kVector) {
            std::fill(item_input.begin() + at, item_input.begin() + at + f.width, 1);
            inputs.push_back({f.index, item_at});
            item_at += f.width;
          }
          at += f.width;
        }
        cache = SharedItemCache(catalog, model_, item_input, inputs);
      }
      ranker_ = std::make_shared<Ranker>(catalog, std::move(plan));
      if (cache) ranker_->SetItemCache(std::move(cache));
    });
  }

 private:
  // Brings the HNSW indexes this plan searches up to date (writer lock, on
  // the main thread, so workers never see a graph change under them).
  // The item cache, when the plan has one, likewise.
  void CatchUp(Napi::Env env, unsigned threads) {
    Catalog& catalog = *ranker_->catalog();
    ItemCache* cache = ranker_->item_cache();
    std::vector<int> stale;
    bool cache_stale = false;
    {
      std::shared_lock<std::shared_mutex> lock(catalog.mutex());
      if (catalog.rows() > ranker_->plan().exact_below)  // below, exact scans are cheaper
        for (int v : ranker_->IndexedVectors())
          if (!catalog.IndexCurrent(v)) stale.push_back(v);
      cache_stale = cache && !cache->Current(catalog);
    }
    if (stale.empty() && !cache_stale) return;
    std::unique_lock<std::shared_mutex> lock(catalog.mutex());
    const KernelTable& kernels = *Data(env).kernels;
    for (int v : stale) Guard(env, [&] { catalog.CatchUpIndex(kernels, v, threads); });
    if (cache_stale) Guard(env, [&] { cache->CatchUp(kernels, catalog, threads); });
  }

  Napi::Value Prepare(const Napi::CallbackInfo& info) {
    const uint32_t threads = std::max<uint32_t>(1, std::min<uint32_t>(RequireUint32(info, 0, "threads"), 64));
    CatchUp(info.Env(), threads);
    return info.Env().Undefined();
  }

  // [bytes held, rows computed inside requests], or undefined without a cache.
  Napi::Value ItemCacheStats(const Napi::CallbackInfo& info) {
    const ItemCache* cache = ranker_->item_cache();
    if (!cache) return info.Env().Undefined();
    std::shared_lock<std::shared_mutex> lock(ranker_->catalog()->mutex());
    auto out = Napi::Float64Array::New(info.Env(), 2);
    out[0] = static_cast<double>(cache->memory_bytes());
    out[1] = static_cast<double>(cache->recomputed());
    return out;
  }

  // The whole request when the plan has no rerank or a native model;
  // otherwise stage 1 plus a `pending` handle for finish().
  Napi::Value Rank(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CatchUp(env, 1);
    const KernelTable& kernels = *Data(env).kernels;
    std::shared_lock<std::shared_mutex> lock(ranker_->catalog()->mutex());
    auto pending = std::make_unique<Pending>();
    pending->request = ParseRequest(env, info[0], *ranker_);
    pending->tower_input = ParseTowerInput(env, info[0], tower_);
    Guard(env, [&] { ApplyTower(kernels, tower_, *ranker_->catalog(), *pending); });
    pending->stage1 = Guard(env, [&] { return ranker_->RunStage1(kernels, pending->request); });
    const RankPlan& plan = ranker_->plan();
    if (plan.rerank_top > 0 && !model_) return PendingToJs(env, std::move(pending), plan.feature_size);
    double rerank_us = 0;
    std::vector<float> rerank;
    if (model_) rerank = Guard(env, [&] { return RunModel(kernels, *model_, *ranker_, pending->stage1, &rerank_us); });
    const float* scores = model_ ? (rerank.empty() ? &kNoScore : rerank.data()) : nullptr;
    Stage2 stage2 = Guard(env, [&] {
      return ranker_->RunStage2(kernels, pending->request, pending->stage1, scores, rerank.size());
    });
    return ResultToJs(env, pending->stage1, stage2, pending->request, plan.signals.size(), scores, rerank.size(), rerank_us);
  }

  Napi::Value Finish(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsExternal())
      Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected a pending rank handle");
    Pending* pending = info[0].As<Napi::External<Pending>>().Data();
    auto scores = RequireFloat32Array(info, 1, "rerankScores");
    if (scores.ElementLength() != pending->stage1.feature_rows)
      Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_DIM_MISMATCH",
            "Expected " + std::to_string(pending->stage1.feature_rows) + " rerank scores but received " +
                std::to_string(scores.ElementLength()));
    const KernelTable& kernels = *Data(env).kernels;
    std::shared_lock<std::shared_mutex> lock(ranker_->catalog()->mutex());
    Stage2 stage2 = Guard(env, [&] {
      return ranker_->RunStage2(kernels, pending->request, pending->stage1, scores.Data(), scores.ElementLength());
    });
    return ResultToJs(env, pending->stage1, stage2, pending->request, ranker_->plan().signals.size(), scores.Data(),
                      scores.ElementLength(), 0);
  }

  class RankWorker : public Napi::AsyncWorker {
   public:
    RankWorker(Napi::Env env, std::shared_ptr<Ranker> ranker, std::shared_ptr<const Mlp> model, Tower tower,
               const KernelTable& kernels, std::unique_ptr<Pending> pending)
        : Napi::AsyncWorker(env, "fusionrank.rankAsync"),
          deferred_(Napi::Promise::Deferred::New(env)),
          ranker_(std::move(ranker)),
          model_(std::move(model)),
          tower_(std::move(tower)),
          kernels_(kernels),
          pending_(std::move(pending)) {}
    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute() override {
      MarkPoolThreadBatch();
      const auto failure = CatchAll([&] {
        std::shared_lock<std::shared_mutex> lock(ranker_->catalog()->mutex());
        ApplyTower(kernels_, tower_, *ranker_->catalog(), *pending_);
        pending_->stage1 = ranker_->RunStage1(kernels_, pending_->request);
        if (model_) rerank_ = RunModel(kernels_, *model_, *ranker_, pending_->stage1, &rerank_us_);
        if (ranker_->plan().rerank_top == 0 || model_)
          stage2_ = ranker_->RunStage2(kernels_, pending_->request, pending_->stage1, Scores(), rerank_.size());
      });
      if (failure) {
        code_ = failure->code;
        SetError(failure->message);
      }
    }
    void OnOK() override {
      Napi::Env env = Env();
      if (ranker_->plan().rerank_top > 0 && !model_) {
        deferred_.Resolve(PendingToJs(env, std::move(pending_), ranker_->plan().feature_size));
        return;
      }
      deferred_.Resolve(ResultToJs(env, pending_->stage1, stage2_, pending_->request, ranker_->plan().signals.size(),
                                   Scores(), rerank_.size(), rerank_us_));
    }
    void OnError(const Napi::Error& e) override {
      deferred_.Reject(MakeError(Env(), ErrorKind::kError, code_, e.Message()).Value());
    }

   private:
    const float* Scores() const { return model_ ? (rerank_.empty() ? &kNoScore : rerank_.data()) : nullptr; }

    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Ranker> ranker_;
    std::shared_ptr<const Mlp> model_;
    Tower tower_;
    const KernelTable& kernels_;
    std::unique_ptr<Pending> pending_;
    std::vector<float> rerank_;
    double rerank_us_ = 0;
    Stage2 stage2_;
    const char* code_ = "ERR_FUSIONRANK_INTERNAL";
  };

  Napi::Value RankAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CatchUp(env, 1);
    auto pending = std::make_unique<Pending>();
    {
      std::shared_lock<std::shared_mutex> lock(ranker_->catalog()->mutex());
      pending->request = ParseRequest(env, info[0], *ranker_);
      pending->tower_input = ParseTowerInput(env, info[0], tower_);
    }
    auto* worker = new RankWorker(env, ranker_, model_, tower_, *Data(env).kernels, std::move(pending));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  // A batch of whole requests (plans without a JavaScript rerank model) on
  // one pool task split over `threads` threads: the libuv pool has 4 threads
  // by default, so rankMany would otherwise use at most 4 cores. Each request
  // holds the reader lock while it runs, so it sees one catalog version.
  class RankBatchWorker : public Napi::AsyncWorker {
   public:
    RankBatchWorker(Napi::Env env, std::shared_ptr<Ranker> ranker, std::shared_ptr<const Mlp> model, Tower tower,
                    const KernelTable& kernels, std::vector<std::unique_ptr<Pending>> pending, unsigned threads)
        : Napi::AsyncWorker(env, "fusionrank.rankMany"),
          deferred_(Napi::Promise::Deferred::New(env)),
          ranker_(std::move(ranker)),
          model_(std::move(model)),
          tower_(std::move(tower)),
          kernels_(kernels),
          pending_(std::move(pending)),
          threads_(threads) {}
    Napi::Promise Promise() { return deferred_.Promise(); }

    void Execute() override {
      MarkPoolThreadBatch();
      const size_t n = pending_.size();
      stage2_.resize(n);
      rerank_.resize(n);
      rerank_us_.assign(n, 0.0);
      const auto failure = CatchAll([&] {
        ParallelRanges(n, threads_, [&](size_t, size_t begin, size_t end) {
          for (size_t i = begin; i < end; ++i) {
            Pending& p = *pending_[i];
            std::shared_lock<std::shared_mutex> lock(ranker_->catalog()->mutex());
            ApplyTower(kernels_, tower_, *ranker_->catalog(), p);
            p.stage1 = ranker_->RunStage1(kernels_, p.request);
            if (model_) rerank_[i] = RunModel(kernels_, *model_, *ranker_, p.stage1, &rerank_us_[i]);
            stage2_[i] = ranker_->RunStage2(kernels_, p.request, p.stage1, Scores(i), rerank_[i].size());
          }
        });
      });
      if (failure) {
        code_ = failure->code;
        SetError(failure->message);
      }
    }
    void OnOK() override {
      Napi::Env env = Env();
      Napi::Array out = Napi::Array::New(env, pending_.size());
      for (size_t i = 0; i < pending_.size(); ++i)
        out.Set(static_cast<uint32_t>(i), ResultToJs(env, pending_[i]->stage1, stage2_[i], pending_[i]->request,
                                                     ranker_->plan().signals.size(), Scores(i), rerank_[i].size(),
                                                     rerank_us_[i]));
      deferred_.Resolve(out);
    }
    void OnError(const Napi::Error& e) override {
      deferred_.Reject(MakeError(Env(), ErrorKind::kError, code_, e.Message()).Value());
    }

   private:
    const float* Scores(size_t i) const { return model_ ? (rerank_[i].empty() ? &kNoScore : rerank_[i].data()) : nullptr; }

    Napi::Promise::Deferred deferred_;
    std::shared_ptr<Ranker> ranker_;
    std::shared_ptr<const Mlp> model_;
    Tower tower_;
    const KernelTable& kernels_;
    std::vector<std::unique_ptr<Pending>> pending_;
    unsigned threads_;
    std::vector<Stage2> stage2_;
    std::vector<std::vector<float>> rerank_;
    std::vector<double> rerank_us_;
    const char* code_ = "ERR_FUSIONRANK_INTERNAL";
  };

  // rankBatchAsync(requests: NativeRankRequest[], threads) -> Promise of the
  // results in order. Every request is parsed here first; a bad one throws
  // naming its index and nothing is queued.
  Napi::Value RankBatchAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsArray())
      Throw(env, ErrorKind::kTypeError, "ERR_FUSIONRANK_INVALID_ARGUMENT", "Expected an array of requests");
    if (ranker_->plan().rerank_top > 0 && !model_)
      Throw(env, ErrorKind::kError, "ERR_FUSIONRANK_INTERNAL", "rankBatchAsync needs a plan without a JavaScript rerank model");
    Napi::Array requests = info[0].As<Napi::Array>();
    const uint32_t threads = std::max<uint32_t>(1, std::min<uint32_t>(RequireUint32(info, 1, "threads"), 256));
    CatchUp(env, 1);
    std::vector<std::unique_ptr<Pending>> pending;
    pending.reserve(requests.Length());
    {
      std::shared_lock<std::shared_mutex> lock(ranker_->catalog()->mutex());
      for (uint32_t i = 0; i < requests.Length(); ++i) {
        auto p = std::make_unique<Pending>();
        try {
          p->request = ParseRequest(env, requests.Get(i), *ranker_);
          p->tower_input = ParseTowerInput(env, requests.Get(i), tower_);
        } catch (Napi::Error& e) {
          e.Value().Set("message", Napi::String::New(env, "requests[" + std::to_string(i) + "]: " + e.Message()));
          throw;
        }
        pending.push_back(std::move(p));
      }
    }
    auto* worker = new RankBatchWorker(env, ranker_, model_, tower_, *Data(env).kernels, std::move(pending), threads);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
  }

  std::shared_ptr<Ranker> ranker_;
  std::shared_ptr<const Mlp> model_;  // a native rerank model, run inside the request
  Tower tower_;                        // a user tower, run inside the request
};

// catalogTopKMany(nativeCatalog, vector, queries, k, filter | undefined,
// threads) -> Promise<{ rows, scores, k }>: exact top-k of many queries over
// the live rows that have the vector and pass the filter. The candidates
// are listed under the reader lock, here; the scan works on a snapshot of
// the column (rows added later are not seen; the caller maps rows to ids
// and drops rows reassigned meanwhile).
Napi::Value CatalogTopKMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::shared_ptr<Catalog> catalog = CatalogFromJs(env, info[0]);
  const uint32_t v = RequireUint32(info, 1, "vector");
  auto queries = RequireFloat32Array(info, 2, "queries");
  const uint32_t k = RequireUint32(info, 3, "k");
  if (k == 0) Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_K", "Expected k to be a positive integer");
  const uint32_t threads = std::max<uint32_t>(1, std::min<uint32_t>(RequireUint32(info, 5, "threads"), 256));
  std::shared_lock<std::shared_mutex> lock(catalog->mutex());
  if (v >= catalog->vectors().size())
    Throw(env, ErrorKind::kRangeError, "ERR_FUSIONRANK_UNKNOWN_VECTOR", "No vector #" + std::to_string(v));
  const VectorColumn& column = catalog->vectors()[v];
  const size_t nq = CheckQueries(env, queries, column.store->dim());
  bool has_filter = info.Length() > 4 && !info[4].IsUndefined() && !info[4].IsNull();
  FilterNode filter;
  if (has_filter) {
    filter = ParseFilter(env, info[4], 0);
    Guard(env, [&] { ValidateFilter(*catalog, filter); });
  }
  const StoreView view = column.store->View();
  std::vector<uint32_t> rows;
  const size_t limit = std::min<size_t>({catalog->rows(), view.rows, column.present.size()});
  for (size_t row = 0; row < limit; ++row) {
    const uint32_t r = static_cast<uint32_t>(row);
    if (!catalog->alive(r) || !column.present[row]) continue;
    if (has_filter && !Matches(*catalog, filter, r)) continue;
    rows.push_back(r);
  }
  std::vector<float> copy(queries.Data(), queries.Data() + queries.ElementLength());
  return QueueTopKMany(env, *Data(env).kernels, view, std::move(copy), nq, std::move(rows), false, k, threads);
}

}  // namespace

void InitRanker(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeRanker", RankerWrap::Define(env));
  exports.Set("catalogTopKMany", Napi::Function::New(env, CatalogTopKMany, "catalogTopKMany"));
}

}  // namespace fr
