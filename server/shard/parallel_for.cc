#include "server/shard/parallel_for.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace cddp::server {

size_t PartsFor(size_t n, int threads) {
  const size_t most = static_cast<size_t>(std::max(threads, 1));
  return std::clamp<size_t>(n / kMinEntriesPerPart, 1, most);
}

void ParallelFor(
    size_t n, size_t parts,
    absl::FunctionRef<void(size_t part, size_t begin, size_t end)> fn) {
  if (parts <= 1 || n < parts) {
    fn(0, 0, n);
    return;
  }
  const auto bound = [&](size_t p) {
    return n / parts * p + std::min(p, n % parts);
  };
  std::vector<std::thread> others;
  others.reserve(parts - 1);
  for (size_t p = 1; p < parts; ++p) {
    others.emplace_back(
        [&fn, p, begin = bound(p), end = bound(p + 1)] { fn(p, begin, end); });
  }
  fn(0, 0, bound(1));
  for (std::thread& t : others) t.join();
}

}  // namespace cddp::server
