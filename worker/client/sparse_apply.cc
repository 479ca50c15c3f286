#include "worker/client/sparse_apply.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/compress/sparse.h"
#include "common/wire/wire_codec.h"

namespace cddp::worker {
namespace {

absl::Status Bad(const std::string& why) {
  return absl::DataLossError(absl::StrCat("malformed sparse reply: ", why));
}

}  // namespace

absl::Status ApplySparseUpdate(const common::EncodedChunkView& u,
                               UpdateKind kind, std::span<float> range) {
  const bool add = kind == UpdateKind::kDeltas;
  if (u.value_type != static_cast<int>(common::ValueType::kFp32) ||
      u.index_encoding !=
          static_cast<int>(common::IndexEncoding::kDeltaVarint)) {
    common::SparseSelection s;
    absl::Status st =
        common::DecodeChunk(u, static_cast<uint32_t>(range.size()), &s);
    if (!st.ok()) return Bad(std::string(st.message()));
    for (size_t k = 0; k < s.size(); ++k) {
      float& x = range[s.indices[k]];
      x = add ? x + s.values[k] : s.values[k];
    }
    return absl::OkStatus();
  }
  const uint32_t count = u.count;
  if (u.values.size() != uint64_t{count} * 4) {
    return Bad(absl::StrCat(count, " values need ", uint64_t{count} * 4,
                            " bytes, got ", u.values.size()));
  }
  if (!common::AllFiniteFp32(u.values)) return Bad("value not finite");
  // The writes land on scattered cache lines, bound by the misses. Each
  // index is prefetched into L2 as soon as it is decoded and written
  // kAhead indices later: L2 tracks many more outstanding misses than L1,
  // so they overlap (bench/codec_bench.cc BM_ApplyReply).
  constexpr uint32_t kAhead = 128;  // a power of two
  uint32_t pending[kAhead];
  const char* values = u.values.data();
  float* out = range.data();
  const auto write = [&](uint32_t k) {
    float v;
    std::memcpy(&v, values + 4 * size_t{k}, 4);
    float& x = out[pending[k % kAhead]];
    x = add ? x + v : v;
  };
  const bool ok = common::ForEachDeltaVarintIndex(
      u.indices, count, static_cast<uint32_t>(range.size()),
      [&](uint32_t k, uint32_t index) {
        __builtin_prefetch(&out[index], 1, 1);
        if (k >= kAhead) write(k - kAhead);
        pending[k % kAhead] = index;
      });
  if (!ok) {
    common::SparseSelection ignored;  // names the broken rule
    absl::Status st =
        common::DecodeChunk(u, static_cast<uint32_t>(range.size()), &ignored);
    return Bad(st.ok() ? std::string("indices malformed")
                       : std::string(st.message()));
  }
  for (uint32_t k = count > kAhead ? count - kAhead : 0; k < count; ++k) {
    write(k);
  }
  return absl::OkStatus();
}

absl::Status ApplySparseUpdate(const proto::ReplyPieceMessage& piece,
                               std::span<float> range) {
  const proto::ChunkFields& c = piece.sparse_update;
  std::string indices, values;  // used only if a field came in parts
  return ApplySparseUpdate(
      common::EncodedChunkView{c.count, c.value_type, c.index_encoding,
                               c.indices.Contiguous(&indices),
                               c.values.Contiguous(&values)},
      piece.delta ? UpdateKind::kDeltas : UpdateKind::kNewValues, range);
}

}  // namespace cddp::worker
