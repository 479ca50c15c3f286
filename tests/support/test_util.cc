#include "tests/support/test_util.h"

#include <cmath>
#include <cstdlib>
#include <random>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace cddp::testing {

common::SparseSelection RandomSelection(uint64_t seed, uint32_t n,
                                        double density) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution pick(density);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  common::SparseSelection s;
  for (uint32_t i = 0; i < n; ++i) {
    if (pick(rng)) {
      s.indices.push_back(i);
      s.values.push_back(value(rng));
    }
  }
  return s;
}

std::vector<float> RandomParams(uint64_t seed, size_t n) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> p(n);
  for (float& x : p) x = d(rng);
  return p;
}

ReferenceModel::ReferenceModel(const server::OptimizerOptions& opt,
                               std::vector<float> init)
    : opt_(opt), params_(std::move(init)) {
  buf1_.assign(params_.size(), 0.0f);
  buf2_.assign(params_.size(), 0.0f);
}

void ReferenceModel::Round(const std::vector<common::SparseSelection>& pushes,
                           const std::vector<bool>& present) {
  const size_t n = params_.size();
  std::vector<float> sum(n, 0.0f);
  uint32_t c = 0;
  for (size_t w = 0; w < pushes.size(); ++w) {
    if (!present[w]) continue;
    ++c;
    for (size_t k = 0; k < pushes[w].size(); ++k) {
      sum[pushes[w].indices[k]] += pushes[w].values[k];
    }
  }
  const float scale = 1.0f / static_cast<float>(c);
  ++t_;
  const float lr = opt_.lr, wd = opt_.weight_decay, mu = opt_.momentum;
  const float b1 = opt_.beta1, b2 = opt_.beta2;
  const float c1 =
      static_cast<float>(1.0 - std::pow(double{b1}, static_cast<double>(t_)));
  const float c2 =
      static_cast<float>(1.0 - std::pow(double{b2}, static_cast<double>(t_)));
  for (size_t i = 0; i < n; ++i) {
    float g = sum[i] * scale;
    if (wd != 0.0f) g = g + wd * params_[i];
    if (opt_.kind == server::OptimizerKind::kSgd) {
      if (mu == 0.0f) {
        params_[i] = params_[i] - lr * g;
      } else {
        buf1_[i] = mu * buf1_[i] + g;
        const float d = opt_.nesterov ? g + mu * buf1_[i] : buf1_[i];
        params_[i] = params_[i] - lr * d;
      }
    } else {
      buf1_[i] = b1 * buf1_[i] + (1.0f - b1) * g;
      buf2_[i] = b2 * buf2_[i] + (1.0f - b2) * (g * g);
      const float denom = std::sqrt(buf2_[i]) / std::sqrt(c2) + opt_.epsilon;
      params_[i] = params_[i] - (lr / c1) * (buf1_[i] / denom);
    }
  }
}

namespace {

// The map of `total_size` over `num_shards`, or (recording why in `status`)
// a one-element map, so that a bad option fails the test, not the binary.
common::ShardMap MapOrRecord(uint64_t total_size, uint32_t num_shards,
                             absl::Status* status) {
  auto map = common::ShardMap::Create(total_size, num_shards);
  if (map.ok()) return *std::move(map);
  *status = map.status();
  return *common::ShardMap::Create(1, 1);
}

}  // namespace

absl::Status MakeTestCertificates(const std::string& dir, uint32_t servers,
                                  uint32_t workers) {
  const std::string command = absl::StrCat(
      CDDP_SOURCE_DIR, "/scripts/make_certs.sh '", dir, "' --servers ", servers,
      " --workers ", workers, " --force > /dev/null");
  if (std::system(command.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("failed: ", command));
  }
  return absl::OkStatus();
}

TestCluster::TestCluster(const ClusterOptions& options, uint64_t total_size)
    : options_(options),
      map_(MapOrRecord(total_size, options.num_shards, &status_)) {
  if (!status_.ok()) {
    ADD_FAILURE() << "TestCluster: " << status_;
    return;
  }
  for (uint32_t s = 0; s < options.num_shards; ++s) {
    server::ServerOptions so;
    so.tls = options.tls_dir.empty()
                 ? common::Plaintext()
                 : common::TlsOptionsInDir(options.tls_dir,
                                           absl::StrCat("server-", s));
    so.listen = "127.0.0.1:0";
    so.shard.shard_index = s;
    so.shard.num_shards = options.num_shards;
    so.shard.num_workers = options.num_workers;
    so.shard.optimizer = options.optimizer;
    so.shard.downlink = options.downlink;
    so.shard.downlink_value_type = options.downlink_value_type;
    so.shard.sparse_piece_pairs = options.sparse_piece_pairs;
    so.shard.round_timeout = options.round_timeout;
    so.shard.reply_timeout = options.reply_timeout;
    so.clock = options.clock;
    so.registry = options.registry;
    so.max_message_mb = options.max_message_mb;
    so.piece_bytes = options.piece_bytes;
    so.poll_interval = absl::Milliseconds(1);
    so.shutdown_grace = absl::Seconds(2);
    auto server = server::Server::Create(so);
    if (server.ok()) status_ = (*server)->Start();
    if (!server.ok() || !status_.ok()) {
      if (status_.ok()) status_ = server.status();
      ADD_FAILURE() << "TestCluster: shard " << s << ": " << status_;
      return;
    }
    servers_.push_back(std::move(*server));
  }
}

TestCluster::~TestCluster() {
  for (auto& s : servers_) s->Shutdown();
}

std::vector<std::string> TestCluster::addresses() const {
  std::vector<std::string> out;
  for (const auto& s : servers_) {
    out.push_back(absl::StrCat("127.0.0.1:", s->port()));
  }
  return out;
}

std::unique_ptr<worker::ShardClient> TestCluster::NewClient(
    uint32_t worker_id, prometheus::Registry* registry, int max_attempts,
    absl::Duration deadline) const {
  auto client = NewClientWith(
      worker_id,
      options_.tls_dir.empty()
          ? common::Plaintext()
          : common::TlsOptionsInDir(options_.tls_dir,
                                    absl::StrCat("worker-", worker_id)),
      registry, max_attempts, deadline);
  if (!client.ok()) {
    ADD_FAILURE() << "TestCluster::NewClient(" << worker_id
                  << "): " << client.status();
    return nullptr;
  }
  return *std::move(client);
}

absl::StatusOr<std::unique_ptr<worker::ShardClient>> TestCluster::NewClientWith(
    uint32_t worker_id, const common::TlsOptions& tls,
    prometheus::Registry* registry, int max_attempts,
    absl::Duration deadline) const {
  worker::ShardClientOptions o;
  o.tls = tls;
  o.server_addresses = addresses();
  o.worker_id = worker_id;
  o.deadline = deadline;
  o.max_attempts = max_attempts;
  o.initial_backoff = absl::Milliseconds(5);
  o.max_message_mb = options_.max_message_mb;
  o.check_beside_push_from = options_.check_beside_push_from;
  o.push_piece_pairs = options_.push_piece_pairs;
  o.registry = registry;
  return worker::ShardClient::Create(map_, o);
}

std::vector<float> TestCluster::ServerValues() {
  std::vector<float> out;
  for (auto& s : servers_) {
    auto v = s->state().values();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

}  // namespace cddp::testing
