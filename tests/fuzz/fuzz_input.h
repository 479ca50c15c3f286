// FuzzInput: reads a fuzzer's bytes as a stream of fields (integers, then
// length-prefixed byte strings), so each target can carve structured
// arguments out of one input. Past the end every read gives zeros / empty:
// any input is a valid one.
#ifndef CDDP_TESTS_FUZZ_FUZZ_INPUT_H_
#define CDDP_TESTS_FUZZ_FUZZ_INPUT_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace cddp::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size)
      : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  bool empty() const { return at_ >= size_; }

  // The next sizeof(T) bytes, little-endian (zero-padded past the end).
  template <typename T>
  T Int() {
    T v = 0;
    const size_t n = std::min(sizeof(T), size_ - std::min(at_, size_));
    std::memcpy(&v, data_ + std::min(at_, size_), n);
    at_ += sizeof(T);
    return v;
  }

  // A string of at most `max` bytes whose length is the next two bytes.
  std::string_view Bytes(size_t max = 1 << 16) {
    const size_t want = std::min<size_t>(Int<uint16_t>(), max);
    return Take(want);
  }

  // Everything left.
  std::string_view Rest() { return Take(size_); }

 private:
  std::string_view Take(size_t want) {
    const size_t from = std::min(at_, size_);
    const size_t n = std::min(want, size_ - from);
    at_ = from + n;
    return {data_ + from, n};
  }

  const char* data_;
  size_t size_;
  size_t at_ = 0;
};

}  // namespace cddp::fuzz

#endif  // CDDP_TESTS_FUZZ_FUZZ_INPUT_H_
