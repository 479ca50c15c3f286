// Tests for the rounds' shared replies (server/reply_caches.h): a dense
// piece is copied once a round for as many waiters as the round had
// contributors, a waiter beyond those (a repeated push) copies its own, a
// reader of an older round neither takes nor disturbs the newer round's
// copies, and a copy that cannot be made (revoked lease) is not kept.
#include "server/reply_caches.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

namespace cddp::server {
namespace {

std::shared_ptr<const RoundResult> Round(uint64_t open_round,
                                         uint32_t contributors) {
  auto r = std::make_shared<RoundResult>();
  r->open_round = open_round;
  r->contributors = contributors;
  return r;
}

// A build that counts its calls and writes `tag` as the piece's offset.
struct CountingBuild {
  int calls = 0;
  bool ok = true;
  uint64_t tag = 0;
  bool operator()(proto::ReplyPieceMessage* piece) {
    ++calls;
    piece->offset = tag;
    return ok;
  }
};

TEST(DenseReplyCacheTest, EachPieceIsCopiedOnceForTheRoundsContributors) {
  DenseReplyCache cache;
  const auto round = Round(1, 3);
  CountingBuild build{.tag = 7};
  for (size_t index : {0u, 1u}) {
    const auto first = cache.Get(round, index, std::ref(build));
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(cache.Get(round, index, std::ref(build)), first);
    EXPECT_EQ(cache.Get(round, index, std::ref(build)), first);
    EXPECT_EQ(first->offset, 7u);
  }
  EXPECT_EQ(build.calls, 2);
  // A fourth waiter (a repeated push) gets a copy of its own.
  const auto extra = cache.Get(round, 0, std::ref(build));
  ASSERT_NE(extra, nullptr);
  EXPECT_EQ(build.calls, 3);
}

TEST(DenseReplyCacheTest, AnOlderRoundsReaderCopiesItsOwn) {
  DenseReplyCache cache;
  const auto older = Round(1, 2), newer = Round(2, 2);
  CountingBuild new_build{.tag = 2}, old_build{.tag = 1};
  const auto piece = cache.Get(newer, 0, std::ref(new_build));
  const auto old_piece = cache.Get(older, 0, std::ref(old_build));
  ASSERT_NE(old_piece, nullptr);
  EXPECT_EQ(old_piece->offset, 1u);
  // The newer round's copy is still there for its second waiter.
  EXPECT_EQ(cache.Get(newer, 0, std::ref(new_build)), piece);
  EXPECT_EQ(new_build.calls, 1);
  EXPECT_EQ(old_build.calls, 1);
}

TEST(DenseReplyCacheTest, AFailedCopyIsNotKept) {
  DenseReplyCache cache;
  const auto round = Round(1, 2);
  CountingBuild revoked{.ok = false}, fine{.tag = 3};
  EXPECT_EQ(cache.Get(round, 0, std::ref(revoked)), nullptr);
  const auto piece = cache.Get(round, 0, std::ref(fine));
  ASSERT_NE(piece, nullptr);
  EXPECT_EQ(piece->offset, 3u);
  EXPECT_EQ(cache.Get(round, 0, std::ref(fine)), piece);
  EXPECT_EQ(fine.calls, 1);
}

TEST(DenseReplyCacheTest, ANewRoundStartsAfresh) {
  DenseReplyCache cache;
  CountingBuild build;
  const auto first = Round(1, 1), second = Round(2, 1);
  ASSERT_NE(cache.Get(first, 0, std::ref(build)), nullptr);
  ASSERT_NE(cache.Get(second, 0, std::ref(build)), nullptr);
  EXPECT_EQ(build.calls, 2);
}

}  // namespace
}  // namespace cddp::server
