// Fuzz target: the native side of loading a saved catalog's columns
// (Catalog::ImportAlive / ImportVector / ImportNumbers / ImportCodes /
// ImportTags, what Catalog.load hands alive.bin, vector.*.bin, field.*.bin
// to), then the use of an accepted catalog: graphs built over the imported
// vectors, saved and loaded back (our own files must pass our own checks),
// and ordinary writes. The manifest itself is JSON read in TypeScript
// (src/catalog/persist.ts); its native part is the schema it creates
// (AddVector / AddField with names, dims and dtypes from the file), fuzzed
// in schema mode.
//
// Input: one mode byte, then length-prefixed sections (u32 LE length, bytes):
//   0 alive  1 a.data  2 a.present  3 b.data  4 b.present  5 c.data
//   6 c.present  7 c.scales  8 n  9 t  10 k  11 o  12 g  13 dictionary sizes
//   (u32 k, u32 g; absent: unchecked)
// for the schema a: f32 x 5, b: f16 x 12, c: i8 x 7; n: number, t: time,
// k: category, o: bool, g: tags (scripts/fuzz.sh writes seeds from a real
// catalog of that schema). Mode bit 0: the three vectors' dims and dtypes
// come from the input instead (the sections follow them).
#include <cstdio>
#include <memory>

#include "core/catalog.h"
#include "fuzz_common.h"

namespace {

struct VectorSpec {
  const char* name;
  size_t dim;
  fr::Dtype dtype;
};

void Exercise(fr::Catalog& catalog) {
  const fr::KernelTable& kernels = fr::fuzz::Kernels();
  const size_t rows = catalog.rows();
  for (size_t v = 0; v < catalog.vectors().size(); ++v) {
    catalog.CatchUpIndex(kernels, static_cast<int>(v), 1);
    // What Catalog.save writes, Catalog.load must read back. One file per
    // vector: a mapped graph's file is never rewritten in place (as saves
    // never do: they write new files and rename).
    const std::string path = fr::fuzz::ScratchPath(("catalog-graph-" + std::to_string(v)).c_str());
    std::string error;
    if (!catalog.vectors()[v].index->Save(path, &error)) continue;
    for (bool mmap : {false, true}) {
      auto index = std::make_unique<fr::HnswIndex>();
      index->Load(path, mmap, rows);
      index->BuildCodes(kernels, catalog.vectors()[v].store->View(), 1);
      catalog.AdoptIndex(static_cast<int>(v), std::move(index));
    }
  }
  size_t values = 0;
  for (const fr::FieldColumn& f : catalog.fields())
    for (uint32_t row = 0; row < rows; ++row) values += catalog.alive(row) && f.HasValue(row);
  (void)values;
  // Writes after the load: a new row, a removal, a vector.
  const uint32_t fresh = static_cast<uint32_t>(rows);
  catalog.Activate(&fresh, 1);
  if (rows > 0) {
    const uint32_t first = 0;
    catalog.Remove(&first, 1);
  }
  for (size_t v = 0; v < catalog.vectors().size(); ++v) {
    std::vector<float> vector(catalog.vectors()[v].store->dim(), 0.5f);
    const uint8_t present = 1;
    catalog.SetVectors(static_cast<int>(v), &fresh, 1, vector.data(), &present);
    catalog.CatchUpIndex(kernels, static_cast<int>(v), 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fr::fuzz::Reader in(data, size);
  const uint8_t mode = in.Byte();
  VectorSpec specs[3] = {{"a", 5, fr::Dtype::kF32}, {"b", 12, fr::Dtype::kF16}, {"c", 7, fr::Dtype::kI8}};
  if (mode & 1) {
    for (VectorSpec& spec : specs) {
      spec.dim = in.U32();
      spec.dtype = static_cast<fr::Dtype>(in.Byte() % 3);
    }
  }
  fr::Catalog catalog;
  try {
    for (const VectorSpec& spec : specs) catalog.AddVector(spec.name, spec.dim, spec.dtype);
    catalog.AddField("n", fr::FieldKind::kNumber);
    catalog.AddField("t", fr::FieldKind::kTime);
    catalog.AddField("k", fr::FieldKind::kCategory);
    catalog.AddField("o", fr::FieldKind::kBool);
    catalog.AddField("g", fr::FieldKind::kTags);
  } catch (const fr::Error& e) {
    fr::fuzz::ExpectCode(e, {"ERR_FUSIONRANK_INVALID_DIM", "ERR_FUSIONRANK_DUPLICATE_NAME"});
    return 0;
  }
  std::vector<std::vector<uint8_t>> sections;
  for (int i = 0; i < 14; ++i) sections.push_back(in.Section());
  std::vector<float> scales;
  std::vector<double> numbers, times;
  std::vector<int32_t> category, flags;
  std::vector<uint32_t> tags, dictionaries;
  if (!fr::fuzz::AsArray(sections[7], &scales) || !fr::fuzz::AsArray(sections[8], &numbers) ||
      !fr::fuzz::AsArray(sections[9], &times) || !fr::fuzz::AsArray(sections[10], &category) ||
      !fr::fuzz::AsArray(sections[11], &flags) || !fr::fuzz::AsArray(sections[12], &tags))
    return 0;
  fr::fuzz::AsArray(sections[13], &dictionaries);
  const int64_t category_size = dictionaries.size() > 0 ? int64_t(dictionaries[0]) : -1;
  const int64_t tag_size = dictionaries.size() > 1 ? int64_t(dictionaries[1]) : -1;
  try {
    catalog.ImportAlive(sections[0].data(), sections[0].size());
    for (int v = 0; v < 3; ++v) {
      const auto& bytes = sections[1 + 2 * v];
      const auto& present = sections[2 + 2 * v];
      catalog.ImportVector(fr::fuzz::Kernels(), v, bytes.data(), bytes.size(), present.data(), present.size(),
                           v == 2 ? scales.data() : nullptr, v == 2 ? scales.size() : 0);
    }
    catalog.ImportNumbers(0, numbers.data(), numbers.size());
    catalog.ImportNumbers(1, times.data(), times.size());
    catalog.ImportCodes(2, category.data(), category.size(), category_size);
    catalog.ImportCodes(3, flags.data(), flags.size(), -1);
    catalog.ImportTags(4, tags.data(), tags.size(), tag_size);
  } catch (const fr::Error& e) {
    fr::fuzz::ExpectCode(e, {"ERR_FUSIONRANK_CORRUPT"});
    return 0;
  }
  Exercise(catalog);
  return 0;
}
