// Implementation of the streaming pass in candidate_kernels.h and of
// CollectCandidates in topk.h.
//
// The array is processed in segments; each segment's hits go to a small
// stack buffer and are then appended to the candidate vectors, so the inner
// loop never checks capacity. The compare uses signed 32-bit integers: keys
// are in [0, 2^31), and `key >= t` is `key > t - 1` with t - 1 in [-1, 2^31).
#include "common/compress/candidate_kernels.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/compress/float_formats.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace cddp::common {
namespace {

constexpr size_t kSegment = 4096;
constexpr size_t kPrefetchFloats = 512;  // 2 KiB ahead
constexpr int32_t kMaxFiniteKey = 0x7f7fffff;

struct SegmentResult {
  size_t hits = 0;
  bool nonfinite = false;
};

template <bool kAccumulate>
SegmentResult SegmentScalar(float* r, const float* g, size_t n, int32_t tm1,
                            uint32_t* idx, float* val) {
  SegmentResult res;
  for (size_t i = 0; i < n; ++i) {
    float v = r[i];
    if constexpr (kAccumulate) v += g[i];
    const int32_t k = static_cast<int32_t>(MagnitudeKey(v));
    res.nonfinite |= k > kMaxFiniteKey;
    if constexpr (kAccumulate) {
      if (k <= kMaxFiniteKey) r[i] = v;
    }
    if (k > tm1) {
      idx[res.hits] = static_cast<uint32_t>(i);
      val[res.hits++] = v;
    }
  }
  return res;
}

#if defined(__x86_64__)

// Appends the lanes set in `mask` (hits of `keys`, which start at element
// `base`) to the hit buffers.
inline size_t EmitHits(unsigned mask, const float* values, size_t base,
                       uint32_t* idx, float* val, size_t hits) {
  while (mask != 0) {
    const int lane = std::countr_zero(mask);
    idx[hits] = static_cast<uint32_t>(base + lane);
    val[hits++] = values[lane];
    mask &= mask - 1;
  }
  return hits;
}

template <bool kAccumulate>
SegmentResult SegmentSse2(float* r, const float* g, size_t n, int32_t tm1,
                          uint32_t* idx, float* val) {
  const __m128i abs_mask = _mm_set1_epi32(0x7fffffff);
  const __m128i t = _mm_set1_epi32(tm1);
  const __m128i finite_max = _mm_set1_epi32(kMaxFiniteKey);
  __m128i bad = _mm_setzero_si128();
  SegmentResult res;
  size_t i = 0;
  alignas(16) float lanes[4];
  for (; i + 4 <= n; i += 4) {
    const __m128 old = _mm_loadu_ps(r + i);
    __m128 v = old;
    if constexpr (kAccumulate) v = _mm_add_ps(v, _mm_loadu_ps(g + i));
    const __m128i k = _mm_and_si128(_mm_castps_si128(v), abs_mask);
    const __m128i nf = _mm_cmpgt_epi32(k, finite_max);
    bad = _mm_or_si128(bad, nf);
    if constexpr (kAccumulate) {  // non-finite lanes keep the old value
      const __m128 keep = _mm_castsi128_ps(nf);
      _mm_storeu_ps(r + i,
                    _mm_or_ps(_mm_and_ps(keep, old), _mm_andnot_ps(keep, v)));
    }
    const unsigned mask = static_cast<unsigned>(
        _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(k, t))));
    if (mask != 0) {
      _mm_store_ps(lanes, v);
      res.hits = EmitHits(mask, lanes, i, idx, val, res.hits);
    }
  }
  res.nonfinite = _mm_movemask_epi8(bad) != 0;
  SegmentResult tail =
      SegmentScalar<kAccumulate>(r + i, kAccumulate ? g + i : nullptr, n - i,
                                 tm1, idx + res.hits, val + res.hits);
  for (size_t h = res.hits; h < res.hits + tail.hits; ++h) idx[h] += i;
  res.hits += tail.hits;
  res.nonfinite |= tail.nonfinite;
  return res;
}

