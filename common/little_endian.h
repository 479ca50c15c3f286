// Little-endian load and store of 32-bit words, for the wire format and the
// checkpoint records. Both are little-endian on every host: a big-endian
// host fails to compile here rather than write bytes nobody else can read.
#ifndef CDDP_COMMON_LITTLE_ENDIAN_H_
#define CDDP_COMMON_LITTLE_ENDIAN_H_

#include <bit>
#include <cstdint>
#include <cstring>

namespace cddp::common {

static_assert(std::endian::native == std::endian::little,
              "the wire format and the records are little-endian; big-endian "
              "hosts would need byte swaps in little_endian.h");

inline void StoreLE32(uint32_t v, char* p) { std::memcpy(p, &v, 4); }
inline uint32_t LoadLE32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace cddp::common

#endif  // CDDP_COMMON_LITTLE_ENDIAN_H_
