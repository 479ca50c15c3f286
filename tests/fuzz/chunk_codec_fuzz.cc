// The chunk decoder (common/wire/wire_codec.h) on arbitrary bytes, and the
// codec round trip: whatever DecodeChunk accepts obeys the codec's rules
// (count pairs, indices strictly ascending inside the range, finite
// values), encodes back to the size EncodedSize says, and decodes again to
// the same pairs. DecodeChunkAppend leaves its output as it was when it
// refuses a chunk.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/compress/sparse.h"
#include "common/wire/wire_codec.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using cddp::fuzz::Check;
using cddp::fuzz::SameBits;

using cddp::common::EncodedChunkView;
using cddp::common::IndexEncoding;
using cddp::common::SparseSelection;
using cddp::common::ValueType;

bool SamePairs(const SparseSelection& a, const SparseSelection& b) {
  return a.indices == b.indices && SameBits(a.values, b.values);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cddp::fuzz::FuzzInput in(data, size);
  EncodedChunkView chunk;
  chunk.value_type = in.Int<uint8_t>() % 5;  // 1..3 valid; 0, 4 refused
  chunk.index_encoding = in.Int<uint8_t>() % 5;
  chunk.count = in.Int<uint32_t>() % 4096;
  const uint32_t range = in.Int<uint32_t>() % (1u << 20);
  chunk.indices = in.Bytes();
  chunk.values = in.Rest();

  SparseSelection out;
  if (!cddp::common::DecodeChunk(chunk, range, &out).ok()) {
    // A refused chunk appends nothing to what a buffer held.
    SparseSelection held;
    held.indices = {7};
    held.values = {1.5f};
    const SparseSelection before = held;
    Check(!cddp::common::DecodeChunkAppend(chunk, range, &held).ok(),
          "DecodeChunkAppend accepted what DecodeChunk refused");
    Check(SamePairs(held, before), "a refused append changed its output");
    return 0;
  }
  Check(out.size() == chunk.count, "decoded count differs");
  for (size_t k = 0; k < out.size(); ++k) {
    Check(out.indices[k] < range, "index outside the range");
    Check(k == 0 || out.indices[k] > out.indices[k - 1], "not ascending");
    Check(std::isfinite(out.values[k]), "a non-finite value was accepted");
  }
  const auto vt = static_cast<ValueType>(chunk.value_type);
  const auto ie = static_cast<IndexEncoding>(chunk.index_encoding);
  std::string indices, values;
  Check(cddp::common::EncodeChunk(out, vt, ie, &indices, &values).ok(),
        "re-encoding a decoded chunk failed");
  Check(
      indices.size() + values.size() == cddp::common::EncodedSize(out, vt, ie),
      "EncodedSize disagrees with EncodeChunk");
  SparseSelection again;
  Check(cddp::common::DecodeChunk({chunk.count, chunk.value_type,
                                   chunk.index_encoding, indices, values},
                                  range, &again)
            .ok(),
        "the re-encoded chunk does not decode");
  Check(SamePairs(out, again), "the round trip changed the pairs");
  return 0;
}
