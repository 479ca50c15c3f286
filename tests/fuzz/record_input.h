// The checkpoint targets' input: one byte choosing how the rest is read as
// a record file (common/record_file.h). 0 takes the bytes as the whole
// file (so the magic, size and checksum checks see them first); v in
// 1..versions wraps them as the payload of a well-formed record of `kind`,
// version v, so they reach the payload decoding behind the checksums.
#ifndef CDDP_TESTS_FUZZ_RECORD_INPUT_H_
#define CDDP_TESTS_FUZZ_RECORD_INPUT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/record_file.h"

namespace cddp::fuzz {

inline std::string RecordFile(uint8_t mode, std::string_view kind,
                              uint32_t versions, std::string_view bytes) {
  const uint32_t version = mode % (versions + 1);
  return version == 0 ? std::string(bytes)
                      : common::MakeRecord(kind, version, bytes);
}

}  // namespace cddp::fuzz

#endif  // CDDP_TESTS_FUZZ_RECORD_INPUT_H_
