// Tests for applying a shard's sparse reply: every entry lands where the
// codec says (through the prefetching write loop, for sizes around its
// look-ahead), new values replace and deltas add, and malformed replies are
// DATA_LOSS naming the rule.
#include "worker/client/sparse_apply.h"

#include <gtest/gtest.h>

#include <random>
#include <span>
#include <string>
#include <vector>

#include "common/wire/wire_codec.h"
#include "proto/wire_adapter.h"

namespace cddp::worker {
namespace {

cddp::v1::SparseChunk Chunk(
    const common::SparseSelection& s,
    common::IndexEncoding encoding = common::IndexEncoding::kDeltaVarint,
    common::ValueType type = common::ValueType::kFp32) {
  cddp::v1::SparseChunk c;
  c.set_count(static_cast<uint32_t>(s.size()));
  c.set_value_type(static_cast<cddp::v1::ValueType>(type));
  c.set_index_encoding(static_cast<cddp::v1::IndexEncoding>(encoding));
  EXPECT_TRUE(common::EncodeChunk(s, type, encoding, c.mutable_indices(),
                                  c.mutable_values())
                  .ok());
  return c;
}

absl::Status ApplySparseUpdate(const cddp::v1::SparseChunk& c,
                               std::span<float> range,
                               UpdateKind kind = UpdateKind::kNewValues) {
  return worker::ApplySparseUpdate(proto::ChunkView(c), kind, range);
}

common::SparseSelection Random(size_t n, uint32_t range, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint32_t> pick(0, range - 1);
  std::vector<char> used(range, 0);
  common::SparseSelection s;
  while (s.size() < n) {
    const uint32_t i = pick(rng);
    if (!used[i]) used[i] = 1, s.indices.push_back(i);
  }
  std::sort(s.indices.begin(), s.indices.end());
  for (size_t k = 0; k < n; ++k)
    s.values.push_back(static_cast<float>(k) + 0.5f);
  return s;
}

TEST(SparseApplyTest, SetsExactlyTheEntriesOfTheReply) {
  for (size_t n : {0u, 1u, 127u, 128u, 129u, 1000u, 5000u}) {
    const uint32_t range = 10000;
    const common::SparseSelection s = Random(n, range, n + 1);
    for (auto encoding : {common::IndexEncoding::kDeltaVarint,
                          common::IndexEncoding::kAbsoluteU32}) {
      std::vector<float> got(range, -1.0f), want(range, -1.0f);
      for (size_t k = 0; k < n; ++k) want[s.indices[k]] = s.values[k];
      ASSERT_TRUE(ApplySparseUpdate(Chunk(s, encoding), got).ok()) << n;
      EXPECT_EQ(got, want) << n;
    }
  }
}

TEST(SparseApplyTest, DeltasAddToExactlyTheEntriesOfTheReply) {
  for (size_t n : {0u, 1u, 129u, 5000u}) {
    const uint32_t range = 10000;
    const common::SparseSelection s = Random(n, range, n + 7);
    for (auto encoding : {common::IndexEncoding::kDeltaVarint,
                          common::IndexEncoding::kAbsoluteU32}) {
      for (auto type : {common::ValueType::kFp32, common::ValueType::kFp16}) {
        std::vector<float> got(range), want(range);
        for (uint32_t i = 0; i < range; ++i) got[i] = want[i] = 0.25f * i;
        for (size_t k = 0; k < n; ++k) {
          want[s.indices[k]] += common::RoundToValueType(s.values[k], type);
        }
        ASSERT_TRUE(ApplySparseUpdate(Chunk(s, encoding, type), got,
                                      UpdateKind::kDeltas)
                        .ok())
            << n;
        EXPECT_EQ(got, want) << n;
      }
    }
  }
}

TEST(SparseApplyTest, MalformedRepliesAreDataLoss) {
  const common::SparseSelection s = Random(300, 1000, 3);
  std::vector<float> range(1000);
  auto expect_loss = [&](const cddp::v1::SparseChunk& c,
                         const std::string& rule) {
    const absl::Status st = ApplySparseUpdate(c, range);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
    EXPECT_NE(std::string(st.message()).find(rule), std::string::npos) << st;
  };
  cddp::v1::SparseChunk c = Chunk(s);
  std::vector<float> small(500);
  EXPECT_EQ(ApplySparseUpdate(c, small).code(), absl::StatusCode::kDataLoss);
  cddp::v1::SparseChunk cut = c;
  cut.mutable_indices()->pop_back();
  expect_loss(cut, "indices");
  cddp::v1::SparseChunk extra = c;
  extra.mutable_indices()->push_back('\x01');
  expect_loss(extra, "left after");
  cddp::v1::SparseChunk nan = c;
  const float bad = std::numeric_limits<float>::quiet_NaN();
  nan.mutable_values()->replace(8, 4, reinterpret_cast<const char*>(&bad), 4);
  expect_loss(nan, "not finite");
  cddp::v1::SparseChunk short_values = c;
  short_values.mutable_values()->resize(8);
  expect_loss(short_values, "values need");
  cddp::v1::SparseChunk duplicate = c;
  (*duplicate.mutable_indices())[1] = '\0';  // a gap of 0
  expect_loss(duplicate, "not strictly increasing");
}

}  // namespace
}  // namespace cddp::worker
