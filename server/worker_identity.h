// Who may act as a worker: with mutual TLS (common/tls/tls_credentials.h)
// a peer may join and push only as the worker its client certificate
// names. The service checks every Join and every push against the call's
// authenticated peer before the shard sees it, so a refused call changes
// nothing.
//
// Thread-safe: a function of its arguments.
#ifndef CDDP_SERVER_WORKER_IDENTITY_H_
#define CDDP_SERVER_WORKER_IDENTITY_H_

#include <cstdint>

#include "absl/status/status.h"
#include "grpcpp/security/auth_context.h"

namespace cddp::server {

// OK when `peer` (a call's AuthContext; null for a plaintext call) may act
// as worker `worker_id`: its certificate's subject common name is
// common::WorkerCommonName(worker_id). UNAUTHENTICATED when the call
// carries no authenticated certificate; PERMISSION_DENIED naming both the
// certificate's name and the worker asked for otherwise.
absl::Status AuthorizeWorker(const grpc::AuthContext* peer, uint32_t worker_id);

}  // namespace cddp::server

#endif  // CDDP_SERVER_WORKER_IDENTITY_H_
