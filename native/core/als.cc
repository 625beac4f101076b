#include "als.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <string>

#include "aligned.h"
#include "error.h"
#include "parallel.h"

namespace fr {

namespace {

[[noreturn]] void Invalid(const std::string& message, const char* code = "ERR_FUSIONRANK_INVALID_ARGUMENT") {
  throw Error(ErrorKind::kRangeError, code, message);
}

// Compressed rows: row r's entries are indptr[r] .. indptr[r + 1], sorted by column, unique.
struct Csr {
  std::vector<uint64_t> indptr;
  std::vector<uint32_t> indices;
  std::vector<float> values;
};

// Rows from coordinates: counting sort, then each row sorted and repeated columns merged (weights add up).
Csr BuildRows(const uint32_t* rows, const uint32_t* cols, const float* weights, size_t count, size_t n_rows) {
  Csr out;
  out.indptr.assign(n_rows + 1, 0);
  for (size_t k = 0; k < count; ++k) out.indptr[rows[k] + 1]++;
  for (size_t r = 0; r < n_rows; ++r) out.indptr[r + 1] += out.indptr[r];
  std::vector<uint64_t> cursor(out.indptr.begin(), out.indptr.end() - 1);
  std::vector<std::pair<uint32_t, float>> entries(count);
  for (size_t k = 0; k < count; ++k) entries[cursor[rows[k]]++] = {cols[k], weights ? weights[k] : 1.0f};
  out.indices.reserve(count);
  out.values.reserve(count);
  uint64_t written = 0;
  for (size_t r = 0; r < n_rows; ++r) {
    auto first = entries.begin() + static_cast<ptrdiff_t>(out.indptr[r]);
    auto last = entries.begin() + static_cast<ptrdiff_t>(out.indptr[r + 1]);
    std::sort(first, last, [](const auto& a, const auto& b) { return a.first < b.first; });
    out.indptr[r] = written;
    for (auto it = first; it != last; ++it) {
      if (written > out.indptr[r] && out.indices.back() == it->first) {
        out.values.back() += it->second;
      } else {
        out.indices.push_back(it->first);
        out.values.push_back(it->second);
        ++written;
      }
    }
  }
  out.indptr[n_rows] = written;
  return out;
}

// The transpose of `a` (n_cols columns): rows come out sorted by column.
Csr Transpose(const Csr& a, size_t n_rows, size_t n_cols) {
  Csr out;
  out.indptr.assign(n_cols + 1, 0);
  for (uint32_t c : a.indices) out.indptr[c + 1]++;
  for (size_t c = 0; c < n_cols; ++c) out.indptr[c + 1] += out.indptr[c];
  out.indices.resize(a.indices.size());
  out.values.resize(a.values.size());
  std::vector<uint64_t> cursor(out.indptr.begin(), out.indptr.end() - 1);
  for (size_t r = 0; r < n_rows; ++r)
    for (uint64_t e = a.indptr[r]; e < a.indptr[r + 1]; ++e) {
      const uint64_t at = cursor[a.indices[e]]++;
      out.indices[at] = static_cast<uint32_t>(r);
      out.values[at] = a.values[e];
    }
  return out;
}

// splitmix64 and Box–Muller: the same seed gives the same start on every machine.
struct Random {
  uint64_t state;
  uint64_t Next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double Uniform() { return (static_cast<double>(Next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  double Normal() { return std::sqrt(-2.0 * std::log(Uniform())) * std::cos(6.283185307179586 * Uniform()); }
};

// Runs fn(begin, end) over [0, n) in chunks handed out on demand (rows differ in length).
template <typename Fn>
void Dynamic(size_t n, unsigned threads, size_t chunk, Fn&& fn) {
  std::atomic<size_t> next{0};
  ParallelRanges(threads, threads, [&](size_t, size_t, size_t) {
    for (;;) {
      const size_t begin = next.fetch_add(chunk);
      if (begin >= n) break;
      fn(begin, std::min(n, begin + chunk));
    }
  });
}

// xᵀx of n padded rows in double (factors × factors, dense), from per-thread f32 partials.
std::vector<double> GramPadded(const KernelTable& k, const float* x, size_t n, size_t ld, size_t factors,
                               unsigned threads) {
  const unsigned parts = static_cast<unsigned>(std::max<size_t>(1, std::min<size_t>(threads, n / 256 + 1)));
  std::vector<AlignedPtr<float>> partial(parts);
  for (auto& p : partial) p = AllocateAligned<float>(ld * ld);
  // Blocks of 512 rows are summed into f32 and flushed to double, so rounding does not grow with n.
  std::vector<std::vector<double>> sums(parts, std::vector<double>(factors * factors, 0.0));
  ParallelRanges(n, parts, [&](size_t part, size_t begin, size_t end) {
    float* g = partial[part].get();
    for (size_t b = begin; b < end; b += 512) {
      std::fill(g, g + ld * ld, 0.0f);
      k.als_gram(x, ld, factors, b, std::min(end, b + 512), g);
      for (size_t a = 0; a < factors; ++a)
        for (size_t c = 0; c < factors; ++c) sums[part][a * factors + c] += g[a * ld + c];
    }
  });
  std::vector<double> out(factors * factors, 0.0);
  for (const auto& s : sums)
    for (size_t i = 0; i < out.size(); ++i) out[i] += s[i];
  return out;
}

// Solves a x = b for a symmetric positive definite a (n × n, upper triangle
// read, destroyed; b overwritten by x): a = UᵀU by right-looking Cholesky on
// the upper triangle, so every inner loop runs along a contiguous row.
bool CholeskySolve(std::vector<double>& a, std::vector<double>& b, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double* uj = a.data() + j * n;
    if (!(uj[j] > 0)) return false;
    const double d = std::sqrt(uj[j]);
    uj[j] = d;
    const double inv = 1.0 / d;
    for (size_t i = j + 1; i < n; ++i) uj[i] *= inv;
    for (size_t i = j + 1; i < n; ++i) {
      const double u = uj[i];
      double* ui = a.data() + i * n;
      for (size_t k = i; k < n; ++k) ui[k] -= u * uj[k];
    }
  }
  // Uᵀ z = b, then U x = z.
  for (size_t i = 0; i < n; ++i) {
    const double* ui = a.data() + i * n;
    const double z = b[i] / ui[i];
    b[i] = z;
    for (size_t k = i + 1; k < n; ++k) b[k] -= ui[k] * z;
  }
  for (size_t i = n; i-- > 0;) {
    const double* ui = a.data() + i * n;
    double s = b[i];
    for (size_t k = i + 1; k < n; ++k) s -= ui[k] * b[k];
    b[i] = s / ui[i];
  }
  return true;
}

}  // namespace

std::vector<double> Gram(const float* rows, size_t n, size_t factors) {
  std::vector<double> out(factors * factors, 0.0);
  for (size_t r = 0; r < n; ++r) {
    const float* v = rows + r * factors;
    for (size_t a = 0; a < factors; ++a) {
      const double va = v[a];
      if (va == 0) continue;
      for (size_t c = 0; c < factors; ++c) out[a * factors + c] += va * v[c];
    }
  }
  return out;
}

AlsResult FitAls(const KernelTable& k, const AlsInput& in, const AlsOptions& o) {
  if (o.factors < 1 || o.factors > kAlsMaxLd) Invalid("Expected factors in [1, 1024] but received " + std::to_string(o.factors));
  if (o.iterations < 1) Invalid("Expected iterations >= 1 but received " + std::to_string(o.iterations));
  if (o.cg_steps < 1) Invalid("Expected cgSteps >= 1 but received " + std::to_string(o.cg_steps));
  if (!(std::isfinite(o.regularization) && o.regularization >= 0))
    Invalid("Expected regularization to be a finite number >= 0 but received " + std::to_string(o.regularization));
  if (!(std::isfinite(o.alpha) && o.alpha >= 0))
    Invalid("Expected alpha to be a finite number >= 0 but received " + std::to_string(o.alpha));
  if (in.n_users == 0 || in.n_items == 0 || in.count == 0) Invalid("Expected at least one interaction", "ERR_FUSIONRANK_EMPTY_INPUT");
  if (in.n_users > UINT32_MAX || in.n_items > UINT32_MAX) Invalid("Expected fewer than 2^32 users and items");
  for (size_t i = 0; i < in.count; ++i) {
    if (in.users[i] >= in.n_users)
      Invalid("Expected users[" + std::to_string(i) + "] < " + std::to_string(in.n_users) + " but received " + std::to_string(in.users[i]));
    if (in.items[i] >= in.n_items)
      Invalid("Expected items[" + std::to_string(i) + "] < " + std::to_string(in.n_items) + " but received " + std::to_string(in.items[i]));
    if (in.weights) {
      const float w = in.weights[i];
      if (!std::isfinite(w)) Invalid("Expected weights[" + std::to_string(i) + "] to be finite", "ERR_FUSIONRANK_NON_FINITE");
      if (w < 0) Invalid("Expected weights[" + std::to_string(i) + "] >= 0 but received " + std::to_string(w));
    }
  }

  const size_t f = o.factors;
  const size_t ld = RoundUp(f, 16);
  const unsigned threads = std::max(1u, o.threads);
  Csr by_user = BuildRows(in.users, in.items, in.weights, in.count, in.n_users);
  for (auto& v : by_user.values) v = static_cast<float>(o.alpha * v);  // confidence − 1
  Csr by_item = Transpose(by_user, in.n_users, in.n_items);

  AlsResult result;
  result.pairs = by_user.indices.size();
  auto x = AllocateAligned<float>(in.n_users * ld);
  auto y = AllocateAligned<float>(in.n_items * ld);
  Random random{o.seed};
  auto start = [&](float* out, const float* init, size_t n, const char* name) {
    for (size_t r = 0; r < n; ++r)
      for (size_t j = 0; j < f; ++j) {
        const float v = init ? init[r * f + j] : static_cast<float>(0.01 * random.Normal());
        if (!std::isfinite(v)) Invalid(std::string("Expected finite starting ") + name, "ERR_FUSIONRANK_NON_FINITE");
        out[r * ld + j] = v;
      }
  };
  start(y.get(), in.item_init, in.n_items, "item factors");
  start(x.get(), in.user_init, in.n_users, "user factors");

  auto gram = AllocateAligned<float>(ld * ld);
  auto load_gram = [&](const std::vector<double>& g) {
    std::fill(gram.get(), gram.get() + ld * ld, 0.0f);
    for (size_t a = 0; a < f; ++a)
      for (size_t c = 0; c < f; ++c) gram[a * ld + c] = static_cast<float>(g[a * f + c] + (a == c ? o.regularization : 0.0));
  };
  auto half = [&](const Csr& rows, const float* other, float* self, size_t n) {
    AlsHalf h{rows.indptr.data(), rows.indices.data(), rows.values.data(), other, gram.get(), self, ld, f, o.cg_steps};
    Dynamic(n, threads, 64, [&](size_t begin, size_t end) { k.als_cg(h, begin, end); });
  };
  const double nnz = static_cast<double>(result.pairs);
  // Per half-step: the gram (n_other·f²), then per CG step f² per row and 4f per entry, plus the residual.
  auto flops = [&](double n_self, double n_other) {
    return 2.0 * n_other * f * f + (o.cg_steps + 1.0) * (2.0 * n_self * f * f + 4.0 * nnz * f);
  };

  std::vector<double> gram_y = GramPadded(k, y.get(), in.n_items, ld, f, threads);
  for (uint32_t it = 0; it < o.iterations; ++it) {
    load_gram(gram_y);
    half(by_user, y.get(), x.get(), in.n_users);
    const std::vector<double> gram_x = GramPadded(k, x.get(), in.n_users, ld, f, threads);
    load_gram(gram_x);
    half(by_item, x.get(), y.get(), in.n_items);
    gram_y = GramPadded(k, y.get(), in.n_items, ld, f, threads);
    result.solve_flops += flops(static_cast<double>(in.n_users), static_cast<double>(in.n_items)) +
                          flops(static_cast<double>(in.n_items), static_cast<double>(in.n_users));
    if (o.loss) {
      AlsHalf h{by_user.indptr.data(), by_user.indices.data(), by_user.values.data(), y.get(), gram.get(), x.get(), ld, f, o.cg_steps};
      std::vector<double> parts(threads, 0.0);
      ParallelRanges(in.n_users, threads, [&](size_t part, size_t begin, size_t end) { parts[part] = k.als_loss(h, begin, end); });
      double loss = std::accumulate(parts.begin(), parts.end(), 0.0);
      double trace_x = 0, trace_y = 0;
      for (size_t a = 0; a < f; ++a) {
        trace_x += gram_x[a * f + a];
        trace_y += gram_y[a * f + a];
        for (size_t c = 0; c < f; ++c) loss += gram_x[a * f + c] * gram_y[a * f + c];
      }
      result.loss.push_back(loss + o.regularization * (trace_x + trace_y));
    }
  }

  result.user_factors.resize(in.n_users * f);
  result.item_factors.resize(in.n_items * f);
  for (size_t u = 0; u < in.n_users; ++u) std::copy(x.get() + u * ld, x.get() + u * ld + f, result.user_factors.data() + u * f);
  for (size_t i = 0; i < in.n_items; ++i) std::copy(y.get() + i * ld, y.get() + i * ld + f, result.item_factors.data() + i * f);
  return result;
}

void AlsFoldIn(const KernelTable& kernels, const float* item_factors, size_t n_items, size_t f, const double* gram,
               double regularization, double alpha, const uint32_t* items, const float* weights, size_t count, float* out) {
  if (f < 1 || f > kAlsMaxLd) Invalid("Expected factors in [1, 1024] but received " + std::to_string(f));
  if (!(std::isfinite(regularization) && regularization >= 0 && std::isfinite(alpha) && alpha >= 0))
    Invalid("Expected a finite regularization and alpha >= 0");
  std::vector<std::pair<uint32_t, double>> history(count);
  for (size_t k = 0; k < count; ++k) {
    if (items[k] >= n_items)
      Invalid("Expected items[" + std::to_string(k) + "] < " + std::to_string(n_items) + " but received " + std::to_string(items[k]));
    const float w = weights ? weights[k] : 1.0f;
    if (!std::isfinite(w)) Invalid("Expected weights[" + std::to_string(k) + "] to be finite", "ERR_FUSIONRANK_NON_FINITE");
    if (w < 0) Invalid("Expected weights[" + std::to_string(k) + "] >= 0 but received " + std::to_string(w));
    history[k] = {items[k], w};
  }
  std::sort(history.begin(), history.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  // Rows sqrt(α w_i) · y_i (padded), so Σ α w_i y_i y_iᵀ is their gram, on the SIMD kernel.
  const size_t ld = RoundUp(f, 16);
  std::vector<double> b(f, 0.0);
  size_t distinct = 0;
  for (size_t k = 0; k < history.size(); ++distinct)
    for (const uint32_t item = history[k].first; k < history.size() && history[k].first == item;) ++k;
  auto scaled = AllocateAligned<float>(std::max<size_t>(1, distinct) * ld);
  auto outer = AllocateAligned<float>(ld * ld);
  size_t row = 0;
  for (size_t k = 0; k < history.size(); ++row) {
    double w = 0;
    const uint32_t item = history[k].first;
    for (; k < history.size() && history[k].first == item; ++k) w += history[k].second;
    const float* y = item_factors + size_t(item) * f;
    const double c1 = alpha * w;
    const float root = static_cast<float>(std::sqrt(c1));
    for (size_t i = 0; i < f; ++i) {
      b[i] += (1.0 + c1) * y[i];
      scaled[row * ld + i] = root * y[i];
    }
  }
  kernels.als_gram(scaled.get(), ld, f, 0, distinct, outer.get());
  std::vector<double> a(f * f);
  for (size_t i = 0; i < f; ++i)
    for (size_t j = i; j < f; ++j) a[i * f + j] = gram[i * f + j] + outer[i * ld + j] + (i == j ? regularization : 0.0);
  if (!CholeskySolve(a, b, f)) Invalid("The fold-in system is not positive definite: give regularization > 0", "ERR_FUSIONRANK_INVALID_ARGUMENT");
  for (size_t i = 0; i < f; ++i) out[i] = static_cast<float>(b[i]);
}

}  // namespace fr
