#include "filter.h"

#include <algorithm>
#include <string>

#include "error.h"

namespace fr {

static void Bad(const std::string& message) {
  throw Error(ErrorKind::kRangeError, "ERR_FUSIONRANK_INVALID_FILTER", message);
}

void ValidateFilter(const Catalog& catalog, const FilterNode& node) {
  const auto& fields = catalog.fields();
  auto field = [&](FieldKind a, FieldKind b) {
    if (node.column < 0 || size_t(node.column) >= fields.size()) Bad("Filter refers to an unknown field");
    const FieldKind kind = fields[node.column].kind;
    if (kind != a && kind != b) Bad("Filter on field '" + fields[node.column].name + "' has the wrong kind");
  };
  switch (node.op) {
    case FilterNode::Op::kRange: field(FieldKind::kNumber, FieldKind::kTime); break;
    case FilterNode::Op::kCodeIn: field(FieldKind::kCategory, FieldKind::kBool); break;
    case FilterNode::Op::kTagsAny:
    case FilterNode::Op::kTagsAll: field(FieldKind::kTags, FieldKind::kTags); break;
    case FilterNode::Op::kExists:
      if (node.column < 0 || size_t(node.column) >= fields.size()) Bad("Filter refers to an unknown field");
      break;
    case FilterNode::Op::kHasVector:
      if (node.column < 0 || size_t(node.column) >= catalog.vectors().size()) Bad("Filter refers to an unknown vector");
      break;
    case FilterNode::Op::kNot:
      if (node.children.size() != 1) Bad("'not' takes exactly one filter");
      break;
    default: break;
  }
  for (const auto& child : node.children) ValidateFilter(catalog, child);
}

bool Matches(const Catalog& catalog, const FilterNode& node, uint32_t row) {
  switch (node.op) {
    case FilterNode::Op::kTrue: return true;
    case FilterNode::Op::kFalse: return false;
    case FilterNode::Op::kAnd:
      for (const auto& child : node.children)
        if (!Matches(catalog, child, row)) return false;
      return true;
    case FilterNode::Op::kOr:
      for (const auto& child : node.children)
        if (Matches(catalog, child, row)) return true;
      return false;
    case FilterNode::Op::kNot: return !Matches(catalog, node.children[0], row);
    case FilterNode::Op::kRange: {
      const double v = catalog.fields()[node.column].numbers[row];
      if (std::isnan(v)) return false;  // a missing value matches no range
      if (node.lo_open ? !(v > node.lo) : !(v >= node.lo)) return false;
      if (node.hi_open ? !(v < node.hi) : !(v <= node.hi)) return false;
      return true;
    }
    case FilterNode::Op::kCodeIn: {
      const int32_t code = catalog.fields()[node.column].codes[row];
      return code >= 0 && size_t(code) < node.codes.size() && node.codes[code];
    }
    case FilterNode::Op::kTagsAny: {
      const auto& tags = catalog.fields()[node.column].tags[row];
      for (uint32_t t : tags)
        if (std::binary_search(node.tags.begin(), node.tags.end(), t)) return true;
      return false;
    }
    case FilterNode::Op::kTagsAll: {
      const auto& tags = catalog.fields()[node.column].tags[row];
      for (uint32_t t : node.tags)
        if (!std::binary_search(tags.begin(), tags.end(), t)) return false;
      return true;
    }
    case FilterNode::Op::kExists: return catalog.fields()[node.column].HasValue(row);
    case FilterNode::Op::kHasVector: return catalog.vectors()[node.column].present[row] != 0;
  }
  return false;
}

}  // namespace fr
