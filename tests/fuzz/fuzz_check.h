// What every fuzz target checks with: a property that must hold (a broken
// one aborts, which libFuzzer reports with the input), and float vectors
// equal bit for bit (NaNs and signed zeros included).
#ifndef CDDP_TESTS_FUZZ_FUZZ_CHECK_H_
#define CDDP_TESTS_FUZZ_FUZZ_CHECK_H_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace cddp::fuzz {

inline void Check(bool holds, const char* what) {
  if (!holds) {
    std::fprintf(stderr, "fuzz property broken: %s\n", what);
    std::abort();
  }
}

template <typename A, typename B>
bool SameBits(const A& a, const B& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](float x, float y) {
           return std::bit_cast<uint32_t>(x) == std::bit_cast<uint32_t>(y);
         });
}

}  // namespace cddp::fuzz

#endif  // CDDP_TESTS_FUZZ_FUZZ_CHECK_H_
