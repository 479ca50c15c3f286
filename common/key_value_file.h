// A small text file of key=value entries, written atomically: how a
// program hands a few results to the program that started it (cddp-worker's
// --result_file, read by cddp-launch).
//
// Format: UTF-8 text, one entry per line, "key=value\n". A key is one or
// more of [A-Za-z0-9_.-] and appears once; the value is everything after the
// first '=' up to the end of the line (it may contain '=' but no newline).
// Blank lines and lines starting with '#' are ignored. Entries are written
// in key order.
//
// KeyValues is a plain value type: not thread-safe, copy it freely.
#ifndef CDDP_COMMON_KEY_VALUE_FILE_H_
#define CDDP_COMMON_KEY_VALUE_FILE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cddp::common {

class KeyValues {
 public:
  // Sets `key` to `value` (replacing an earlier value). INVALID_ARGUMENT for
  // a key outside the format or a value with a newline; changes nothing
  // then.
  absl::Status Set(absl::string_view key, absl::string_view value);

  // The value of `key`; NOT_FOUND naming the key if it is absent.
  absl::StatusOr<std::string> Get(absl::string_view key) const;
  // The value parsed as the type; NOT_FOUND if absent, INVALID_ARGUMENT
  // naming the key and the text if it does not parse. Booleans are "1"/"0"
  // (also "true"/"false").
  absl::StatusOr<uint64_t> GetUint64(absl::string_view key) const;
  absl::StatusOr<double> GetDouble(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key) const;

  const std::map<std::string, std::string, std::less<>>& entries() const {
    return entries_;
  }

  // The file's text (see the format above).
  std::string Serialize() const;
  // Parses the file's text. INVALID_ARGUMENT naming the line (1-based) for a
  // line without '=', a bad key or a repeated key.
  static absl::StatusOr<KeyValues> Parse(absl::string_view text);

 private:
  std::map<std::string, std::string, std::less<>> entries_;
};

// Writes `values` to `path` atomically (a temporary file in the same
// directory, then rename): a reader sees the old file or the whole new one.
// I/O errors as WriteFileAtomically reports them, naming the path.
absl::Status WriteKeyValueFile(const std::string& path,
                               const KeyValues& values);

// Reads and parses `path`. NOT_FOUND if it does not exist; parse errors as
// KeyValues::Parse, prefixed with the path.
absl::StatusOr<KeyValues> ReadKeyValueFile(const std::string& path);

}  // namespace cddp::common

#endif  // CDDP_COMMON_KEY_VALUE_FILE_H_
