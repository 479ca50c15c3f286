// Implementation of gzip_file.h: in-memory inflate with zlib.
#include "worker/data/gzip_file.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/record_file.h"
#include "common/status_macros.h"

namespace cddp::worker {
namespace {

// gzip's trailer holds the inflated size mod 2^32: a good capacity hint for
// the single-member files we read, but only a hint (a truncated or corrupt
// file has garbage there), so it is capped at a plausible compression ratio;
// the output grows by doubling past it if need be.
size_t SizeHint(std::string_view bytes, size_t max_bytes) {
  if (bytes.size() < 18) return 0;
  const auto* p =
      reinterpret_cast<const unsigned char*>(bytes.data() + bytes.size() - 4);
  const uint32_t isize =
      static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
      (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
  constexpr size_t kMaxPlausibleRatio = 64;
  return std::min(
      {size_t{isize}, max_bytes, kMaxPlausibleRatio * bytes.size()});
}

// Feeds zlib the next piece of `bytes` after `*consumed` and lets it fill
// `out` after `*produced`, advancing both; returns inflate's code.
int InflatePiece(z_stream& zs, std::string_view bytes, size_t* consumed,
                 std::string& out, size_t* produced) {
  // zlib counts in uInt: feed and drain in pieces of at most 1 GiB.
  constexpr size_t kChunk = size_t{1} << 30;
  const size_t in_avail = std::min(bytes.size() - *consumed, kChunk);
  const size_t out_avail = std::min(out.size() - *produced, kChunk);
  zs.next_in =
      reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data())) + *consumed;
  zs.avail_in = static_cast<uInt>(in_avail);
  zs.next_out = reinterpret_cast<Bytef*>(out.data()) + *produced;
  zs.avail_out = static_cast<uInt>(out_avail);
  const int rc = inflate(&zs, Z_NO_FLUSH);
  *consumed += in_avail - zs.avail_in;
  *produced += out_avail - zs.avail_out;
  return rc;
}

// Inflates every gzip member of `bytes` into `out` (grown by doubling, up
// to `max_bytes`); `*produced` is the number of bytes written.
absl::Status InflateMembers(z_stream& zs, std::string_view bytes,
                            const std::string& name, size_t max_bytes,
                            std::string& out, size_t* produced) {
  size_t consumed = 0;
  while (true) {
    if (*produced == out.size()) {
      if (out.size() >= max_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            name, ": inflates to more than ", max_bytes, " bytes"));
      }
      out.resize(std::min(max_bytes, out.size() * 2));
    }
    const int rc = InflatePiece(zs, bytes, &consumed, out, produced);
    if (rc == Z_STREAM_END) {
      // Another member may follow (concatenated gzip); anything else is junk.
      const std::string_view rest = bytes.substr(consumed);
      if (rest.empty()) return absl::OkStatus();
      if (!IsGzip(rest)) {
        return absl::DataLossError(absl::StrCat(
            name, ": ", rest.size(), " trailing bytes after the gzip stream"));
      }
      inflateReset(&zs);
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && consumed == bytes.size() && zs.avail_out > 0) {
      return absl::DataLossError(absl::StrCat(
          name, ": truncated gzip stream (ends after ", consumed, " bytes)"));
    }
    if (rc == Z_BUF_ERROR) continue;  // output full: grow and go on
    return absl::DataLossError(absl::StrCat(
        name, ": corrupt gzip stream: ", zs.msg != nullptr ? zs.msg : "?"));
  }
}

}  // namespace

bool IsGzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

absl::StatusOr<std::string> Gunzip(std::string_view bytes,
                                   const std::string& name, size_t max_bytes) {
  if (!IsGzip(bytes)) {
    return absl::DataLossError(absl::StrCat(name, ": not a gzip stream"));
  }
  z_stream zs{};
  // 16 + MAX_WBITS: expect a gzip (not zlib) wrapper and check its CRC.
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return absl::InternalError(absl::StrCat(name, ": inflateInit2 failed"));
  }
  std::string out;
  out.resize(std::min(std::max<size_t>(SizeHint(bytes, max_bytes), 1 << 16),
                      std::max<size_t>(max_bytes, 1)));
  size_t produced = 0;
  const absl::Status status =
      InflateMembers(zs, bytes, name, max_bytes, out, &produced);
  inflateEnd(&zs);
  if (!status.ok()) return status;
  out.resize(produced);
  return out;
}

absl::StatusOr<std::string> ReadMaybeGzippedFile(const std::string& path,
                                                 size_t max_bytes) {
  absl::StatusOr<std::string> bytes = common::ReadWholeFile(path);
  if (!bytes.ok() || !IsGzip(*bytes)) return bytes;
  return Gunzip(*bytes, path, max_bytes);
}

absl::StatusOr<std::string> FindPlainOrGz(const std::string& path) {
  for (const std::string& candidate : {path, path + ".gz"}) {
    struct stat st;
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      return candidate;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("neither ", path, " nor ", path, ".gz exists"));
}

}  // namespace cddp::worker
