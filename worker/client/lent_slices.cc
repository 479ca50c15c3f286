#include "worker/client/lent_slices.h"

namespace cddp::worker {

grpc::Slice LentSlices::Lend(const void* data, size_t bytes) {
  {
    absl::MutexLock lock(&count_->mu);
    ++count_->held;
  }
  // gRPC only reads a slice it sends.
  return grpc::Slice(const_cast<void*>(data), bytes, &LentSlices::Release,
                     new std::shared_ptr<Count>(count_));
}

void LentSlices::Release(void* owner) {
  auto* count = static_cast<std::shared_ptr<Count>*>(owner);
  {
    absl::MutexLock lock(&(*count)->mu);
    --(*count)->held;
  }
  delete count;
}

bool LentSlices::WaitReleased(absl::Duration timeout) const {
  absl::MutexLock lock(&count_->mu);
  const Count& c = *count_;
  return count_->mu.AwaitWithTimeout(
      absl::Condition(
          +[](const Count* k)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return k->held == 0; },
          &c),
      timeout);
}

size_t LentSlices::held() const {
  absl::MutexLock lock(&count_->mu);
  return count_->held;
}

}  // namespace cddp::worker
