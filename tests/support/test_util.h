// Test helpers shared by the server and shard-client tests: random sparse
// gradients, a serial reference of the shard's aggregation and optimizers
// (written independently of server/optimizer.cc, same float expressions),
// and an in-process cluster of parameter servers on loopback.
#ifndef CDDP_TESTS_SUPPORT_TEST_UTIL_H_
#define CDDP_TESTS_SUPPORT_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/compress/sparse.h"
#include "common/wire/shard_map.h"
#include "server/server.h"
#include "worker/client/shard_client.h"

namespace cddp::testing {

// A selection of about density * n distinct ascending indices in [0, n)
// with values in [-1, 1), determined by `seed`.
common::SparseSelection RandomSelection(uint64_t seed, uint32_t n,
                                        double density);
// Initial parameters determined by `seed`.
std::vector<float> RandomParams(uint64_t seed, size_t n);

// The serial reference: applies one round (pushes summed in worker order,
// averaged, optimizer step) to the whole flat vector.
class ReferenceModel {
 public:
  ReferenceModel(const server::OptimizerOptions& opt, std::vector<float> init);
  // `pushes[w]` is worker w's flat selection; `present[w]` whether it
  // contributed. Shards are independent and apply the same arithmetic
  // element-wise, so the flat vector can be updated as one.
  void Round(const std::vector<common::SparseSelection>& pushes,
             const std::vector<bool>& present);
  const std::vector<float>& params() const { return params_; }

 private:
  server::OptimizerOptions opt_;
  std::vector<float> params_;
  std::vector<float> buf1_, buf2_;
  uint64_t t_ = 0;
};

struct ClusterOptions {
  uint32_t num_shards = 2;
  uint32_t num_workers = 3;
  server::OptimizerOptions optimizer;
  server::DownlinkMode downlink = server::DownlinkMode::kDense;
  common::ValueType downlink_value_type = common::ValueType::kFp32;
  absl::Duration round_timeout = absl::Seconds(60);
  absl::Duration reply_timeout = absl::Seconds(10);
  server::Clock* clock = nullptr;
  std::shared_ptr<prometheus::Registry> registry;  // shared by all shards
  int max_message_mb = 64;
  size_t piece_bytes = 4096;         // small, so replies take several pieces
  uint32_t sparse_piece_pairs = 64;  // likewise for sparse replies
  size_t push_piece_pairs = 256;     // and for the clients' pushes
  // Whole-vector pushes at least this large stream while their order is
  // checked (ShardClientOptions).
  size_t check_beside_push_from = size_t{1} << 20;
  // Mutual TLS with the files MakeTestCertificates wrote there (server-<s>,
  // worker-<w>); empty: plaintext.
  std::string tls_dir;
};

// Writes a development CA and certificates for `servers` servers and
// `workers` workers into `dir` with scripts/make_certs.sh (as
// cddp-launch --tls_dir expects them). INTERNAL if the script fails.
absl::Status MakeTestCertificates(const std::string& dir, uint32_t servers,
                                  uint32_t workers);

// S servers on 127.0.0.1 ephemeral ports. A construction that fails (bad
// options, no port) fails the current test (ADD_FAILURE) and leaves status()
// not ok and fewer servers than asked for: tests start with
// ASSERT_OK(cluster.status()). Not thread-safe; the servers are.
class TestCluster {
 public:
  TestCluster(const ClusterOptions& options, uint64_t total_size);
  ~TestCluster();

  // OK when every server started.
  const absl::Status& status() const { return status_; }

  const common::ShardMap& shard_map() const { return map_; }
  std::vector<std::string> addresses() const;
  server::Server& server(uint32_t s) { return *servers_[s]; }
  // A client for `worker_id`; `registry` optional. On failure (which valid
  // cluster options do not produce) fails the current test and returns
  // nullptr.
  std::unique_ptr<worker::ShardClient> NewClient(
      uint32_t worker_id, prometheus::Registry* registry = nullptr,
      int max_attempts = 3, absl::Duration deadline = absl::Seconds(60)) const;
  // A client for `worker_id` with `tls` instead of the cluster's choice (a
  // certificate of another worker, of another CA); its creation's error.
  absl::StatusOr<std::unique_ptr<worker::ShardClient>> NewClientWith(
      uint32_t worker_id, const common::TlsOptions& tls,
      prometheus::Registry* registry = nullptr, int max_attempts = 3,
      absl::Duration deadline = absl::Seconds(60)) const;
  // The servers' values concatenated (no round may be closing).
  std::vector<float> ServerValues();

 private:
  ClusterOptions options_;
  absl::Status status_;
  common::ShardMap map_;
  std::vector<std::unique_ptr<server::Server>> servers_;
};

}  // namespace cddp::testing

#endif  // CDDP_TESTS_SUPPORT_TEST_UTIL_H_
