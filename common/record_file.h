// A versioned, checksummed container for checkpoint payloads, and atomic
// file writes. Every checkpoint in the project (residuals, server shards,
// worker positions) is one record:
//
//   offset size
//   0      8    magic "CDDPREC\0"
//   8      4    kind: four ASCII bytes naming the payload ("RESD", "SHRD"...)
//   12     4    payload format version (little-endian uint32)
//   16     8    payload size in bytes (little-endian uint64)
//   24     4    CRC-32 of the payload (zlib polynomial)
//   28     4    CRC-32 of bytes 0..27
//   32     ...  payload
//
// A reader checks every field before it trusts the payload, so a truncated,
// corrupt or foreign file is an error, never a crash or a half-load.
#ifndef CDDP_COMMON_RECORD_FILE_H_
#define CDDP_COMMON_RECORD_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cddp::common {

constexpr size_t kRecordHeaderSize = 32;

// Wraps `payload` in a record. `kind` must be exactly four bytes.
std::string MakeRecord(std::string_view kind, uint32_t version,
                       std::string_view payload);

// Returns the payload of `record` (a view into it) after checking magic,
// kind, version, size and both checksums. Errors: DATA_LOSS for truncation
// or a checksum mismatch, INVALID_ARGUMENT for a foreign file or another
// kind, FAILED_PRECONDITION for a version this build cannot read.
absl::StatusOr<std::string_view> ParseRecord(std::string_view record,
                                             std::string_view kind,
                                             uint32_t version);

// Writes `data` to `path` atomically: a temporary file in the same
// directory, fsync, rename over `path`, fsync of the directory. A crash
// leaves either the old file or the new one. INTERNAL/NOT_FOUND etc. on I/O
// errors, with the path and errno text.
absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view data);

// Reads a whole file. NOT_FOUND if it does not exist.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// `s` with "<path>: " in front of its message (same code), for errors about
// a file.
absl::Status WithPath(const absl::Status& s, const std::string& path);

// Little-endian append/consume helpers for payload encoders.
void AppendU32(uint32_t v, std::string* out);
void AppendU64(uint64_t v, std::string* out);
void AppendFloats(const float* v, size_t n, std::string* out);

// Reads sequentially from a payload; every read checks the bounds.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view data) : data_(data) {}
  absl::Status ReadU32(uint32_t* v);
  absl::Status ReadU64(uint64_t* v);
  absl::Status ReadFloats(float* v, size_t n);
  bool done() const { return data_.empty(); }
  size_t remaining() const { return data_.size(); }

 private:
  absl::Status Need(size_t n) const;
  std::string_view data_;
};

}  // namespace cddp::common

#endif  // CDDP_COMMON_RECORD_FILE_H_
