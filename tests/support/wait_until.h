// WaitUntil: the one way a test waits for another thread or process. It polls
// a predicate until it holds or a timeout passes, so a test whose condition
// never comes fails with a message instead of hanging the binary. The
// timeout is a bound on a hang, not a speed check: pick it generously.
#ifndef CDDP_TESTS_SUPPORT_WAIT_UNTIL_H_
#define CDDP_TESTS_SUPPORT_WAIT_UNTIL_H_

#include <chrono>
#include <thread>

namespace cddp::testing {

// How long tests wait for something that should happen at once: long enough
// for a loaded CI machine or a sanitizer build, short enough to fail a test.
inline constexpr std::chrono::seconds kWaitTimeout{60};

// Calls `predicate` until it returns true (then returns true) or until
// `timeout` has passed since the call (then returns false). Polls every
// `poll` (a yield when zero). `predicate` runs on the calling thread and must
// be safe to call concurrently with whatever it observes. Thread-safe as far
// as `predicate` is.
template <typename Predicate>
bool WaitUntil(
    Predicate&& predicate, std::chrono::milliseconds timeout = kWaitTimeout,
    std::chrono::microseconds poll = std::chrono::microseconds(100)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() >= deadline) return predicate();
    if (poll.count() == 0) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(poll);
    }
  }
  return true;
}

}  // namespace cddp::testing

#endif  // CDDP_TESTS_SUPPORT_WAIT_UNTIL_H_
