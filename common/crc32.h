// CRC-32 (the zlib / gzip / PNG polynomial, reflected, init and final xor
// 0xffffffff) of a byte span of any size: the one checksum the project's
// record files and parameter digests use.
#ifndef CDDP_COMMON_CRC32_H_
#define CDDP_COMMON_CRC32_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace cddp::common {

// The CRC-32 of `data`, continuing from `crc` (the CRC of the bytes before
// it; 0 to start): Crc32(b, Crc32(a)) == Crc32(a followed by b). Spans of
// any length, over 4 GiB included. Pure; thread-safe.
uint32_t Crc32(std::span<const std::byte> data, uint32_t crc = 0);

inline uint32_t Crc32(std::string_view data, uint32_t crc = 0) {
  return Crc32(std::as_bytes(std::span<const char>(data)), crc);
}

namespace internal {
// Crc32, fed to zlib in pieces of at most `max_piece` bytes (> 0); Crc32
// uses 1 GiB. Exposed so tests can check the piecing without 4 GiB buffers.
uint32_t Crc32InPieces(std::span<const std::byte> data, uint32_t crc,
                       size_t max_piece);
}  // namespace internal

}  // namespace cddp::common

#endif  // CDDP_COMMON_CRC32_H_
