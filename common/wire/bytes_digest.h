// A fast 64-bit digest of a byte string, to tell one push's bytes from
// another's within one process (PushAssembler's digest): four independent
// multiply-rotate lanes over 8-byte words, so that it runs at several bytes
// per cycle where a byte-serial hash (std::hash) runs at about one. Not
// cryptographic and not stable across versions: never store or send it.
// Stateless; thread-safe.
#ifndef CDDP_COMMON_WIRE_BYTES_DIGEST_H_
#define CDDP_COMMON_WIRE_BYTES_DIGEST_H_

#include <cstdint>
#include <string_view>

namespace cddp::common {

// The digest of `bytes` (its length included).
uint64_t BytesDigest(std::string_view bytes);

// AllFiniteFp32(fp32_le) (wire_codec.h) and, in the same pass,
// *digest = BytesDigest(fp32_le).
bool AllFiniteFp32WithDigest(std::string_view fp32_le, uint64_t* digest);

}  // namespace cddp::common

#endif  // CDDP_COMMON_WIRE_BYTES_DIGEST_H_
