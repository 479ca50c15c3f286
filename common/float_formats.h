// Conversions between float and the 16-bit wire formats (IEEE binary16 and
// bfloat16), and little-endian load/store of 32-bit words. Rounding is
// round-to-nearest-even, so a value that is exactly representable survives a
// round trip unchanged, and conversion is deterministic on every machine.
#ifndef CDDP_COMMON_FLOAT_FORMATS_H_
#define CDDP_COMMON_FLOAT_FORMATS_H_

#include <bit>
#include <cstdint>
#include <cstring>

namespace cddp::common {

static_assert(std::endian::native == std::endian::little,
              "the wire format is little-endian; big-endian hosts would need "
              "byte swaps in float_formats.h");

inline uint32_t FloatBits(float x) { return std::bit_cast<uint32_t>(x); }
inline float BitsToFloat(uint32_t b) { return std::bit_cast<float>(b); }

// Magnitude key: the bits of |x|. Orders like |x| for every non-NaN float;
// NaNs rank above +inf. Selection by this key is a total order.
inline uint32_t MagnitudeKey(float x) { return FloatBits(x) & 0x7fffffffu; }
constexpr uint32_t kInfinityKey = 0x7f800000u;  // keys >= this are not finite

inline void StoreLE32(uint32_t v, char* p) { std::memcpy(p, &v, 4); }
inline uint32_t LoadLE32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// bfloat16: the upper 16 bits of binary32, rounded to nearest even. NaN stays
// NaN (quiet bit forced so rounding cannot turn it into inf).
inline uint16_t FloatToBf16(float f) {
  uint32_t b = FloatBits(f);
  if ((b & 0x7fffffffu) > kInfinityKey) return static_cast<uint16_t>((b >> 16) | 0x40);
  b += 0x7fffu + ((b >> 16) & 1u);
  return static_cast<uint16_t>(b >> 16);
}
inline float Bf16ToFloat(uint16_t h) { return BitsToFloat(uint32_t{h} << 16); }

// IEEE binary16 with subnormals; overflow goes to +-inf.
uint16_t FloatToFp16(float f);
float Fp16ToFloat(uint16_t h);

}  // namespace cddp::common

#endif  // CDDP_COMMON_FLOAT_FORMATS_H_
