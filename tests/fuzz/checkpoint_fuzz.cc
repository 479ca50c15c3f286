// Shard checkpoint records (server/shard/shard_checkpoint.h) from arbitrary
// bytes: as a whole file (the record's magic, checksums and size checks
// come first), and as the payload of a well-formed record of each version
// the decoder reads, which reaches the field decoding behind the checksums.
// Whatever decodes encodes back to a record that decodes to the same
// checkpoint.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "common/record_file.h"
#include "server/shard/shard_checkpoint.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using cddp::fuzz::Check;
using cddp::fuzz::SameBits;

using cddp::server::ShardCheckpoint;

void RoundTrip(const ShardCheckpoint& c) {
  auto again = cddp::server::DecodeShardCheckpoint(EncodeShardCheckpoint(c));
  Check(again.ok(), "an encoded checkpoint does not decode");
  Check(again->shard_index == c.shard_index &&
            again->num_shards == c.num_shards &&
            again->num_workers == c.num_workers && again->step == c.step &&
            again->layout.tensor_sizes == c.layout.tensor_sizes &&
            SameBits(again->values, c.values) &&
            SameBits(again->workers_copy, c.workers_copy) &&
            again->rule_state.steps == c.rule_state.steps &&
            again->rule_state.fields.size() == c.rule_state.fields.size(),
        "the round trip changed the checkpoint");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  // The first byte: the whole file, or a payload in a record of version
  // 1..3 (the kind the decoder expects, "SHRD").
  const uint32_t mode = data[0] % 4;
  const std::string file = mode == 0
                               ? std::string(bytes)
                               : cddp::common::MakeRecord("SHRD", mode, bytes);
  auto c = cddp::server::DecodeShardCheckpoint(file);
  if (c.ok()) RoundTrip(*c);
  return 0;
}
