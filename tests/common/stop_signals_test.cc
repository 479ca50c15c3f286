// Stop signals: a SIGTERM delivered to any thread (one that never blocked
// it, as LibTorch's threads started before main) is recorded and wakes the
// waiter instead of killing the process; SIGPIPE is ignored.
#include "common/stop_signals.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace cddp::common {
namespace {

TEST(StopSignalsTest, SignalOnAnyThreadWakesTheWaiterAndKillsNothing) {
  ASSERT_TRUE(InstallStopSignalHandlers().ok());
  const int before = StopSignalsReceived();
  std::atomic<bool> done{false};
  std::thread bystander([&] {
    while (!done.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  ASSERT_EQ(pthread_kill(bystander.native_handle(), SIGTERM), 0);
  EXPECT_EQ(WaitForStopSignal(), SIGTERM);
  ASSERT_EQ(pthread_kill(bystander.native_handle(), SIGINT), 0);
  EXPECT_EQ(WaitForStopSignal(), SIGINT);
  EXPECT_EQ(StopSignalsReceived(), before + 2);
  done.store(true);
  bystander.join();
}

TEST(StopSignalsTest, WritingToAClosedPipeFailsInsteadOfKilling) {
  ASSERT_TRUE(InstallStopSignalHandlers().ok());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);
  EXPECT_EQ(write(fds[1], "x", 1), -1);
  EXPECT_EQ(errno, EPIPE);
  close(fds[1]);
}

}  // namespace
}  // namespace cddp::common
