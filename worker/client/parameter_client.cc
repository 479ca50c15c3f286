// ParameterClient's overlapped PushPull (parameter_client.h): the parts'
// checks and bookkeeping, and the default implementation that gathers them
// and pushes once at the end.
#include "worker/client/parameter_client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cddp::worker {

absl::Status ParameterClient::PartsInFlight::Open(std::span<float> p) {
  if (open) {
    return absl::FailedPreconditionError(
        "BeginPushPull while an overlapped PushPull is open");
  }
  open = true;
  params = p;
  covered_from = p.size();
  parts.clear();
  return absl::OkStatus();
}

absl::Status ParameterClient::PartsInFlight::Add(
    uint64_t from, const common::SparseSelection& pairs) {
  if (!open) {
    return absl::FailedPreconditionError("PushPullPart before BeginPushPull");
  }
  if (from > covered_from) {
    return absl::InvalidArgumentError(
        absl::StrCat("a part from ", from, " is not below the last one's ",
                     covered_from, " (parts go from the top down)"));
  }
  if (pairs.indices.size() != pairs.values.size()) {
    return absl::InvalidArgumentError("a part's index and value counts differ");
  }
  for (size_t k = 0; k < pairs.size(); ++k) {
    const uint32_t i = pairs.indices[k];
    if (i < from || i >= covered_from || (k > 0 && i <= pairs.indices[k - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a part for [", from, ", ", covered_from, ") holds index ", i,
          " at position ", k, " (outside it, or not strictly ascending)"));
    }
  }
  covered_from = from;
  parts.push_back(pairs);
  return absl::OkStatus();
}

void ParameterClient::PartsInFlight::Collect(
    uint64_t begin, uint64_t end, common::SparseSelection* out) const {
  out->clear();
  // Parts came top down: the last one holds the lowest indices.
  for (auto part = parts.rbegin(); part != parts.rend(); ++part) {
    const auto& idx = part->indices;
    const auto lo = std::lower_bound(idx.begin(), idx.end(), begin);
    const auto hi = std::lower_bound(lo, idx.end(), end);
    const size_t a = static_cast<size_t>(lo - idx.begin());
    const size_t b = static_cast<size_t>(hi - idx.begin());
    out->indices.insert(out->indices.end(), lo, hi);
    out->values.insert(out->values.end(), part->values.begin() + a,
                       part->values.begin() + b);
  }
}

absl::Status ParameterClient::PartsInFlight::Close() {
  if (!open) {
    return absl::FailedPreconditionError(
        "FinishPushPull without BeginPushPull");
  }
  open = false;
  parts.clear();
  return absl::OkStatus();
}

absl::Status ParameterClient::BeginPushPull(std::span<float> params) {
  return default_parts_.Open(params);
}

absl::Status ParameterClient::PushPullPart(
    uint64_t from, const common::SparseSelection& pairs) {
  return default_parts_.Add(from, pairs);
}

absl::StatusOr<PushPullResult> ParameterClient::FinishPushPull(
    common::SparseSelection* undelivered) {
  common::SparseSelection all;
  default_parts_.Collect(0, default_parts_.params.size(), &all);
  CDDP_RETURN_IF_ERROR(default_parts_.Close());
  return PushPull(all, default_parts_.params, undelivered);
}

}  // namespace cddp::worker
