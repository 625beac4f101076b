// Every kernel tier of this build against the serial one, without Node:
// cosine scores (f32, f16, i8; gathered rows and contiguous ranges, odd
// widths and row tails), f16 decoding, 4-bit code dots, the read probe, and
// the MLP's GEMM with each activation, the L2 row normalisation. Exits non-zero on the first mismatch.
//
// It runs where the addon's tests cannot: scripts/check-isas.sh builds it for
// this machine, or cross-compiles it for aarch64 and runs the NEON kernels
// under qemu-user.
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/cpu.h"
#include "core/kernels/kernels.h"
#include "core/mlp.h"
#include "core/topk_many.h"
#include "core/vector_store.h"

namespace {

using namespace fr;

int failures = 0;

void Check(bool ok, const char* isa, const char* what, size_t a, size_t b, double got, double want) {
  if (ok) return;
  if (++failures <= 20) std::printf("  MISMATCH %s %s (%zu, %zu): %.9g vs serial %.9g\n", isa, what, a, b, got, want);
}

std::vector<float> RandomFloats(std::mt19937& random, size_t n) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(random);
  return v;
}

void CheckScores(const KernelTable& t, const KernelTable& s, std::mt19937& random) {
  const char* isa = IsaName(t.isa);
  for (Dtype dtype : {Dtype::kF32, Dtype::kF16, Dtype::kI8}) {
    for (size_t dim : {1, 3, 16, 31, 64, 100, 512, 768}) {
      const size_t rows = 37;
      VectorStore store(dim, dtype);
      std::vector<float> data = RandomFloats(random, rows * dim);
      for (size_t d = 0; d < dim; ++d) data[5 * dim + d] = 0.0f;  // one zero vector
      store.Add(data.data(), rows);
      const StoreView view = store.View();
      const std::vector<float> query = RandomFloats(random, dim);
      AlignedPtr<float> qt = PrepareQuery(t, query.data(), dim, view.pdim);
      AlignedPtr<float> qs = PrepareQuery(s, query.data(), dim, view.pdim);
      // Gathered rows: every count from 1 to 13 (block tails), then all, shuffled.
      std::vector<uint32_t> order(rows);
      for (uint32_t r = 0; r < rows; ++r) order[r] = r;
      std::shuffle(order.begin(), order.end(), random);
      for (size_t n : {1, 2, 3, 4, 5, 7, 8, 9, 13, 37}) {
        std::vector<float> got(n), want(n);
        Score(t, view, qt.get(), order.data(), n, got.data());
        Score(s, view, qs.get(), order.data(), n, want.data());
        for (size_t i = 0; i < n; ++i) Check(std::fabs(got[i] - want[i]) <= 2e-5f, isa, "score gathered", dim, n, got[i], want[i]);
      }
      std::vector<float> got(rows), want(rows);
      ScoreRange(t, view, qt.get(), 0, rows, got.data());
      ScoreRange(s, view, qs.get(), 0, rows, want.data());
      for (size_t i = 0; i < rows; ++i) Check(std::fabs(got[i] - want[i]) <= 2e-5f, isa, "score range", dim, i, got[i], want[i]);
      // Many queries at once (topKMany's kernel) against serial single-query
      // scores: every tile edge (query counts 1..9, row counts 1..13).
      for (size_t nq : {1, 2, 3, 4, 5, 9}) {
        std::vector<float> raw = RandomFloats(random, nq * dim);
        AlignedPtr<float> qm = AllocateAligned<float>(nq * view.pdim);
        std::vector<AlignedPtr<float>> qsv;
        for (size_t q = 0; q < nq; ++q) {
          AlignedPtr<float> one = PrepareQuery(t, raw.data() + q * dim, dim, view.pdim);
          std::copy(one.get(), one.get() + view.pdim, qm.get() + q * view.pdim);
          qsv.push_back(PrepareQuery(s, raw.data() + q * dim, dim, view.pdim));
        }
        for (size_t n : {1, 5, 6, 7, 13}) {
          std::vector<float> many(nq * n), want(n);
          for (bool gathered : {false, true}) {
            const size_t first = gathered ? 0 : 3;
            ScoreManyMatrix(t, view, qm.get(), nq, gathered ? order.data() : nullptr, first, n, many.data(), n);
            for (size_t q = 0; q < nq; ++q) {
              if (gathered)
                Score(s, view, qsv[q].get(), order.data(), n, want.data());
              else
                ScoreRange(s, view, qsv[q].get(), first, n, want.data());
              for (size_t i = 0; i < n; ++i)
                Check(std::fabs(many[q * n + i] - want[i]) <= 2e-5f, isa, gathered ? "many gathered" : "many range", dim, nq * 100 + n,
                      many[q * n + i], want[i]);
            }
          }
        }
      }
      std::vector<float> dt(dim), ds(dim);
      for (uint32_t r = 0; r < rows; r += 6) {
        DecodeRow(t, view, r, dt.data());
        DecodeRow(s, view, r, ds.data());
        for (size_t d = 0; d < dim; ++d) Check(dt[d] == ds[d], isa, "decode", dim, r, dt[d], ds[d]);
      }
    }
  }
}

