// Caller memory lent to gRPC without a copy: a push's fp32 values go out
// as slices that point into the caller's gradient, and a PushPull must not
// return while gRPC may still read them. LentSlices counts the slices it
// made that gRPC still holds; gRPC lets go of one once its transport has
// written it, or dropped it with its stream or connection.
//
// Thread-safe: slices are made on gRPC's threads (as pieces are encoded)
// and released on any thread. A released slice's bookkeeping outlives the
// LentSlices that made it.
#ifndef CDDP_WORKER_CLIENT_LENT_SLICES_H_
#define CDDP_WORKER_CLIENT_LENT_SLICES_H_

#include <cstddef>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/support/slice.h"

namespace cddp::worker {

class LentSlices {
 public:
  // A slice of the `bytes` at `data`, not copied, counted until gRPC
  // releases it. The bytes must stay valid and unchanged until then.
  grpc::Slice Lend(const void* data, size_t bytes);
  // Blocks until gRPC holds no slice lent here, or `timeout` passed; true
  // if it holds none.
  bool WaitReleased(absl::Duration timeout) const;
  // Slices gRPC holds now.
  size_t held() const;

 private:
  struct Count {
    mutable absl::Mutex mu;
    size_t held ABSL_GUARDED_BY(mu) = 0;
  };
  // gRPC's destroy callback: `owner` is a heap std::shared_ptr<Count>.
  static void Release(void* owner);

  std::shared_ptr<Count> count_ = std::make_shared<Count>();
};

}  // namespace cddp::worker

#endif  // CDDP_WORKER_CLIENT_LENT_SLICES_H_
