// LentSlices counts the slices gRPC holds of memory lent to it: a slice
// and its copies are one hold, released when the last of them goes; a
// wait ends when none is held, or times out while one is.
#include "worker/client/lent_slices.h"

#include <optional>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/support/slice.h"
#include "gtest/gtest.h"

namespace cddp::worker {
namespace {

TEST(LentSlicesTest, CountsEachSliceUntilItsLastCopyGoes) {
  LentSlices lent;
  const std::vector<float> values = {1.0f, 2.0f, 3.0f};
  EXPECT_EQ(lent.held(), 0u);
  EXPECT_TRUE(lent.WaitReleased(absl::ZeroDuration()));
  std::optional<grpc::Slice> a(lent.Lend(values.data(), 12));
  EXPECT_EQ(a->size(), 12u);
  EXPECT_EQ(static_cast<const void*>(a->begin()),
            static_cast<const void*>(values.data()));  // not a copy
  std::optional<grpc::Slice> copy(*a);
  grpc::Slice b = lent.Lend(values.data() + 1, 8);
  EXPECT_EQ(lent.held(), 2u);
  a.reset();
  EXPECT_EQ(lent.held(), 2u);  // its copy still holds it
  EXPECT_FALSE(lent.WaitReleased(absl::Milliseconds(10)));
  copy.reset();
  b = grpc::Slice();
  EXPECT_EQ(lent.held(), 0u);
  EXPECT_TRUE(lent.WaitReleased(absl::ZeroDuration()));
}

TEST(LentSlicesTest, AWaitEndsWhenAnotherThreadReleases) {
  LentSlices lent;
  const float value = 1.0f;
  std::optional<grpc::Slice> slice(lent.Lend(&value, sizeof(value)));
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(20));
    slice.reset();
  });
  EXPECT_TRUE(lent.WaitReleased(absl::InfiniteDuration()));
  releaser.join();
}

TEST(LentSlicesTest, ASliceMayOutliveItsLender) {
  const float value = 1.0f;
  std::optional<grpc::Slice> slice;
  {
    LentSlices lent;
    slice.emplace(lent.Lend(&value, sizeof(value)));
  }
  slice.reset();  // the count it releases is still there
}

}  // namespace
}  // namespace cddp::worker
