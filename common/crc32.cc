// CRC-32 through zlib's crc32(), whose length argument is a 32-bit uInt:
// longer spans are fed in pieces.
#include "common/crc32.h"

#include <zlib.h>

#include <algorithm>

namespace cddp::common {

// 1 GiB: well under uInt's limit on every platform zlib supports.
constexpr size_t kMaxPiece = size_t{1} << 30;

uint32_t Crc32(std::span<const std::byte> data, uint32_t crc) {
  return internal::Crc32InPieces(data, crc, kMaxPiece);
}

namespace internal {

uint32_t Crc32InPieces(std::span<const std::byte> data, uint32_t crc,
                       size_t max_piece) {
  uLong c = crc;
  while (!data.empty()) {
    const size_t len = std::min(data.size(), max_piece);
    c = crc32(c, reinterpret_cast<const Bytef*>(data.data()),
              static_cast<uInt>(len));
    data = data.subspan(len);
  }
  return static_cast<uint32_t>(c);
}

}  // namespace internal
}  // namespace cddp::common