template <bool kAccumulate>
__attribute__((target("avx2"))) SegmentResult SegmentAvx2(float* r,
                                                          const float* g,
                                                          size_t n, int32_t tm1,
                                                          uint32_t* idx,
                                                          float* val) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i t = _mm256_set1_epi32(tm1);
  const __m256i finite_max = _mm256_set1_epi32(kMaxFiniteKey);
  __m256i bad = _mm256_setzero_si256();
  SegmentResult res;
  size_t i = 0;
  alignas(32) float lanes[16];
  for (; i + 16 <= n; i += 16) {
    // Prefetch ahead: the loop has more work per line than a plain stream,
    // and without this it keeps too few misses in flight to reach the
    // streaming bandwidth.
    _mm_prefetch(reinterpret_cast<const char*>(r + i + kPrefetchFloats),
                 _MM_HINT_T0);
    if constexpr (kAccumulate) {
      _mm_prefetch(reinterpret_cast<const char*>(g + i + kPrefetchFloats),
                   _MM_HINT_T0);
    }
    const __m256 old0 = _mm256_loadu_ps(r + i);
    const __m256 old1 = _mm256_loadu_ps(r + i + 8);
    __m256 v0 = old0;
    __m256 v1 = old1;
    if constexpr (kAccumulate) {
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(g + i));
      v1 = _mm256_add_ps(v1, _mm256_loadu_ps(g + i + 8));
    }
    const __m256i k0 = _mm256_and_si256(_mm256_castps_si256(v0), abs_mask);
    const __m256i k1 = _mm256_and_si256(_mm256_castps_si256(v1), abs_mask);
    const __m256i nf0 = _mm256_cmpgt_epi32(k0, finite_max);
    const __m256i nf1 = _mm256_cmpgt_epi32(k1, finite_max);
    bad = _mm256_or_si256(bad, _mm256_or_si256(nf0, nf1));
    if constexpr (kAccumulate) {  // non-finite lanes keep the old value
      _mm256_storeu_ps(r + i,
                       _mm256_blendv_ps(v0, old0, _mm256_castsi256_ps(nf0)));
      _mm256_storeu_ps(r + i + 8,
                       _mm256_blendv_ps(v1, old1, _mm256_castsi256_ps(nf1)));
    }
    const unsigned m0 = static_cast<unsigned>(
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(k0, t))));
    const unsigned m1 = static_cast<unsigned>(
        _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(k1, t))));
    const unsigned mask = m0 | (m1 << 8);
    if (mask != 0) {
      _mm256_store_ps(lanes, v0);
      _mm256_store_ps(lanes + 8, v1);
      res.hits = EmitHits(mask, lanes, i, idx, val, res.hits);
    }
  }
  res.nonfinite = !_mm256_testz_si256(bad, bad);
  SegmentResult tail =
      SegmentScalar<kAccumulate>(r + i, kAccumulate ? g + i : nullptr, n - i,
                                 tm1, idx + res.hits, val + res.hits);
  for (size_t h = res.hits; h < res.hits + tail.hits; ++h) idx[h] += i;
  res.hits += tail.hits;
  res.nonfinite |= tail.nonfinite;
  return res;
}

bool HaveAvx2() {
  static const bool have = __builtin_cpu_supports("avx2");
  return have;
}
#endif  // __x86_64__

template <bool kAccumulate>
SegmentResult Segment(float* r, const float* g, size_t n, int32_t tm1,
                      uint32_t* idx, float* val) {
#if defined(__x86_64__)
  if (HaveAvx2()) return SegmentAvx2<kAccumulate>(r, g, n, tm1, idx, val);
  return SegmentSse2<kAccumulate>(r, g, n, tm1, idx, val);
#else
  return SegmentScalar<kAccumulate>(r, g, n, tm1, idx, val);
#endif
}

// Runs the pass over [0, n) segment by segment; returns the first index
// whose new value is not finite, or n.
template <bool kAccumulate>
size_t RunPass(float* r, const float* g, size_t n, uint32_t threshold,
               Candidates* out) {
  const int32_t tm1 = static_cast<int32_t>(threshold - 1);
  uint32_t idx[kSegment];
  float val[kSegment];
  size_t first_nonfinite = n;
  for (size_t begin = 0; begin < n; begin += kSegment) {
    const size_t len = std::min(kSegment, n - begin);
    const SegmentResult res = Segment<kAccumulate>(
        r + begin, kAccumulate ? g + begin : nullptr, len, tm1, idx, val);
    if (res.nonfinite && first_nonfinite == n) {
      for (size_t i = begin; i < begin + len; ++i) {
        const float v = kAccumulate ? r[i] + g[i] : r[i];
        if (MagnitudeKey(v) >= kInfinityKey) {
          first_nonfinite = i;
          break;
        }
      }
    }
    if (res.hits == 0) continue;
    for (size_t h = 0; h < res.hits; ++h)
      idx[h] += static_cast<uint32_t>(begin);
    out->index.insert(out->index.end(), idx, idx + res.hits);
    out->value.insert(out->value.end(), val, val + res.hits);
  }
  return first_nonfinite;
}

}  // namespace

size_t AccumulateAndCollect(std::span<float> residual,
                            std::span<const float> gradient, uint32_t threshold,
                            Candidates* out) {
  return RunPass<true>(residual.data(), gradient.data(), residual.size(),
                       threshold, out);
}

void CollectCandidates(std::span<const float> x, uint32_t threshold,
                       Candidates* out) {
  // The pass does not write when not accumulating.
  RunPass<false>(const_cast<float*>(x.data()), nullptr, x.size(), threshold,
                 out);
}

const char* CandidateKernelIsa() {
#if defined(__x86_64__)
  return HaveAvx2() ? "avx2" : "sse2";
#else
  return "scalar";
#endif
}

}  // namespace cddp::common
