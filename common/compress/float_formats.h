// Conversions between float and the 16-bit wire formats (IEEE binary16 and
// bfloat16). Rounding is
// round-to-nearest-even, so a value that is exactly representable survives a
// round trip unchanged, and conversion is deterministic on every machine.
//
// The float helpers are CDDP_HOST_DEVICE: the CUDA kernels round with this
// very code, so GPU and CPU workers put the same bytes on the wire. Header
// only, no dependencies beyond the standard library.
#ifndef CDDP_COMMON_COMPRESS_FLOAT_FORMATS_H_
#define CDDP_COMMON_COMPRESS_FLOAT_FORMATS_H_

#include <bit>
#include <cstdint>

#include "common/compress/host_device.h"

namespace cddp::common {

// __builtin_bit_cast is what std::bit_cast is built on (GCC, Clang) and,
// unlike std::bit_cast, nvcc accepts it in device code.
CDDP_HOST_DEVICE inline uint32_t FloatBits(float x) {
  return __builtin_bit_cast(uint32_t, x);
}
CDDP_HOST_DEVICE inline float BitsToFloat(uint32_t b) {
  return __builtin_bit_cast(float, b);
}

// Magnitude key: the bits of |x|. Orders like |x| for every non-NaN float;
// NaNs rank above +inf. Selection by this key is a total order.
CDDP_HOST_DEVICE inline uint32_t MagnitudeKey(float x) {
  return FloatBits(x) & 0x7fffffffu;
}
constexpr uint32_t kInfinityKey = 0x7f800000u;  // keys >= this are not finite

// bfloat16: the upper 16 bits of binary32, rounded to nearest even. NaN stays
// NaN (quiet bit forced so rounding cannot turn it into inf).
CDDP_HOST_DEVICE inline uint16_t FloatToBf16(float f) {
  uint32_t b = FloatBits(f);
  if ((b & 0x7fffffffu) > kInfinityKey)
    return static_cast<uint16_t>((b >> 16) | 0x40);
  b += 0x7fffu + ((b >> 16) & 1u);
  return static_cast<uint16_t>(b >> 16);
}
CDDP_HOST_DEVICE inline float Bf16ToFloat(uint16_t h) {
  return BitsToFloat(uint32_t{h} << 16);
}

// IEEE binary16 with subnormals; overflow goes to +-inf. By bit
// manipulation (no F16C / cuda_fp16 dependency), so the result is the same
// on every host and on the GPU.
CDDP_HOST_DEVICE inline uint16_t FloatToFp16(float f) {
  const uint32_t b = FloatBits(f);
  const uint16_t sign = static_cast<uint16_t>((b >> 16) & 0x8000u);
  const uint32_t abs = b & 0x7fffffffu;
  if (abs > kInfinityKey) return sign | 0x7e00u;  // NaN
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // rounds to >= 65520: inf
  if (abs >= 0x38800000u) {                       // normal half
    uint32_t r = abs - 0x38000000u;               // rebias 127 -> 15
    r += 0x0fffu + ((r >> 13) & 1u);              // round to nearest even
    return sign | static_cast<uint16_t>(r >> 13);
  }
  if (abs < 0x33000000u) return sign;  // < 2^-25: rounds to 0
  // Subnormal half: value = mantissa * 2^-24.
  const uint32_t exp = abs >> 23;
  const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exp;  // 14..24
  uint32_t r = mant >> shift;
  const uint32_t rem = mant & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (rem > half || (rem == half && (r & 1u))) ++r;
  return sign | static_cast<uint16_t>(r);
}

CDDP_HOST_DEVICE inline float Fp16ToFloat(uint16_t h) {
  const uint32_t sign = uint32_t{h & 0x8000u} << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) return BitsToFloat(sign | 0x7f800000u | (mant << 13));
  if (exp != 0) return BitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  if (mant == 0) return BitsToFloat(sign);
  // Subnormal: mant * 2^-24, exact in binary32 (no rounding on either side).
  const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
  return sign ? -v : v;
}

}  // namespace cddp::common

#endif  // CDDP_COMMON_COMPRESS_FLOAT_FORMATS_H_
