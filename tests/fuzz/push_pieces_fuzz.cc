// A push in pieces (common/wire/push_pieces.h) from arbitrary pieces: the
// assembler never holds pairs that break the rules of a one-message chunk
// (indices strictly ascending within the range, finite values), a refused
// piece appends nothing, and the same pieces give the same digest. A twin
// takes the same pieces as the server does, their bytes in two parts, in a
// recycled buffer (a whole-range push's, or stale pairs), and must agree on
// every outcome, pair and digest.
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "common/wire/push_pieces.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using cddp::fuzz::Check;
using cddp::fuzz::SameBits;

using cddp::common::ChunkParts;
using cddp::common::EncodedChunkView;
using cddp::common::PushAssembler;
using cddp::common::RecycledPush;

struct Piece {
  EncodedChunkView chunk;
  uint64_t offset;
};

// The buffer the twin assembles in, picked by the range: none, a
// whole-range push's (indices 0..range-1, known), or stale pairs.
RecycledPush Recycled(uint32_t range) {
  RecycledPush r;
  if (range % 3 == 0) return r;
  for (uint32_t i = 0; i < range; ++i) {
    r.pairs.indices.push_back(range % 3 == 1 ? i : range - i);
    r.pairs.values.push_back(-1.0f);
  }
  r.ascending_prefix = range % 3 == 1 ? range : 0;
  return r;
}

// `bytes` in two parts, cut where `at` says.
std::array<std::string_view, 2> Cut(std::string_view bytes, size_t at) {
  at %= bytes.size() + 1;
  return {bytes.substr(0, at), bytes.substr(at)};
}

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
  PushAssembler twin(range, Recycled(range));
  for (const Piece& p : pieces) {
    const size_t before = a.size();
    const bool ok = a.Add(p.chunk, p.offset).ok();
    const auto indices = Cut(p.chunk.indices, p.chunk.count);
    const auto values = Cut(p.chunk.values, 7 * size_t{p.chunk.count});
    const ChunkParts parts{p.chunk.count, p.chunk.value_type,
                           p.chunk.index_encoding, indices, values};
    Check(ok == twin.Add(parts, p.offset).ok(), "same piece, other outcome");
    Check(a.size() == twin.size(), "the twin holds other pairs");
    if (!ok) {
      Check(a.size() == before, "a refused piece appended pairs");
      continue;
    }
    Check(a.size() == before + p.chunk.count, "pairs miscounted");
  }
  const uint64_t digest = a.digest();
  const auto pairs = a.Take();
  const auto twin_pairs = twin.Take();
  Check(pairs.indices == twin_pairs.indices, "the twin's indices differ");
  Check(SameBits(pairs.values, twin_pairs.values), "the twin's values differ");
  Check(pairs.indices.size() == pairs.values.size(), "sizes differ");
  for (size_t k = 0; k < pairs.size(); ++k) {
    Check(pairs.indices[k] < range, "index outside the range");
    Check(k == 0 || pairs.indices[k] > pairs.indices[k - 1], "not ascending");
    Check(std::isfinite(pairs.values[k]), "a non-finite value was taken");
  }
  Check(digest == twin.digest(), "same pieces, other digest");
  return 0;
}
