// A push in pieces (common/wire/push_pieces.h) from arbitrary pieces: the
// assembler never holds pairs that break the rules of a one-message chunk
// (indices strictly ascending within the range, finite values), a refused
// piece appends nothing, and the same pieces give the same digest.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common/wire/push_pieces.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using cddp::fuzz::Check;
using cddp::fuzz::SameBits;

using cddp::common::EncodedChunkView;
using cddp::common::PushAssembler;

struct Piece {
  EncodedChunkView chunk;
  uint64_t offset;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cddp::fuzz::FuzzInput in(data, size);
  const uint32_t range = in.Int<uint16_t>();
  std::vector<Piece> pieces;
  while (!in.empty() && pieces.size() < 64) {
    Piece p;
    p.chunk.value_type = in.Int<uint8_t>() % 5;
    p.chunk.index_encoding = in.Int<uint8_t>() % 5;
    p.chunk.count = in.Int<uint16_t>();
    p.offset = in.Int<uint32_t>() % (uint64_t{range} + 2);
    p.chunk.indices = in.Bytes(8192);
    p.chunk.values = in.Bytes(16384);
    pieces.push_back(p);
  }
  PushAssembler a(range, {});
  PushAssembler twin(range, {});
  for (const Piece& p : pieces) {
    const size_t before = a.pairs().size();
    const bool ok = a.Add(p.chunk, p.offset).ok();
    Check(ok == twin.Add(p.chunk, p.offset).ok(), "same piece, other outcome");
    if (!ok) {
      Check(a.pairs().size() == before, "a refused piece appended pairs");
      continue;
    }
    Check(a.pairs().size() == before + p.chunk.count, "pairs miscounted");
  }
  const auto& pairs = a.pairs();
  Check(pairs.indices.size() == pairs.values.size(), "sizes differ");
  for (size_t k = 0; k < pairs.size(); ++k) {
    Check(pairs.indices[k] < range, "index outside the range");
    Check(k == 0 || pairs.indices[k] > pairs.indices[k - 1], "not ascending");
    Check(std::isfinite(pairs.values[k]), "a non-finite value was taken");
  }
  Check(a.digest() == twin.digest(), "same pieces, other digest");
  return 0;
}
