// Fuzz target: the HNSW graph file of a saved catalog (HnswIndex::LoadBytes
// and Load, what Catalog.load runs for index.<vector>.usearch), then every
// use of an accepted graph: searches with and without navigation codes and
// through a filter, inserts into it, and the mmap path with its reload on
// the first change. The graph belongs to a 64-row column of 8-d f32 vectors;
// seeds are real files saved by the addon (scripts/fuzz.sh).
#include <cstdio>
#include <memory>

#include "core/hnsw.h"
#include "core/topk.h"
#include "core/vector_store.h"
#include "fuzz_common.h"

namespace {

constexpr size_t kRows = 64;
constexpr size_t kDim = 8;

const fr::VectorStore& Store() {
  static const std::unique_ptr<fr::VectorStore> store = [] {
    auto s = std::make_unique<fr::VectorStore>(kDim, fr::Dtype::kF32);
    std::vector<float> rows(kRows * kDim);
    uint32_t state = 12345;
    for (float& x : rows) {
      state = state * 1664525u + 1013904223u;
      x = static_cast<float>(state >> 8) / 16777216.0f - 0.5f;
    }
    s->Add(rows.data(), kRows);
    return s;
  }();
  return *store;
}

// Searches an accepted graph the ways the ranker does.
void Use(fr::HnswIndex& index) {
  const fr::KernelTable& kernels = fr::fuzz::Kernels();
  const fr::StoreView view = Store().View();
  std::vector<uint64_t> half((kRows + 63) / 64, 0x5555555555555555ull);
  for (int q = 0; q < 3; ++q) {
    std::vector<float> query(kDim);
    for (size_t d = 0; d < kDim; ++d) query[d] = static_cast<float>((q * 7 + d * 3) % 11) - 5.0f;
    auto padded = fr::PrepareQuery(kernels, query.data(), kDim, view.pdim);
    for (size_t ef : {size_t(16), size_t(200)}) {
      fr::RowFilter all;
      fr::TopKHeap top(10);
      index.Search(kernels, view, padded.get(), 10, ef, all, &top);
      fr::RowFilter filtered;
      filtered.allowed = half.data();
      filtered.allowed_rows = kRows;
      filtered.selectivity = q == 0 ? 0.01 : 0.5;
      fr::TopKHeap some(10);
      index.Search(kernels, view, padded.get(), 10, ef, filtered, &some);
    }
  }
}

void Exercise(fr::HnswIndex& index) {
  const fr::KernelTable& kernels = fr::fuzz::Kernels();
  const fr::StoreView view = Store().View();
  index.BuildCodes(kernels, view, 1);
  Use(index);
  // Inserting into a loaded graph starts from its entry node and top level.
  const uint32_t rows[] = {0, 17, 63};
  index.Upsert(kernels, view, rows, 3, 1);
  Use(index);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    fr::HnswIndex index;
    try {
      index.LoadBytes(data, size, kRows, "fuzz-input");
    } catch (const fr::Error& e) {
      fr::fuzz::ExpectCode(e, {"ERR_FUSIONRANK_CORRUPT"});
      return 0;
    }
    Exercise(index);
  }
  // Accepted: the mmap path must accept it too, and survive being made
  // mutable (a reload from the file) by an insert.
  static const std::string path = fr::fuzz::ScratchPath("graph");
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) return 0;
  std::fwrite(data, 1, size, file);
  std::fclose(file);
  fr::HnswIndex viewed;
  viewed.Load(path, true, kRows);
  Exercise(viewed);
  return 0;
}
