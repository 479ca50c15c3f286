// Transport security for the job's gRPC channels: either mutual TLS, where
// every process has a certificate and key signed by the job's CA and
// verifies its peer's against that CA, or plaintext, which must be asked
// for by name (TlsOptions::plaintext). There is no third choice: TLS that
// does not verify the client would let anyone who reaches a server join as
// any worker, as plaintext does.
//
// A worker's certificate names it: its subject common name is
// WorkerCommonName(id) ("worker-<id>"), and a server serving mutual TLS lets
// a peer join and push only as the worker its certificate names
// (server/worker_identity.h). Servers' certificates carry the names and
// addresses workers dial as subject alternative names, which the workers
// check. scripts/make_certs.sh makes a development CA and such certificates.
//
// Thread-safe: plain functions of their arguments (they read files).
#ifndef CDDP_COMMON_TLS_TLS_CREDENTIALS_H_
#define CDDP_COMMON_TLS_TLS_CREDENTIALS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tls/tls_options.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace cddp::common {

// OK for a valid choice; INVALID_ARGUMENT naming the flags (--tls_cert,
// --tls_key, --tls_ca, --plaintext) when none was made, a file is missing
// from the three, or plaintext comes with files.
absl::Status CheckTlsOptions(const TlsOptions& options);

// A server's credentials: plaintext, or TLS with options' certificate that
// requires and verifies a client certificate signed by options' CA. Errors
// as CheckTlsOptions, or INVALID_ARGUMENT naming the flag and file for a
// file that cannot be read or holds no PEM certificate (for the key: no
// PEM private key). Whether the key matches the certificate is found when
// the server starts (Server::Start fails) or at the first handshake.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options);

// A client's credentials: plaintext, or TLS that presents options'
// certificate and verifies the server's against options' CA (including
// its name: the address dialled must be one of its certificate's subject
// alternative names). Errors as MakeServerCredentials.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const TlsOptions& options);

// The subject common name of worker `worker_id`'s certificate: "worker-<id>".
std::string WorkerCommonName(uint32_t worker_id);

}  // namespace cddp::common

#endif  // CDDP_COMMON_TLS_TLS_CREDENTIALS_H_
