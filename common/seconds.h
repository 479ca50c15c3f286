// A duration as seconds in a double: the one conversion the worker's
// metrics, progress lines and results use.
#ifndef CDDP_COMMON_SECONDS_H_
#define CDDP_COMMON_SECONDS_H_

#include <chrono>

namespace cddp::common {

template <typename Rep, typename Period>
double Seconds(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace cddp::common

#endif  // CDDP_COMMON_SECONDS_H_
