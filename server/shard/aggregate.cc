#include "server/shard/aggregate.h"

#include <algorithm>
#include <bit>
#include <numeric>
#include <vector>

#include "server/shard/parallel_for.h"

namespace cddp::server {
namespace {

// Every push holds every index of one range 0..n-1 (ascending, n of them,
// the last n - 1: nothing else fits), as uncompressed pushes do.
bool AllWholeRange(std::span<const common::SparseSelection* const> pushes) {
  if (pushes.empty() || pushes[0]->size() == 0) return false;
  const size_t n = pushes[0]->size();
  for (const auto* p : pushes) {
    if (p->size() != n || p->indices.back() != n - 1) return false;
  }
  return true;
}

// max_abs's bits minus |v * scale|'s: wraps into the top bit exactly when
// |v * scale| is beyond max_abs (NaN and infinity have the largest
// magnitude bits). ORed over many entries without a branch, so the loops
// that check vectorise.
class Headroom {
 public:
  explicit Headroom(AverageBound bound)
      : scale_(bound.scale),
        max_bits_(std::bit_cast<uint32_t>(bound.max_abs)) {}
  uint32_t operator()(float v) const {
    return max_bits_ - (std::bit_cast<uint32_t>(v * scale_) & 0x7fffffffu);
  }
  static bool Wrapped(uint32_t ored) { return (ored >> 31) != 0; }

