#include "common/tls/tls_credentials.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/record_file.h"
#include "common/status_macros.h"

namespace cddp::common {
namespace {

constexpr char kChoice[] =
    "give --tls_cert, --tls_key and --tls_ca (mutual TLS), or --plaintext to "
    "run without TLS";

struct Pem {
  std::string cert;
  std::string key;
  std::string ca;
};

// Reads `path`, which must hold a PEM block whose label ends in `label`.
absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view flag,
                                    absl::string_view label) {
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) {  // a bad argument to the program, whatever errno said
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": ", text.status().message()));
  }
  if (!absl::StrContains(*text, "-----BEGIN ") ||
      !absl::StrContains(*text, absl::StrCat(label, "-----"))) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": ", path, " holds no PEM ", absl::AsciiStrToLower(label)));
  }
  return text;
}

absl::StatusOr<Pem> ReadAll(const TlsOptions& options) {
  Pem pem;
  CDDP_ASSIGN_OR_RETURN(
      pem.cert, ReadPem(options.cert_file, "--tls_cert", "CERTIFICATE"));
  CDDP_ASSIGN_OR_RETURN(pem.key,
                        ReadPem(options.key_file, "--tls_key", "PRIVATE KEY"));
  CDDP_ASSIGN_OR_RETURN(pem.ca,
                        ReadPem(options.ca_file, "--tls_ca", "CERTIFICATE"));
  return pem;
}

}  // namespace

absl::Status CheckTlsOptions(const TlsOptions& options) {
  const int files = !options.cert_file.empty() + !options.key_file.empty() +
                    !options.ca_file.empty();
  if (options.plaintext) {
    if (files == 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "--plaintext cannot be combined with --tls_cert, --tls_key or "
        "--tls_ca");
  }
  if (files == 3) return absl::OkStatus();
  if (files == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("no transport security chosen: ", kChoice));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "mutual TLS needs all three of --tls_cert, --tls_key and --tls_ca; "
      "missing:",
      options.cert_file.empty() ? " --tls_cert" : "",
      options.key_file.empty() ? " --tls_key" : "",
      options.ca_file.empty() ? " --tls_ca" : ""));
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options) {
  CDDP_RETURN_IF_ERROR(CheckTlsOptions(options));
  if (options.plaintext) return grpc::InsecureServerCredentials();
  CDDP_ASSIGN_OR_RETURN(Pem pem, ReadAll(options));
  grpc::SslServerCredentialsOptions ssl(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = std::move(pem.ca);
  ssl.pem_key_cert_pairs.push_back({std::move(pem.key), std::move(pem.cert)});
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const TlsOptions& options) {
  CDDP_RETURN_IF_ERROR(CheckTlsOptions(options));
  if (options.plaintext) return grpc::InsecureChannelCredentials();
  CDDP_ASSIGN_OR_RETURN(Pem pem, ReadAll(options));
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = std::move(pem.ca);
  ssl.pem_private_key = std::move(pem.key);
  ssl.pem_cert_chain = std::move(pem.cert);
  return grpc::SslCredentials(ssl);
}

std::string WorkerCommonName(uint32_t worker_id) {
  return absl::StrCat("worker-", worker_id);
}

}  // namespace cddp::common
