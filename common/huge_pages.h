// A float buffer for large, randomly accessed vectors (a shard's values, a
// worker's flat parameters): 2 MiB aligned and advised for transparent huge
// pages, so that scattered sparse updates do not pay a TLB miss per access.
// Falls back to normal pages where THP is off. A buffer under 1 MiB (a
// small shard, a test's) is an ordinary 64-byte-aligned allocation of its
// own size: a huge page would be mostly empty, and zeroing 2 MiB for it
// dominated creating a small shard. Move-only; not thread-safe (the owner
// synchronises access to the data).
#ifndef CDDP_COMMON_HUGE_PAGES_H_
#define CDDP_COMMON_HUGE_PAGES_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

namespace cddp::common {

class HugePageFloats {
 public:
  HugePageFloats() = default;
  // `n` floats, zero-initialised after the advice (so the first touch gets
  // huge pages).
  explicit HugePageFloats(size_t n) : size_(n) {
    constexpr size_t kHuge = size_t{2} << 20;
    constexpr size_t kLine = 64;
    const bool huge = n * sizeof(float) >= kHuge / 2;
    const size_t unit = huge ? kHuge : kLine;
    const size_t bytes = (n * sizeof(float) + unit - 1) / unit * unit;
    if (bytes == 0) return;
    void* p = std::aligned_alloc(unit, bytes);
    if (p == nullptr) std::abort();
    if (huge) madvise(p, bytes, MADV_HUGEPAGE);  // advisory; may fail
    std::memset(p, 0, bytes);
    data_.reset(static_cast<float*>(p));
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  size_t size() const { return size_; }
  std::span<float> span() { return {data_.get(), size_}; }
  std::span<const float> span() const { return {data_.get(), size_}; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> data_;
  size_t size_ = 0;
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_HUGE_PAGES_H_
