#include "proto/status_convert.h"

#include <string>

#include "absl/strings/numbers.h"

namespace cddp::proto {

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
