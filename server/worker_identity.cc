#include "server/worker_identity.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/tls/tls_credentials.h"
#include "grpc/grpc_security_constants.h"

namespace cddp::server {

absl::Status AuthorizeWorker(const grpc::AuthContext* peer,
                             uint32_t worker_id) {
  if (peer == nullptr || !peer->IsPeerAuthenticated()) {
    return absl::UnauthenticatedError(
        absl::StrCat("worker ", worker_id,
                     ": the call carries no verified client certificate"));
  }
  const std::vector<grpc::string_ref> names =
      peer->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
  const std::string wanted = common::WorkerCommonName(worker_id);
  std::string found;
  for (const grpc::string_ref& name : names) {
    const std::string n(name.data(), name.size());
    if (n == wanted) return absl::OkStatus();
    found = n;
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "the client certificate is for '", found.empty() ? "(no name)" : found,
      "', which may not act as worker ", worker_id,
      " (its certificate "
      "must name '",
      wanted, "')"));
}

}  // namespace cddp::server
