#include "worker/sparse_apply.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/sparse.h"
#include "common/wire_codec.h"

namespace cddp::worker {
namespace {

absl::Status Bad(const std::string& why) {
  return absl::DataLossError(absl::StrCat("malformed sparse reply: ", why));
}

}  // namespace

absl::Status ApplySparseUpdate(const cddp::v1::SparseChunk& u,
                               std::span<float> range) {
  if (u.value_type() != cddp::v1::VALUE_TYPE_FP32 ||
      u.index_encoding() != cddp::v1::INDEX_ENCODING_DELTA_VARINT) {
    common::SparseSelection s;
    absl::Status st = common::DecodeChunk(
        {u.count(), u.value_type(), u.index_encoding(), u.indices(),
         u.values()},
        static_cast<uint32_t>(range.size()), &s);
    if (!st.ok()) return Bad(std::string(st.message()));
    for (size_t k = 0; k < s.size(); ++k) range[s.indices[k]] = s.values[k];
    return absl::OkStatus();
  }
  const uint32_t count = u.count();
  if (u.values().size() != uint64_t{count} * 4) {
    return Bad(absl::StrCat(count, " values need ", uint64_t{count} * 4,
                            " bytes, got ", u.values().size()));
  }
  const auto* p = reinterpret_cast<const uint8_t*>(u.indices().data());
  const auto* end = p + u.indices().size();
  const char* values = u.values().data();
  uint64_t index = 0;
  for (uint32_t k = 0; k < count; ++k) {
    uint64_t v = 0;
    int shift = 0;
    while (true) {
      if (p == end) return Bad("indices end early");
      const uint8_t byte = *p++;
      v |= uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) break;
      shift += 7;
      if (shift >= 35) return Bad("varint longer than 5 bytes");
    }
    if (k > 0 && v == 0) return Bad("indices not strictly increasing");
    index = k == 0 ? v : index + v;
    if (index >= range.size()) {
      return Bad(absl::StrCat("index ", index, " out of range ", range.size()));
    }
    float value;
    std::memcpy(&value, values + 4 * size_t{k}, 4);
    if (!std::isfinite(value)) return Bad("value not finite");
    range[index] = value;
  }
  if (p != end) return Bad("bytes left after the indices");
  return absl::OkStatus();
}

}  // namespace cddp::worker
