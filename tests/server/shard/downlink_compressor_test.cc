// The compressed downlink's selection against a plain reference: a full
// sort of master - copy by magnitude (ties to the lower index), the top k
// rounded and added to the copy. Fast path (sampled threshold) and exact
// path, every wire value type, over many rounds; zero differences and
// non-finite ones are never sent; nothing is lost over rounds.
#include "server/shard/downlink_compressor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "common/compress/float_formats.h"
#include "gtest/gtest.h"

namespace cddp::server {
namespace {

using common::ValueType;

// What Select must do, written the obvious way.
common::SparseSelection Reference(const std::vector<float>& master,
                                  std::vector<float>& copy, size_t k,
                                  ValueType type) {
  std::vector<uint32_t> order(master.size());
  std::iota(order.begin(), order.end(), 0u);
  std::vector<float> d(master.size());
  for (size_t i = 0; i < d.size(); ++i) d[i] = master[i] - copy[i];
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return std::fabs(d[a]) > std::fabs(d[b]);
  });
  order.resize(k);
  std::sort(order.begin(), order.end());
  common::SparseSelection out;
  for (uint32_t i : order) {
    const float sent = SaturatingRound(d[i], type);
    if (sent == 0.0f || !std::isfinite(sent)) continue;
    copy[i] += sent;
    out.indices.push_back(i);
    out.values.push_back(sent);
  }
  return out;
}

double SquaredDistance(const std::vector<float>& a,
                       const std::vector<float>& b) {
  double sq = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sq += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
  }
  return sq;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The master moves like an optimizer's values: a dense drift plus a few
// large jumps each round; the copy follows only by what is sent.
TEST(DownlinkCompressorTest, MatchesTheReferenceRoundAfterRound) {
  // 3000: every nonzero difference a candidate; 200000: a sampled threshold.
  for (size_t n : {3000u, 200000u}) {
    for (ValueType type :
         {ValueType::kFp32, ValueType::kFp16, ValueType::kBf16}) {
      SCOPED_TRACE(::testing::Message()
                   << "n=" << n << " type=" << static_cast<int>(type));
      std::mt19937 rng(static_cast<uint32_t>(n) + static_cast<int>(type));
      std::normal_distribution<float> noise(0.0f, 1e-3f);
      std::uniform_int_distribution<size_t> pick(0, n - 1);
      std::vector<float> master(n);
      for (float& x : master) x = noise(rng) * 100;
      std::vector<float> copy = master, want_copy = master;
      DownlinkCompressor compressor;
      common::SparseSelection got;
      const size_t k = n / 100;
      for (int round = 0; round < 8; ++round) {
        for (float& x : master) x += noise(rng);
        for (int j = 0; j < 20; ++j) master[pick(rng)] += 0.5f;
        const common::SparseSelection want =
            Reference(master, want_copy, k, type);
        const DownlinkRound r = compressor.Select(master, copy, k, type, &got);
        ASSERT_EQ(got.indices, want.indices) << "round " << round;
        ASSERT_TRUE(SameBits(got.values, want.values)) << "round " << round;
        ASSERT_TRUE(SameBits(copy, want_copy)) << "round " << round;
        EXPECT_EQ(r.sent, want.size());
        const double sq = SquaredDistance(master, copy);
        EXPECT_NEAR(r.residual_sq_norm, sq, 1e-3 * sq + 1e-9);
      }
    }
  }
}

// Error feedback: once the master stops moving, the copy catches up with
// it entirely, whatever k.
TEST(DownlinkCompressorTest, NothingIsLostOnlyDelayed) {
  const size_t n = 5000;
  std::mt19937 rng(3);
  std::normal_distribution<float> step(0.0f, 0.1f);
  std::vector<float> master(n, 0.0f), copy(n, 0.0f);
  for (float& x : master) x = step(rng);
  DownlinkCompressor compressor;
  common::SparseSelection sent;
  int rounds = 0;
  while (SquaredDistance(master, copy) > 0 && rounds < 1000) {
    compressor.Select(master, copy, 50, ValueType::kFp32, &sent);
    ++rounds;
  }
  EXPECT_TRUE(SameBits(master, copy)) << "after " << rounds << " rounds";
  EXPECT_EQ(rounds, 100);  // 5000 entries, 50 a round, each sent once
  // Nothing left: a further round sends nothing (no zero pairs).
  const DownlinkRound r =
      compressor.Select(master, copy, 50, ValueType::kFp32, &sent);
  EXPECT_EQ(sent.size(), 0u);
  EXPECT_EQ(r.sent, 0u);
  EXPECT_EQ(r.residual_sq_norm, 0.0);
}

TEST(DownlinkCompressorTest, FewerChangesThanKSendsOnlyTheChanges) {
  std::vector<float> master(100, 1.0f), copy(100, 1.0f);
  master[7] = 2.0f;
  master[42] = -1.0f;
  DownlinkCompressor compressor;
  common::SparseSelection sent;
  compressor.Select(master, copy, 10, ValueType::kFp32, &sent);
  EXPECT_EQ(sent.indices, (std::vector<uint32_t>{7, 42}));
  EXPECT_EQ(sent.values, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_TRUE(SameBits(master, copy));
}

TEST(DownlinkCompressorTest, NonFiniteDifferencesAreNeverSent) {
  std::vector<float> master(10, 0.0f), copy(10, 0.0f);
  master[2] = std::numeric_limits<float>::infinity();
  master[5] = std::numeric_limits<float>::quiet_NaN();
  master[8] = 3.0f;
  DownlinkCompressor compressor;
  common::SparseSelection sent;
  compressor.Select(master, copy, 3, ValueType::kFp32, &sent);
  EXPECT_EQ(sent.indices, (std::vector<uint32_t>{8}));
  EXPECT_EQ(copy[2], 0.0f);
  EXPECT_EQ(copy[5], 0.0f);
  EXPECT_EQ(copy[8], 3.0f);
}

TEST(DownlinkCompressorTest, SixteenBitValuesSaturateInsteadOfOverflowing) {
  EXPECT_EQ(SaturatingRound(1e6f, ValueType::kFp16), 65504.0f);
  EXPECT_EQ(SaturatingRound(-1e6f, ValueType::kFp16), -65504.0f);
  EXPECT_EQ(SaturatingRound(1.5f, ValueType::kFp16), 1.5f);
  EXPECT_TRUE(std::isfinite(
      SaturatingRound(std::numeric_limits<float>::max(), ValueType::kBf16)));
  // A difference too large for fp16 arrives over several rounds.
  std::vector<float> master = {200000.0f}, copy = {0.0f};
  DownlinkCompressor compressor;
  common::SparseSelection sent;
  for (int round = 0; round < 4; ++round) {
    compressor.Select(master, copy, 1, ValueType::kFp16, &sent);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_TRUE(std::isfinite(sent.values[0]));
  }
  EXPECT_NEAR(copy[0], 200000.0f, 64.0f);
}

}  // namespace
}  // namespace cddp::server
