// Implementation of idx_reader.h.
#include "worker/data/idx_reader.h"

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "worker/data/gzip_file.h"

namespace cddp::worker {
namespace {

uint32_t BigEndianU32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (static_cast<uint32_t>(u[0]) << 24) |
         (static_cast<uint32_t>(u[1]) << 16) |
         (static_cast<uint32_t>(u[2]) << 8) | static_cast<uint32_t>(u[3]);
}

// Checks magic and size; returns the dimensions. The product of the
// dimensions is compared with the byte count before anything is allocated,
// so a corrupt header cannot trigger a huge allocation.
absl::StatusOr<std::vector<uint32_t>> ParseHeader(std::string_view bytes,
                                                  const std::string& name,
                                                  uint32_t magic,
                                                  const char* what) {
  if (bytes.size() < 4) {
    return absl::DataLossError(absl::StrCat(
        name, ": truncated IDX file (", bytes.size(), " bytes, no header)"));
  }
  const uint32_t got = BigEndianU32(bytes.data());
  if (got != magic) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: not an IDX %s file (magic 0x%08x, expected 0x%08x)", name, what,
        got, magic));
  }
  const size_t ndims = magic & 0xff;
  const size_t header = 4 + 4 * ndims;
  if (bytes.size() < header) {
    return absl::DataLossError(absl::StrCat(name, ": truncated IDX header (",
                                            bytes.size(), " of ", header,
                                            " bytes)"));
  }
  std::vector<uint32_t> dims(ndims);
  uint64_t payload = 1;
  for (size_t d = 0; d < ndims; ++d) {
    dims[d] = BigEndianU32(bytes.data() + 4 + 4 * d);
    if (dims[d] == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": IDX dimension ", d, " is zero"));
    }
    payload *= dims[d];  // at most 3 factors < 2^32 each: checked below
    if (payload > (uint64_t{1} << 40)) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": IDX dimensions are implausibly large"));
    }
  }
  const uint64_t have = bytes.size() - header;
  if (have < payload) {
    return absl::DataLossError(
        absl::StrCat(name, ": truncated IDX file: header promises ", payload,
                     " data bytes, file has ", have));
  }
  if (have > payload) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": ", have - payload, " unexpected bytes after the IDX data"));
  }
  return dims;
}

}  // namespace

absl::StatusOr<IdxImages> ParseIdxImages(std::string_view bytes,
                                         const std::string& name) {
  CDDP_ASSIGN_OR_RETURN(std::vector<uint32_t> dims,
                        ParseHeader(bytes, name, kIdxImagesMagic, "image"));
  IdxImages out;
  out.count = dims[0];
  out.rows = dims[1];
  out.cols = dims[2];
  const size_t n = static_cast<size_t>(out.count * out.rows * out.cols);
  out.pixels.resize(n);
  std::memcpy(out.pixels.data(), bytes.data() + 16, n);
  return out;
}

absl::StatusOr<std::vector<uint8_t>> ParseIdxLabels(std::string_view bytes,
                                                    const std::string& name,
                                                    int num_classes) {
  CDDP_ASSIGN_OR_RETURN(std::vector<uint32_t> dims,
                        ParseHeader(bytes, name, kIdxLabelsMagic, "label"));
  std::vector<uint8_t> labels(dims[0]);
  std::memcpy(labels.data(), bytes.data() + 8, labels.size());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= num_classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": label ", static_cast<int>(labels[i]), " at index ", i,
          " is out of range [0, ", num_classes, ")"));
    }
  }
  return labels;
}

absl::StatusOr<RawImageSet> ReadIdxPair(const std::string& images_path,
                                        const std::string& labels_path,
                                        int num_classes) {
  IdxImages images;
  {
    // Scoped so the file bytes are freed before the labels are read.
    CDDP_ASSIGN_OR_RETURN(std::string bytes, ReadMaybeGzippedFile(images_path));
    CDDP_ASSIGN_OR_RETURN(images, ParseIdxImages(bytes, images_path));
  }
  CDDP_ASSIGN_OR_RETURN(std::string label_bytes,
                        ReadMaybeGzippedFile(labels_path));
  CDDP_ASSIGN_OR_RETURN(std::vector<uint8_t> labels,
                        ParseIdxLabels(label_bytes, labels_path, num_classes));
  if (static_cast<int64_t>(labels.size()) != images.count) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path, " holds ", images.count, " images but ",
                     labels_path, " holds ", labels.size(), " labels"));
  }
  RawImageSet set;
  set.count = images.count;
  set.channels = 1;
  set.rows = images.rows;
  set.cols = images.cols;
  set.num_classes = num_classes;
  set.pixels = std::move(images.pixels);
  set.labels = std::move(labels);
  return set;
}

absl::StatusOr<RawImageSet> ReadIdxSplit(const std::string& dir, bool train,
                                         int num_classes) {
  const std::string prefix = absl::StrCat(dir, "/", train ? "train" : "t10k");
  CDDP_ASSIGN_OR_RETURN(std::string images,
                        FindPlainOrGz(prefix + "-images-idx3-ubyte"));
  CDDP_ASSIGN_OR_RETURN(std::string labels,
                        FindPlainOrGz(prefix + "-labels-idx1-ubyte"));
  return ReadIdxPair(images, labels, num_classes);
}

}  // namespace cddp::worker