void CheckCodes(const KernelTable& t, const KernelTable& s, std::mt19937& random) {
  const char* isa = IsaName(t.isa);
  for (size_t cdim : {kU4Block, 4 * kU4Block, 6 * kU4Block}) {
    const size_t stride = cdim / 2, rows = 29;
    AlignedPtr<uint8_t> codes = AllocateAligned<uint8_t>(rows * stride);
    AlignedPtr<int8_t> query = AllocateAligned<int8_t>(cdim);
    std::uniform_int_distribution<int> byte(0, 255), q(-127, 127);
    for (size_t i = 0; i < rows * stride; ++i) codes[i] = static_cast<uint8_t>(byte(random));
    for (size_t i = 0; i < cdim; ++i) query[i] = static_cast<int8_t>(q(random));
    std::vector<uint32_t> list(rows);
    for (uint32_t r = 0; r < rows; ++r) list[r] = (r * 7) % rows;
    for (size_t n : {1, 3, 4, 5, 8, 11, 29}) {
      std::vector<int32_t> got(n), want(n);
      t.score_u4(query.get(), codes.get(), stride, list.data(), n, cdim, got.data());
      s.score_u4(query.get(), codes.get(), stride, list.data(), n, cdim, want.data());
      for (size_t i = 0; i < n; ++i) Check(got[i] == want[i], isa, "u4 codes", cdim, n, got[i], want[i]);
    }
  }
  std::vector<uint8_t> bytes(64 * 1024);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 31 + 7);
  std::vector<uint32_t> list = {3, 0, 17, 9, 1, 30, 31, 2, 5};
  for (size_t row_bytes : {64, 192, 1024, 2048}) {
    const uint64_t got = t.probe_read(bytes.data(), 2048, list.data(), list.size(), row_bytes);
    const uint64_t want = s.probe_read(bytes.data(), 2048, list.data(), list.size(), row_bytes);
    Check(got == want, isa, "read probe", row_bytes, list.size(), static_cast<double>(got), static_cast<double>(want));
  }
}

void CheckMlp(const KernelTable& t, const KernelTable& s, std::mt19937& random) {
  const char* isa = IsaName(t.isa);
  const Activation acts[] = {Activation::kNone, Activation::kRelu, Activation::kLeakyRelu, Activation::kSigmoid,
                             Activation::kTanh, Activation::kGeluErf, Activation::kGeluTanh, Activation::kSilu,
                             Activation::kSoftplus, Activation::kClip};
  for (Activation act : acts) {
    const size_t sizes[] = {37, 19, 33, 5};
    Mlp mlp(sizes[0]);
    const float alpha = act == Activation::kClip ? -0.5f : 0.1f;
    for (size_t l = 1; l < 4; ++l) {
      const std::vector<float> w = RandomFloats(random, sizes[l - 1] * sizes[l]);
      const std::vector<float> b = RandomFloats(random, sizes[l]);
      mlp.AddDense(sizes[l], w.data(), l == 2, b.data(), act, alpha, 0.7f);
    }
    // A normalised, scaled tail on half of them (a two-tower model's output).
    if (static_cast<int>(act) % 2 == 0) mlp.AddL2Normalize(1e-12f, 2.5f);
    for (size_t batch : {1, 5, 6, 7, 49}) {
      const std::vector<float> x = RandomFloats(random, batch * sizes[0]);
      std::vector<float> got(batch * sizes[3]), want(batch * sizes[3]);
      mlp.Forward(t, x.data(), sizes[0], batch, got.data());
      mlp.Forward(s, x.data(), sizes[0], batch, want.data());
      for (size_t i = 0; i < got.size(); ++i)
        Check(std::fabs(got[i] - want[i]) <= 1e-4f * (1.0f + std::fabs(want[i])), isa, "mlp", static_cast<size_t>(act), batch,
              got[i], want[i]);
    }
  }
}

// The L2 row normalisation on its own: odd widths (tails), rows whose sum of
// squares overflows or underflows float, zero rows and NaN.
void CheckNormalize(const KernelTable& t, const KernelTable& s, std::mt19937& random) {
  const char* isa = IsaName(t.isa);
  for (size_t n : {1, 3, 8, 15, 16, 17, 33, 128, 129, 515}) {
    for (float magnitude : {1.0f, 1e25f, 1e-25f, 0.0f}) {
      std::vector<float> x = RandomFloats(random, n);
      for (float& v : x) v *= magnitude;
      std::vector<float> got(n), want(n);
      t.normalize_f32(x.data(), n, 1e-37f, 3.0f, got.data());
      s.normalize_f32(x.data(), n, 1e-37f, 3.0f, want.data());
      double norm = 0;
      for (float v : want) norm += static_cast<double>(v) * v;
      Check(magnitude == 0.0f || std::fabs(std::sqrt(norm) - 3.0) < 1e-5, isa, "normalize norm", n, 0, std::sqrt(norm), 3.0);
      for (size_t i = 0; i < n; ++i)
        Check(std::fabs(got[i] - want[i]) <= 1e-6f * (1.0f + std::fabs(want[i])), isa, "normalize", n, i, got[i], want[i]);
    }
    std::vector<float> x = RandomFloats(random, n), got(n);
    x[n / 2] = NAN;
    t.normalize_f32(x.data(), n, 1e-12f, 1.0f, got.data());
    for (size_t i = 0; i < n; ++i) Check(std::isnan(got[i]), isa, "normalize NaN", n, i, got[i], NAN);
  }
}

}  // namespace

int main() {
  const fr::KernelTable& serial = fr::KernelsFor(fr::Isa::kSerial);
  std::mt19937 random(42);
  size_t checked = 0;
  for (fr::Isa isa : fr::AvailableIsas()) {
    if (isa == fr::Isa::kSerial) continue;
    const fr::KernelTable& table = fr::KernelsFor(isa);
    if (table.isa != isa) continue;  // a tier this build does not have
    const int before = failures;
    CheckScores(table, serial, random);
    CheckCodes(table, serial, random);
    CheckMlp(table, serial, random);
    CheckNormalize(table, serial, random);
    std::printf("%-11s %s\n", fr::IsaName(isa), failures == before ? "matches serial" : "MISMATCHES serial");
    ++checked;
  }
  if (checked == 0) std::printf("only the serial tier runs on this CPU: nothing to compare\n");
  return failures == 0 ? 0 : 1;
}