 private:
  float scale_;
  uint32_t max_bits_;
};

// Entries per block of the whole-range sum: 8 KiB of sums, which stay in
// L1 while every worker's values are added and while they are checked.
constexpr size_t kSumBlock = 2048;

// The merge's sums for whole-range pushes, without merging: entry by entry
// the same additions in the same order, 0.0f + w0 + w1 + ..., a block at a
// time, in loops the compiler vectorises. Returns whether every sum is
// within `bound` (true when there is none).
bool SumWholeRange(std::span<const common::SparseSelection* const> pushes,
                   std::span<float> out, const AverageBound* bound,
                   int threads) {
  const size_t n = pushes[0]->size();
  const size_t parts = PartsFor(n, threads);
  std::vector<uint32_t> ored(parts, 0);
  ParallelFor(n, parts, [&](size_t part, size_t k0, size_t k1) {
    float* ov = out.data();
    const float* first = pushes[0]->values.data();
    uint32_t wrapped = 0;
    for (size_t b0 = k0; b0 < k1; b0 += kSumBlock) {
      const size_t b1 = std::min(k1, b0 + kSumBlock);
      for (size_t k = b0; k < b1; ++k) ov[k] = 0.0f + first[k];
      for (size_t w = 1; w < pushes.size(); ++w) {
        const float* v = pushes[w]->values.data();
        for (size_t k = b0; k < b1; ++k) ov[k] += v[k];
      }
      if (bound == nullptr) continue;
      const Headroom headroom(*bound);
      for (size_t k = b0; k < b1; ++k) wrapped |= headroom(ov[k]);
    }
    ored[part] = wrapped;
  });
  uint32_t all = 0;
  for (uint32_t w : ored) all |= w;
  return !Headroom::Wrapped(all);
}

// One pass over `sums` without an early exit.
bool AllWithinBound(std::span<const float> sums, AverageBound bound) {
  const Headroom headroom(bound);
  const float* v = sums.data();
  uint32_t wrapped = 0;
  for (size_t k = 0; k < sums.size(); ++k) wrapped |= headroom(v[k]);
  return !Headroom::Wrapped(wrapped);
}

}  // namespace

// Kernel: the tuned merge of BENCHMARKS.md §2 (BM_AggregateSparse); whole.
// NOLINTNEXTLINE(readability-function-size)
void SumInWorkerOrder(std::span<const common::SparseSelection* const> pushes,
                      common::SparseSelection* out, int threads) {
  if (AllWholeRange(pushes)) {
    const auto& first = pushes[0]->indices;
    out->indices.assign(first.begin(), first.end());
    out->values.resize(first.size());
    SumWholeRange(pushes, out->values, /*bound=*/nullptr, threads);
    return;
  }
  size_t total = 0;
  for (const auto* p : pushes) total += p->size();
  out->indices.resize(total);
  out->values.resize(total);
  uint32_t* oi = out->indices.data();
  float* ov = out->values.data();
  size_t k = 0;
  if (pushes.size() == 1) {
    const auto& p = *pushes[0];
    for (size_t j = 0; j < p.size(); ++j) {
      oi[j] = p.indices[j];
      ov[j] = 0.0f + p.values[j];  // as the general case: -0 becomes +0
    }
    k = p.size();
  } else if (pushes.size() == 2) {
    // The common case, without the per-element loop over workers.
    const auto& a = *pushes[0];
    const auto& b = *pushes[1];
    size_t i = 0, j = 0;
    const size_t na = a.size(), nb = b.size();
    // Branch-free: which list is ahead is a coin flip for random
    // selections, and a mispredicted branch per element costs more than
    // this. Same expression as the general case, (0 + a) + b, with a
    // missing side contributing +0 (masked bits), which changes no sum and
    // turns -0 into +0 exactly as 0 + x does.
    const uint32_t* ai = a.indices.data();
    const uint32_t* bi = b.indices.data();
    const float* av = a.values.data();
    const float* bv = b.values.data();
    while (i < na && j < nb) {
      const uint32_t x = ai[i], y = bi[j];
      // take_a = x <= y, take_b = y <= x, from the sign of y - x: written
      // as arithmetic so that the compiler cannot turn them into a branch.
      const int64_t d = int64_t{y} - int64_t{x};
      const uint32_t take_a =
          static_cast<uint32_t>(~static_cast<uint64_t>(d) >> 63);
      const uint32_t take_b =
          static_cast<uint32_t>(static_cast<uint64_t>(d - 1) >> 63);
      const float va =
          std::bit_cast<float>(std::bit_cast<uint32_t>(av[i]) & (0u - take_a));
      const float vb =
          std::bit_cast<float>(std::bit_cast<uint32_t>(bv[j]) & (0u - take_b));
      oi[k] = std::min(x, y);
      ov[k++] = (0.0f + va) + vb;
      i += take_a;
      j += take_b;
    }
    for (; i < na; ++i, ++k) oi[k] = a.indices[i], ov[k] = 0.0f + a.values[i];
    for (; j < nb; ++j, ++k) oi[k] = b.indices[j], ov[k] = 0.0f + b.values[j];
  } else if (!pushes.empty()) {
    std::vector<size_t> pos(pushes.size(), 0);
    while (true) {
      bool any = false;
      uint32_t next = 0;
      for (size_t w = 0; w < pushes.size(); ++w) {
        if (pos[w] < pushes[w]->size()) {
          const uint32_t i = pushes[w]->indices[pos[w]];
          if (!any || i < next) next = i;
          any = true;
        }
      }
      if (!any) break;
      float sum = 0.0f;
      for (size_t w = 0; w < pushes.size(); ++w) {
        if (pos[w] < pushes[w]->size() && pushes[w]->indices[pos[w]] == next) {
          sum += pushes[w]->values[pos[w]++];
        }
      }
      oi[k] = next;
      ov[k++] = sum;
    }
  }
  out->indices.resize(k);
  out->values.resize(k);
}

bool SumRound(std::span<const common::SparseSelection* const> pushes,
              common::SparseSelection* sum, AverageBound bound, int threads) {
  if (!AllWholeRange(pushes)) {
    SumInWorkerOrder(pushes, sum, threads);
    return AllWithinBound(sum->values, bound);
  }
  const size_t n = pushes[0]->size();
  if (sum->indices.size() != n || sum->indices.back() != n - 1) {
    sum->indices.resize(n);
    std::iota(sum->indices.begin(), sum->indices.end(), 0u);
  }
  sum->values.resize(n);
  return SumWholeRange(pushes, sum->values, &bound, threads);
}

size_t FirstBeyondBound(std::span<const float> sums, AverageBound bound) {
  const Headroom headroom(bound);
  size_t k = 0;
  while (k < sums.size() && !Headroom::Wrapped(headroom(sums[k]))) ++k;
  return k;
}

}  // namespace cddp::server
