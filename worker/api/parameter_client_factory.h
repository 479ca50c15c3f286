// How ParameterSync reaches the servers: a factory of ParameterClients, so
// tests can inject an in-process cluster. No LibTorch.
#ifndef CDDP_WORKER_API_PARAMETER_CLIENT_FACTORY_H_
#define CDDP_WORKER_API_PARAMETER_CLIENT_FACTORY_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "cddp/options.h"
#include "common/wire/shard_map.h"
#include "worker/client/parameter_client.h"

namespace cddp::worker {

// Makes the connection to the servers once the parameters' flat size (and
// so the shard map) is known.
using ParameterClientFactory =
    std::function<absl::StatusOr<std::unique_ptr<ParameterClient>>(
        const common::ShardMap& shard_map)>;

// The default: gRPC to options.servers, as the options say (value type,
// index encoding, metrics, whether DGC applies momentum). `options` must be
// valid (ValidateSyncOptions).
ParameterClientFactory ShardClientFactory(const SyncOptions& options);

}  // namespace cddp::worker

#endif  // CDDP_WORKER_API_PARAMETER_CLIENT_FACTORY_H_
