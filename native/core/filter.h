// A metadata filter compiled once into a small tree over catalog columns and
// evaluated per row in the core (during graph search and exact scans).
#pragma once
#include <cstdint>
#include <limits>
#include <vector>

#include "catalog.h"

namespace fr {

struct FilterNode {
  enum class Op { kTrue, kFalse, kAnd, kOr, kNot, kRange, kCodeIn, kTagsAny, kTagsAll, kExists, kHasVector };
  Op op = Op::kTrue;
  int column = -1;  // field index, or vector index for kHasVector
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  std::vector<uint8_t> codes;  // kCodeIn: membership by code
  std::vector<uint32_t> tags;  // kTagsAny / kTagsAll: sorted codes
  std::vector<FilterNode> children;
};

// Throws fr::Error when the tree refers to a column of the wrong kind.
void ValidateFilter(const Catalog& catalog, const FilterNode& node);
bool Matches(const Catalog& catalog, const FilterNode& node, uint32_t row);

}  // namespace fr
