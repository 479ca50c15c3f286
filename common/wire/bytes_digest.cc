#include "common/wire/bytes_digest.h"

#include <bit>
#include <cstring>

namespace cddp::common {
namespace {

constexpr uint64_t kPrime1 = 0x9e3779b185ebca87ull;
constexpr uint64_t kPrime2 = 0xc2b2ae3d27d4eb4full;
constexpr uint64_t kPrime3 = 0x165667b19e3779f9ull;

uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// One lane's step: every input bit reaches every lane bit within a few
// steps (the rotation carries the product's high bits down).
uint64_t Mix(uint64_t lane, uint64_t word) {
  return std::rotl(lane + word * kPrime2, 31) * kPrime1;
}

// Folds the lanes and the tail into the digest; the final avalanche makes
// every bit of it depend on every lane bit.
uint64_t Finish(const uint64_t lane[4], const char* tail, size_t tail_size,
                size_t size) {
  uint64_t h = std::rotl(lane[0], 1) + std::rotl(lane[1], 7) +
               std::rotl(lane[2], 12) + std::rotl(lane[3], 18) +
               uint64_t{size} * kPrime3;
  for (size_t i = 0; i + 8 <= tail_size; i += 8) h = Mix(h, Load64(tail + i));
  for (size_t i = tail_size & ~size_t{7}; i < tail_size; ++i) {
    h = Mix(h, static_cast<unsigned char>(tail[i]));
  }
  h ^= h >> 33;
  h *= kPrime2;
  h ^= h >> 29;
  h *= kPrime3;
  return h ^ (h >> 32);
}

// The digest, and with kCheckFinite whether every 4-byte word is a finite
// fp32 (tail words included).
template <bool kCheckFinite>
uint64_t Digest(std::string_view bytes, bool* all_finite) {
  uint64_t lane[4] = {kPrime1 + kPrime2, kPrime2, 0, 0 - kPrime1};
  const char* p = bytes.data();
  const size_t blocks = bytes.size() / 32;
  // Per 32-bit half: key = bits & 0x7fffffff is non-finite exactly when
  // key + 0x00800000 sets bit 31 (no carry crosses into the upper half).
  constexpr uint64_t kKeys = 0x7fffffff7fffffffull;
  constexpr uint64_t kStep = 0x0080000000800000ull;
  uint64_t any = 0;
  for (size_t b = 0; b < blocks; ++b, p += 32) {
    for (int l = 0; l < 4; ++l) {
      const uint64_t w = Load64(p + 8 * l);
      lane[l] = Mix(lane[l], w);
      if constexpr (kCheckFinite) any |= (w & kKeys) + kStep;
    }
  }
  const size_t tail = bytes.size() - blocks * 32;
  if constexpr (kCheckFinite) {
    for (size_t i = 0; i + 4 <= tail; i += 4) {
      uint32_t w;
      std::memcpy(&w, p + i, 4);
      any |= (w & 0x7fffffffu) + 0x00800000u;
    }
    *all_finite = (any & 0x8000000080000000ull) == 0;
  }
  return Finish(lane, p, tail, bytes.size());
}

}  // namespace

uint64_t BytesDigest(std::string_view bytes) {
  return Digest<false>(bytes, nullptr);
}

bool AllFiniteFp32WithDigest(std::string_view fp32_le, uint64_t* digest) {
  bool all_finite = false;
  *digest = Digest<true>(fp32_le, &all_finite);
  return all_finite;
}

}  // namespace cddp::common
