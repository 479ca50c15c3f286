// Text key=value files (see key_value_file.h); the atomic write is
// record_file's WriteFileAtomically.
#include "common/key_value_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/record_file.h"

namespace cddp::common {
namespace {

bool IsValidKey(absl::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::Status KeyValues::Set(absl::string_view key, absl::string_view value) {
  if (!IsValidKey(key)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad key \"", key, "\" (want [A-Za-z0-9_.-]+)"));
  }
  if (value.find_first_of("\r\n") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("the value of ", key, " has a line break"));
  }
  entries_[std::string(key)] = std::string(value);
  return absl::OkStatus();
}

absl::StatusOr<std::string> KeyValues::Get(absl::string_view key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat("no entry \"", key, "\""));
  }
  return it->second;
}

absl::StatusOr<uint64_t> KeyValues::GetUint64(absl::string_view key) const {
  absl::StatusOr<std::string> text = Get(key);
  if (!text.ok()) return text.status();
  uint64_t v = 0;
  if (!absl::SimpleAtoi(*text, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, "=", *text, ": not an unsigned integer"));
  }
  return v;
}

absl::StatusOr<double> KeyValues::GetDouble(absl::string_view key) const {
  absl::StatusOr<std::string> text = Get(key);
  if (!text.ok()) return text.status();
  double v = 0;
  if (!absl::SimpleAtod(*text, &v)) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, "=", *text, ": not a number"));
  }
  return v;
}

absl::StatusOr<bool> KeyValues::GetBool(absl::string_view key) const {
  absl::StatusOr<std::string> text = Get(key);
  if (!text.ok()) return text.status();
  if (*text == "1" || *text == "true") return true;
  if (*text == "0" || *text == "false") return false;
  return absl::InvalidArgumentError(
      absl::StrCat(key, "=", *text, ": not a boolean (1 or 0)"));
}

std::string KeyValues::Serialize() const {
  std::string out;
  for (const auto& [key, value] : entries_) {
    absl::StrAppend(&out, key, "=", value, "\n");
  }
  return out;
}

absl::StatusOr<KeyValues> KeyValues::Parse(absl::string_view text) {
  KeyValues result;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const size_t eq = line.find('=');
    const auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", why, ": \"", line, "\""));
    };
    if (eq == absl::string_view::npos) return bad("no '='");
    const absl::string_view key = line.substr(0, eq);
    if (!IsValidKey(key)) return bad("bad key");
    if (result.entries_.count(key) != 0) return bad("repeated key");
    result.entries_[std::string(key)] = std::string(line.substr(eq + 1));
  }
  return result;
}

absl::Status WriteKeyValueFile(const std::string& path,
                               const KeyValues& values) {
  return WriteFileAtomically(path, values.Serialize());
}

absl::StatusOr<KeyValues> ReadKeyValueFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<KeyValues> parsed = KeyValues::Parse(*text);
  if (!parsed.ok()) return WithPath(parsed.status(), path);
  return parsed;
}

}  // namespace cddp::common
