// A check run on a thread of its own while the caller goes on (ShardClient
// checks the order of a whole-vector selection while its push streams).
// Wait() blocks until the check is done and returns its result; the
// destructor waits too. Thread-safe: Wait() from any thread, any number of
// times.
#ifndef CDDP_WORKER_CLIENT_BACKGROUND_CHECK_H_
#define CDDP_WORKER_CLIENT_BACKGROUND_CHECK_H_

#include <functional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"

namespace cddp::worker {

class BackgroundCheck {
 public:
  explicit BackgroundCheck(std::function<absl::Status()> check)
      : thread_([this, check = std::move(check)] {
          status_ = check();
          done_.Notify();
        }) {}
  ~BackgroundCheck() { thread_.join(); }
  BackgroundCheck(const BackgroundCheck&) = delete;
  BackgroundCheck& operator=(const BackgroundCheck&) = delete;

  const absl::Status& Wait() const {
    done_.WaitForNotification();
    return status_;
  }

 private:
  absl::Status status_;  // written once, before done_ is notified
  absl::Notification done_;
  std::thread thread_;  // last: starts once the others exist
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_BACKGROUND_CHECK_H_
