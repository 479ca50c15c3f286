// CDDP_HAPPENS_BEFORE / CDDP_HAPPENS_AFTER: an annotated hand-off through
// synchronisation TSan cannot see is not reported, and the annotations hide
// nothing else: without them, or with a write after the release (a field
// written after the operation was started), TSan still reports the race.
// The hand-off is a pair of fences, which order the threads in C++ but which
// TSan does not model, as it cannot see gRPC's queues. The reporting tests
// run under ThreadSanitizer only (they are genuine races), each in a death
// test's child process so the report does not fail this binary.
#include "common/happens_before.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <thread>

#include "absl/base/config.h"

namespace cddp::common {
namespace {

// Runs `before` on a new thread, then `after` on this one, ordered by a
// release/acquire fence pair: real synchronisation that TSan does not see.
void HandOff(const std::function<void()>& before,
             const std::function<void()>& after) {
  std::atomic<bool> ready{false};
  std::thread thread([&] {
    before();
    std::atomic_thread_fence(std::memory_order_release);
    ready.store(true, std::memory_order_relaxed);
  });
  while (!ready.load(std::memory_order_relaxed)) std::this_thread::yield();
  std::atomic_thread_fence(std::memory_order_acquire);
  after();
  thread.join();
}

constexpr char kRace[] = "ThreadSanitizer: data race";

bool AnyExit(int /*status*/) { return true; }

void SkipUnlessTsan() {
#ifndef ABSL_HAVE_THREAD_SANITIZER
  GTEST_SKIP() << "needs -fsanitize=thread (the tsan preset)";
#endif
}

TEST(HappensBeforeTest, AnnotatedHandOffIsNotReported) {
  int value = 0;  // the reactor's field
  HandOff(
      [&] {
        value = 1;
        CDDP_HAPPENS_BEFORE(&value);  // then "Start" the operation
      },
      [&] {
        CDDP_HAPPENS_AFTER(&value);  // the reaction
        EXPECT_EQ(value, 1);
        value = 2;
      });
  EXPECT_EQ(value, 2);
}

TEST(HappensBeforeDeathTest, UnannotatedHandOffIsReported) {
  SkipUnlessTsan();
  if (::testing::Test::IsSkipped()) return;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int value = 0;
        HandOff([&] { value = 1; }, [&] { value = 2; });
        std::exit(0);
      },
      AnyExit, kRace);
}

TEST(HappensBeforeDeathTest, WriteAfterTheReleaseIsReported) {
  SkipUnlessTsan();
  if (::testing::Test::IsSkipped()) return;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int value = 0;
        HandOff(
            [&] {
              CDDP_HAPPENS_BEFORE(&value);
              value = 1;  // after the operation was started: a race
            },
            [&] {
              CDDP_HAPPENS_AFTER(&value);
              value = 2;
            });
        std::exit(0);
      },
      AnyExit, kRace);
}

TEST(HappensBeforeDeathTest, AnotherKeyOrdersNothing) {
  SkipUnlessTsan();
  if (::testing::Test::IsSkipped()) return;
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        int value = 0;
        int other = 0;
        HandOff(
            [&] {
              value = 1;
              CDDP_HAPPENS_BEFORE(&value);
            },
            [&] {
              CDDP_HAPPENS_AFTER(&other);
              value = 2;
            });
        std::exit(0);
      },
      AnyExit, kRace);
}

}  // namespace
}  // namespace cddp::common
