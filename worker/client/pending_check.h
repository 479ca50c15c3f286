// The result of a check that one thread runs while others may already need
// it (ShardClient checks the order of an uncompressed push on the calling
// thread while its pieces stream; each shard's last piece waits for it).
// Thread-safe: Set once, from any thread; Wait from any thread, any number
// of times.
#ifndef CDDP_WORKER_CLIENT_PENDING_CHECK_H_
#define CDDP_WORKER_CLIENT_PENDING_CHECK_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"

namespace cddp::worker {

class PendingCheck {
 public:
  void Set(absl::Status status) {
    status_ = std::move(status);
    done_.Notify();
  }
  // Blocks until Set, then returns what it was given.
  const absl::Status& Wait() const {
    done_.WaitForNotification();
    return status_;
  }

 private:
  absl::Status status_;  // written once, before done_ is notified
  absl::Notification done_;
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_PENDING_CHECK_H_
