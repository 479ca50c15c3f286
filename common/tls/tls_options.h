// TlsOptions: which transport security a process's gRPC channels use
// (common/tls/tls_credentials.h builds the credentials). A plain struct with
// no gRPC, so the flag libraries can fill it.
#ifndef CDDP_COMMON_TLS_TLS_OPTIONS_H_
#define CDDP_COMMON_TLS_TLS_OPTIONS_H_

#include <string>

namespace cddp::common {

// What a process's channels use. Valid (common::CheckTlsOptions) when plaintext
// is set and no file is given, or plaintext is not set and all three files are.
struct TlsOptions {
  std::string cert_file;   // this process's certificate chain, PEM
  std::string key_file;    // its private key, PEM
  std::string ca_file;     // the CA that signs the job's peers, PEM
  bool plaintext = false;  // no TLS: asked for explicitly, never a default

  bool tls() const { return !plaintext; }
};

// Plaintext, asked for by name (tests and in-process benchmarks).
inline TlsOptions Plaintext() { return {"", "", "", true}; }

// Mutual TLS from the files scripts/make_certs.sh writes into `dir` for
// process `name` ("server-0", "worker-3"): name.crt, name.key, ca.crt.
inline TlsOptions TlsOptionsInDir(const std::string& dir,
                                  const std::string& name) {
  return {dir + "/" + name + ".crt", dir + "/" + name + ".key", dir + "/ca.crt",
          false};
}

}  // namespace cddp::common

#endif  // CDDP_COMMON_TLS_TLS_OPTIONS_H_
