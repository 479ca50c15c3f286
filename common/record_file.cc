#include "common/record_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crc32.h"
#include "common/little_endian.h"

namespace cddp::common {
namespace {

constexpr std::string_view kMagic("CDDPREC\0", 8);

uint64_t LoadLE64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

absl::Status ErrnoStatus(std::string_view what, const std::string& path) {
  const int err = errno;
  std::string msg =
      absl::StrCat(std::string(what), " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

absl::Status WithPath(const absl::Status& s, const std::string& path) {
  return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
}

void AppendU32(uint32_t v, std::string* out) {
  out->append(reinterpret_cast<const char*>(&v), 4);
}
void AppendU64(uint64_t v, std::string* out) {
  out->append(reinterpret_cast<const char*>(&v), 8);
}
void AppendFloats(const float* v, size_t n, std::string* out) {
  if (n == 0) return;  // `v` may be null for an empty buffer
  out->append(reinterpret_cast<const char*>(v), n * sizeof(float));
}

absl::Status PayloadReader::Need(size_t n) const {
  if (data_.size() < n) {
    return absl::DataLossError(absl::StrCat(
        "payload truncated: need ", n, " more bytes, have ", data_.size()));
  }
  return absl::OkStatus();
}
absl::Status PayloadReader::ReadU32(uint32_t* v) {
  if (auto s = Need(4); !s.ok()) return s;
  *v = LoadLE32(data_.data());
  data_.remove_prefix(4);
  return absl::OkStatus();
}
absl::Status PayloadReader::ReadU64(uint64_t* v) {
  if (auto s = Need(8); !s.ok()) return s;
  *v = LoadLE64(data_.data());
  data_.remove_prefix(8);
  return absl::OkStatus();
}
absl::Status PayloadReader::ReadFloats(float* v, size_t n) {
  if (n > data_.size() / sizeof(float)) return Need(n * sizeof(float));
  if (n == 0) return absl::OkStatus();  // `v` may be null for an empty buffer
  std::memcpy(v, data_.data(), n * sizeof(float));
  data_.remove_prefix(n * sizeof(float));
  return absl::OkStatus();
}

std::string MakeRecord(std::string_view kind, uint32_t version,
                       std::string_view payload) {
  std::string out;
  out.reserve(kRecordHeaderSize + payload.size());
  out.append(kMagic);
  out.append(kind.substr(0, 4));
  out.resize(12, ' ');
  AppendU32(version, &out);
  AppendU64(payload.size(), &out);
  AppendU32(Crc32(payload), &out);
  AppendU32(Crc32(out), &out);
  out.append(payload);
  return out;
}

absl::StatusOr<std::string_view> ParseRecord(std::string_view record,
                                             std::string_view kind,
                                             uint32_t version) {
  if (record.size() < kRecordHeaderSize) {
    return absl::DataLossError(absl::StrCat("record truncated: ", record.size(),
                                            " bytes, the header alone is ",
                                            kRecordHeaderSize));
  }
  if (record.substr(0, 8) != kMagic) {
    return absl::InvalidArgumentError("not a cddp record (bad magic)");
  }
  if (Crc32(record.substr(0, 28)) != LoadLE32(record.data() + 28)) {
    return absl::DataLossError("record header checksum mismatch");
  }
  if (record.substr(8, 4) != kind) {
    return absl::InvalidArgumentError(
        absl::StrCat("record holds '", std::string(record.substr(8, 4)),
                     "', expected '", std::string(kind), "'"));
  }
  const uint32_t file_version = LoadLE32(record.data() + 12);
  if (file_version != version) {
    return absl::FailedPreconditionError(
        absl::StrCat("record '", std::string(kind), "' has format version ",
                     file_version, "; this build reads version ", version));
  }
  const uint64_t size = LoadLE64(record.data() + 16);
  if (size != record.size() - kRecordHeaderSize) {
    return absl::DataLossError(absl::StrCat(
        "record payload is ", record.size() - kRecordHeaderSize,
        " bytes, header says ", size, " (truncated or trailing data)"));
  }
  std::string_view payload = record.substr(kRecordHeaderSize);
  if (Crc32(payload) != LoadLE32(record.data() + 24)) {
    return absl::DataLossError("record payload checksum mismatch");
  }
  return payload;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 std::string_view data) {
  const std::filesystem::path target(path);
  const std::string tmp = path + ".tmp";
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot create", tmp);
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = ErrnoStatus("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    absl::Status s = ErrnoStatus("cannot flush", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = ErrnoStatus("cannot rename onto", path);
    ::unlink(tmp.c_str());
    return s;
  }
  const std::string dir = target.has_parent_path()
                              ? target.parent_path().string()
                              : std::string(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", path);
  std::string out;
  char buf[1 << 16];
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = ErrnoStatus("cannot read", path);
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace cddp::common
