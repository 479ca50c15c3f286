// CDDP_CHECK: aborts with a message when a programmer error is detected
// (a broken precondition inside the process). Never for peer input: that gets
// an absl::Status. (The abseil in Debian 12 predates absl/log/check.h.)
#ifndef CDDP_COMMON_CHECK_H_
#define CDDP_COMMON_CHECK_H_

#include <cstdio>
#include <cstdlib>

namespace cddp::common::internal {
[[noreturn]] inline void CheckFailed(const char* file, int line,
                                     const char* expr) {
  std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", file, line, expr);
  std::abort();
}
}  // namespace cddp::common::internal

#define CDDP_CHECK(cond)                                                \
  do {                                                                  \
    if (!(cond))                                                        \
      ::cddp::common::internal::CheckFailed(__FILE__, __LINE__, #cond); \
  } while (0)

#ifdef NDEBUG
#define CDDP_DCHECK(cond) \
  do {                    \
  } while (0)
#else
#define CDDP_DCHECK(cond) CDDP_CHECK(cond)
#endif

#endif  // CDDP_COMMON_CHECK_H_
