// The sparse-vector vocabulary shared by the compression core, the codec and
// the server: a selection of (index, value) pairs, and the wire value and
// index formats.
#ifndef CDDP_COMMON_COMPRESS_SPARSE_H_
#define CDDP_COMMON_COMPRESS_SPARSE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/compress/compression_types.h"  // ValueType, RoundToValueType

namespace cddp::common {

// Index layout on the wire (mirrors cddp.v1.IndexEncoding).
enum class IndexEncoding { kAbsoluteU32 = 1, kDeltaVarint = 2, kDense = 3 };

size_t BytesPerValue(ValueType type);
std::string_view ValueTypeName(ValueType type);
std::string_view IndexEncodingName(IndexEncoding encoding);

// Parse the user-facing names: "fp32" | "fp16" | "bf16", and "delta" |
// "absolute". INVALID_ARGUMENT naming the accepted values otherwise.
absl::StatusOr<ValueType> ParseValueType(std::string_view name);
absl::StatusOr<IndexEncoding> ParseIndexEncoding(std::string_view name);

// (index, value) pairs; indices strictly ascending.
struct SparseSelection {
  std::vector<uint32_t> indices;
  std::vector<float> values;

  size_t size() const { return indices.size(); }
  void clear() {
    indices.clear();
    values.clear();
  }
  // Appends `other`'s pairs after these (still ascending only if other's
  // first index is above this one's last).
  void Append(const SparseSelection& other) {
    indices.insert(indices.end(), other.indices.begin(), other.indices.end());
    values.insert(values.end(), other.values.begin(), other.values.end());
  }
};

// dense[indices[i]] += values[i]. Requires every index < dense.size().
void ScatterAdd(const SparseSelection& s, std::span<float> dense);
// A dense vector of size n holding `s` and zeros elsewhere.
std::vector<float> Densify(const SparseSelection& s, size_t n);

}  // namespace cddp::common

#endif  // CDDP_COMMON_COMPRESS_SPARSE_H_
