#include "proto/status_convert.h"

#include <string>

#include "absl/strings/numbers.h"

namespace cddp::proto {
namespace {

// The codes are cast, not mapped: they must be numerically the same.
static_assert(static_cast<int>(absl::StatusCode::kInvalidArgument) ==
              grpc::StatusCode::INVALID_ARGUMENT);
static_assert(static_cast<int>(absl::StatusCode::kFailedPrecondition) ==
              grpc::StatusCode::FAILED_PRECONDITION);
static_assert(static_cast<int>(absl::StatusCode::kUnavailable) ==
              grpc::StatusCode::UNAVAILABLE);
static_assert(static_cast<int>(absl::StatusCode::kDataLoss) ==
              grpc::StatusCode::DATA_LOSS);
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) ==
              grpc::StatusCode::UNAUTHENTICATED);

}  // namespace

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

std::optional<uint64_t> CurrentStepFromTrailers(
    const grpc::ClientContext& context) {
  const auto& trailers = context.GetServerTrailingMetadata();
  const auto it = trailers.find(kCurrentStepMetadataKey);
  if (it == trailers.end()) return std::nullopt;
  uint64_t step = 0;
  if (!absl::SimpleAtoi(std::string(it->second.data(), it->second.size()),
                        &step)) {
    return std::nullopt;
  }
  return step;
}

}  // namespace cddp::proto
