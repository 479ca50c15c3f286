#include "server/shard/shard_options.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/wire/shard_map.h"

namespace cddp::server {

absl::StatusOr<DownlinkMode> ParseDownlinkMode(absl::string_view name) {
  if (name == "dense") return DownlinkMode::kDense;
  if (name == "sparse") return DownlinkMode::kSparse;
  if (name == "compressed") return DownlinkMode::kCompressed;
  return absl::InvalidArgumentError(
      absl::StrCat("must be dense, sparse or compressed, got '", name, "'"));
}

absl::string_view DownlinkModeName(DownlinkMode mode) {
  switch (mode) {
    case DownlinkMode::kDense:
      return "dense";
    case DownlinkMode::kSparse:
      return "sparse";
    case DownlinkMode::kCompressed:
      return "compressed";
  }
  return "unknown";
}

absl::StatusOr<std::optional<double>> ParseDownlinkDensity(
    absl::string_view text) {
  if (text == "auto") return std::nullopt;
  double d = 0;
  if (!absl::SimpleAtod(text, &d) || !(d > 0 && d <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "must be 'auto' or a density in (0, 1], got '", text, "'"));
  }
  return d;
}

absl::Status ShardOptions::Validate() const {
  if (num_shards == 0 || shard_index >= num_shards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "shard_index ", shard_index, " must be below num_shards ", num_shards));
  }
  if (num_workers == 0 || num_workers > kMaxWorkers) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_workers must be in [1, ", kMaxWorkers,
                     "] (kMaxWorkers), got ", num_workers));
  }
  if (round_timeout <= absl::ZeroDuration() ||
      reply_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "round_timeout and reply_timeout must be positive");
  }
  if (threads < 1 || threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be in [1, 256], got ", threads));
  }
  if (sparse_piece_pairs == 0) {
    return absl::InvalidArgumentError("sparse_piece_pairs must be positive");
  }
  if (auto s = optimizer.Validate(); !s.ok()) return s;
  if (downlink_density.has_value() &&
      !(*downlink_density > 0 && *downlink_density <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "downlink density must be in (0, 1], got ", *downlink_density));
  }
  if (downlink != DownlinkMode::kCompressed &&
      (downlink_density.has_value() ||
       downlink_value_type != common::ValueType::kFp32)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a downlink density or value type applies only to the compressed "
        "downlink, not to --downlink=",
        DownlinkModeName(downlink)));
  }
  if (downlink == DownlinkMode::kSparse && !optimizer.IsPlainSgd()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the sparse downlink is exact only for plain SGD (no momentum, no "
        "weight decay) on the server, got ",
        optimizer.DebugString(),
        "; use --downlink=compressed, or keep momentum on the workers "
        "(--dgc_momentum)"));
  }
  return absl::OkStatus();
}

absl::Status CheckLayout(const Layout& layout, uint32_t num_shards,
                         const Layout* established) {
  const auto& b = layout.shard_bounds;
  if (b.size() != size_t{num_shards} + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("layout has ", b.size(), " shard bounds; this job has ",
                     num_shards, " shards (want ", num_shards + 1, ")"));
  }
  if (auto m = common::ShardMap::FromBounds(b); !m.ok()) return m.status();
  if (b.back() != layout.total_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("layout total_size ", layout.total_size,
                     " != last shard bound ", b.back()));
  }
  uint64_t sum = 0;
  for (uint64_t t : layout.tensor_sizes) {
    // Each size at most the total, so the sum cannot wrap around 2^64 into
    // the right total before it is compared.
    if (t > layout.total_size || sum > layout.total_size - t) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor sizes add up to more than total_size ", layout.total_size));
    }
    sum += t;
  }
  if (sum != layout.total_size) {
    return absl::InvalidArgumentError(absl::StrCat("tensor sizes add up to ",
                                                   sum, ", not total_size ",
                                                   layout.total_size));
  }
  if (established == nullptr) return absl::OkStatus();
  const auto mismatch = [](const char* what, const std::string& mine,
                           const std::string& theirs) {
    return absl::FailedPreconditionError(
        absl::StrCat("layout fingerprint mismatch: ", what, " is ", theirs,
                     " but the shard was initialised with ", mine));
  };
  if (layout.total_size != established->total_size) {
    return mismatch("total_size", absl::StrCat(established->total_size),
                    absl::StrCat(layout.total_size));
  }
  if (layout.shard_bounds != established->shard_bounds) {
    return mismatch("shard_bounds",
                    absl::StrJoin(established->shard_bounds, ","),
                    absl::StrJoin(layout.shard_bounds, ","));
  }
  if (layout.tensor_sizes != established->tensor_sizes) {
    return mismatch(
        "tensor_sizes",
        absl::StrCat(established->tensor_sizes.size(), " tensors [",
                     absl::StrJoin(established->tensor_sizes, ","), "]"),
        absl::StrCat(layout.tensor_sizes.size(), " tensors [",
                     absl::StrJoin(layout.tensor_sizes, ","), "]"));
  }
  return absl::OkStatus();
}

}  // namespace cddp::server
