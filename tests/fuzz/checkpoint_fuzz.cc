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

#include "server/shard/shard_checkpoint.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/fuzz/record_input.h"

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
  cddp::fuzz::FuzzInput in(data, size);
  // The whole file, or a payload in a record of version 1..3 of the kind
  // the decoder expects, "SHRD".
  const uint8_t mode = in.Int<uint8_t>();
  const std::string file = cddp::fuzz::RecordFile(mode, "SHRD", 3, in.Rest());
  auto c = cddp::server::DecodeShardCheckpoint(file);
  if (c.ok()) RoundTrip(*c);
  return 0;
}
