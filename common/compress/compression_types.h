// The small vocabulary of the compression contract that absl-free code (the
// CUDA kernels in common/cuda/) shares with the CPU core: the wire value
// type, the selector, and the rounding of a value to what the wire carries.
// Header only; RoundToValueType is CDDP_HOST_DEVICE so both sides round with
// the same code.
#ifndef CDDP_COMMON_COMPRESS_COMPRESSION_TYPES_H_
#define CDDP_COMMON_COMPRESS_COMPRESSION_TYPES_H_

#include "common/compress/float_formats.h"
#include "common/compress/host_device.h"

namespace cddp::common {

// Scalar type of values on the wire (mirrors cddp.v1.ValueType).
enum class ValueType { kFp32 = 1, kFp16 = 2, kBf16 = 3 };

// How Top-K selects: kExact is a radix select over the whole tensor; kFast
// estimates a threshold from a sample first. Both select exactly the same
// elements (topk.h); kFast is only faster.
enum class Selector { kExact, kFast };

// Rounds `v` to what survives a round trip through `type`.
CDDP_HOST_DEVICE inline float RoundToValueType(float v, ValueType type) {
  switch (type) {
    case ValueType::kFp32:
      return v;
    case ValueType::kFp16:
      return Fp16ToFloat(FloatToFp16(v));
    case ValueType::kBf16:
      return Bf16ToFloat(FloatToBf16(v));
  }
  return v;
}

}  // namespace cddp::common

#endif  // CDDP_COMMON_COMPRESS_COMPRESSION_TYPES_H_
