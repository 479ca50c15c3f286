#include "common/compress/sparse.h"

#include <string>

#include "common/check.h"
#include "common/compress/float_formats.h"

namespace cddp::common {

size_t BytesPerValue(ValueType type) {
  return type == ValueType::kFp32 ? 4 : 2;
}

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kFp32:
      return "fp32";
    case ValueType::kFp16:
      return "fp16";
    case ValueType::kBf16:
      return "bf16";
  }
  return "unknown";
}

std::string_view IndexEncodingName(IndexEncoding encoding) {
  switch (encoding) {
    case IndexEncoding::kAbsoluteU32:
      return "absolute-u32";
    case IndexEncoding::kDeltaVarint:
      return "delta-varint";
    case IndexEncoding::kDense:
      return "dense";
  }
  return "unknown";
}

absl::StatusOr<ValueType> ParseValueType(std::string_view name) {
  if (name == "fp32") return ValueType::kFp32;
  if (name == "fp16") return ValueType::kFp16;
  if (name == "bf16") return ValueType::kBf16;
  return absl::InvalidArgumentError(
      "value type must be fp32, fp16 or bf16, got '" + std::string(name) + "'");
}

absl::StatusOr<IndexEncoding> ParseIndexEncoding(std::string_view name) {
  if (name == "delta") return IndexEncoding::kDeltaVarint;
  if (name == "absolute") return IndexEncoding::kAbsoluteU32;
  return absl::InvalidArgumentError(
      "index encoding must be delta or absolute, got '" + std::string(name) +
      "'");
}

void ScatterAdd(const SparseSelection& s, std::span<float> dense) {
  CDDP_CHECK(s.indices.size() == s.values.size());
  for (size_t i = 0; i < s.indices.size(); ++i) {
    CDDP_CHECK(s.indices[i] < dense.size());
    dense[s.indices[i]] += s.values[i];
  }
}

std::vector<float> Densify(const SparseSelection& s, size_t n) {
  std::vector<float> dense(n, 0.0f);
  ScatterAdd(s, dense);
  return dense;
}

}  // namespace cddp::common
