// The one place where absl::Status and grpc::Status are converted into each
// other. The canonical codes are numerically identical in both libraries;
// the message travels unchanged. Stateless; safe from any thread.
#ifndef CDDP_PROTO_STATUS_CONVERT_H_
#define CDDP_PROTO_STATUS_CONVERT_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace cddp::proto {

// Trailing-metadata key carrying the step a shard expects next, attached to
// every rejection caused by a step mismatch so a worker can resynchronise
// without parsing the message.
inline constexpr char kCurrentStepMetadataKey[] = "cddp-current-step";

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

// The value of kCurrentStepMetadataKey in `context`'s trailing metadata, if
// present and a valid decimal number. Call only after the RPC finished.
std::optional<uint64_t> CurrentStepFromTrailers(
    const grpc::ClientContext& context);

}  // namespace cddp::proto

#endif  // CDDP_PROTO_STATUS_CONVERT_H_
