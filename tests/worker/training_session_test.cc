// Tests for worker/training_session.h: real training (SimpleCNN on the first
// MNIST images) against an in-process cluster of parameter servers on
// loopback, a few steps, in seconds. Two workers train in two threads; both
// must end bit-identical to each other and to the servers. A fake
// ParameterClient shows the seam: a failed push puts its pairs back into the
// residual, and a resync carries on.
#include "worker/training_session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "tests/support/test_util.h"
#include "worker/worker_checkpoint.h"

namespace cddp::worker {
namespace {

bool HaveMnist() {
  return std::filesystem::exists(std::string(CDDP_DATA_DIR) +
                                 "/mnist/train-images-idx3-ubyte");
}

TrainerOptions SmallJob(uint32_t worker_id, uint32_t num_workers) {
  TrainerOptions o;
  o.data_dir = CDDP_DATA_DIR;
  o.sync.servers = {"in-process-0", "in-process-1"};  // two shards
  o.sync.plaintext = true;
  o.sync.worker_id = worker_id;
  o.sync.num_workers = num_workers;
  o.batch_size = 32;
  o.train_limit = 32 * 8 * num_workers;
  o.eval_limit = 200;
  o.max_steps = 6;
  o.threads = 1;
  o.sync.ratio = 0.01;
  o.device = DeviceRequest::kCpu;
  return o;
}

// Hands out clients of one in-process cluster, made on the first call (when
// the model's size is known).
class InProcessCluster {
 public:
  explicit InProcessCluster(
      uint32_t num_workers, float momentum = 0.9f,
      server::DownlinkMode downlink = server::DownlinkMode::kDense) {
    options_.num_shards = 2;
    options_.num_workers = num_workers;
    options_.optimizer.lr = 0.05f;
    options_.optimizer.momentum = momentum;
    options_.downlink = downlink;
  }
  ParameterClientFactory Factory(uint32_t worker_id) {
    return [this, worker_id](const common::ShardMap& map)
               -> absl::StatusOr<std::unique_ptr<ParameterClient>> {
      return std::unique_ptr<ParameterClient>(
          ClusterFor(map).NewClient(worker_id));
    };
  }
  // Clients made the way cddp-worker makes them (ShardClientFactory, from
  // `options`), connected to this cluster.
  ParameterClientFactory WorkerFactory(TrainerOptions options) {
    return [this, options](const common::ShardMap& map) mutable
           -> absl::StatusOr<std::unique_ptr<ParameterClient>> {
      options.sync.servers = ClusterFor(map).addresses();
      return ShardClientFactory(options.sync)(map);
    };
  }
  testing::TestCluster& cluster() { return *cluster_; }

 private:
  // The cluster, made on the first call.
  testing::TestCluster& ClusterFor(const common::ShardMap& map) {
    absl::MutexLock lock(&mu_);
    if (cluster_ == nullptr) {
      cluster_ =
          std::make_unique<testing::TestCluster>(options_, map.total_size());
    }
    return *cluster_;
  }

  testing::ClusterOptions options_;
  absl::Mutex mu_;
  std::unique_ptr<testing::TestCluster> cluster_;
};

// Trains every session to its end, one thread each; a failed step or push
// stops that session. Returns each session's error (OK when it finished),
// and appends worker 0's reports to `reports0` when given.
std::vector<absl::Status> TrainToTheEnd(
    std::vector<std::unique_ptr<TrainingSession>>& sessions,
    std::vector<StepReport>* reports0 = nullptr) {
  std::vector<absl::Status> errors(sessions.size());
  std::vector<std::thread> threads;
  for (size_t w = 0; w < sessions.size(); ++w) {
    threads.emplace_back([&, w] {
      while (!sessions[w]->done() && errors[w].ok()) {
        absl::StatusOr<StepReport> r = sessions[w]->RunStep();
        if (!r.ok())
          errors[w] = r.status();
        else if (!r->push_status.ok())
          errors[w] = r->push_status;
        else if (!(r->loss > 0 && r->bytes_sent > 0)) {
          errors[w] = absl::InternalError("empty step");
        } else if (w == 0 && reports0 != nullptr) {
          reports0->push_back(*r);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

TEST(TrainingSessionTest, TwoWorkersTrainBitIdenticalToTheServers) {
  if (!HaveMnist()) GTEST_SKIP() << "no MNIST under " << CDDP_DATA_DIR;
  InProcessCluster cluster(2);
  std::vector<std::unique_ptr<TrainingSession>> sessions;
  for (uint32_t w = 0; w < 2; ++w) {
    auto s = TrainingSession::Create(SmallJob(w, 2), DeviceChoice{},
                                     cluster.Factory(w));
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ((*s)->step(), 0u);
    EXPECT_EQ((*s)->total_steps(), 6u);
    sessions.push_back(std::move(*s));
  }
  EXPECT_TRUE(sessions[0]->has_test_set());
  EXPECT_FALSE(sessions[1]->has_test_set());
  const std::vector<absl::Status> errors = TrainToTheEnd(sessions);
  ASSERT_TRUE(errors[0].ok()) << errors[0];
  ASSERT_TRUE(errors[1].ok()) << errors[1];
  EXPECT_EQ(sessions[0]->step(), 6u);
  std::vector<ServerCheck> checks;
  for (auto& s : sessions) {
    auto check = s->CheckAgainstServers();
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_TRUE(check->params_match_servers);
    checks.push_back(*check);
  }
  EXPECT_EQ(checks[0].params_crc32, checks[1].params_crc32);
  auto ev = sessions[0]->Evaluate();
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_GT(ev->accuracy, 0.0);
  EXPECT_EQ(sessions[1]->Evaluate().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// A client that forwards to a real one but fails the push of one step,
// handing every pair back as undelivered.
class FailOnePush final : public ParameterClient {
 public:
  FailOnePush(std::unique_ptr<ParameterClient> real, uint64_t fail_at)
      : real_(std::move(real)), fail_at_(fail_at) {}
  absl::StatusOr<uint64_t> Join(std::span<const uint64_t> sizes,
                                std::span<float> params) override {
    ++joins_;
    return real_->Join(sizes, params);
  }
  absl::StatusOr<PushPullResult> PushPull(
      const common::SparseSelection& selection, std::span<float> params,
      common::SparseSelection* undelivered) override {
    if (pushes_++ == fail_at_) {
      *undelivered = selection;
      return absl::UnavailableError("injected: shard 0 unreachable");
    }
    return real_->PushPull(selection, params, undelivered);
  }
  absl::StatusOr<uint64_t> Pull(std::span<float> params) override {
    return real_->Pull(params);
  }
  int joins() const { return joins_; }

 private:
  std::unique_ptr<ParameterClient> real_;
  uint64_t fail_at_;
  uint64_t pushes_ = 0;
  int joins_ = 0;
};

TEST(TrainingSessionTest, AFailedPushIsReportedAndTheSessionRejoins) {
  if (!HaveMnist()) GTEST_SKIP() << "no MNIST under " << CDDP_DATA_DIR;
  InProcessCluster cluster(1);
  FailOnePush* fake = nullptr;
  ParameterClientFactory real = cluster.Factory(0);
  auto session = TrainingSession::Create(
      SmallJob(0, 1), DeviceChoice{},
      [&](const common::ShardMap& map)
          -> absl::StatusOr<std::unique_ptr<ParameterClient>> {
        auto client = real(map);
        if (!client.ok()) return client.status();
        auto f = std::make_unique<FailOnePush>(std::move(*client), 2);
        fake = f.get();
        return std::unique_ptr<ParameterClient>(std::move(f));
      });
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_NE(fake, nullptr);
  EXPECT_EQ(fake->joins(), 1);
  for (uint64_t i = 0; i < 2; ++i) {
    auto r = (*session)->RunStep();
    ASSERT_TRUE(r.ok() && r->push_status.ok());
  }
  auto failed = (*session)->RunStep();
  ASSERT_TRUE(failed.ok()) << failed.status();
  EXPECT_EQ(failed->push_status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(failed->pushed_step, 2u);
  EXPECT_EQ((*session)->step(), 2u);  // the servers did not move
  EXPECT_EQ(fake->joins(), 2);        // the session rejoined them
  while (!(*session)->done()) {
    auto r = (*session)->RunStep();
    ASSERT_TRUE(r.ok() && r->push_status.ok());
  }
  EXPECT_EQ((*session)->step(), 6u);
  auto check = (*session)->CheckAgainstServers();
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->params_match_servers);
}

// DGC: momentum on the workers, plain SGD on the servers with the exact
// sparse downlink; the density warms up from 25 % to 1 % over 4 steps. The
// workers stay bit-identical to the servers, and the velocity goes into the
// worker's checkpoint and comes back from it.
TEST(TrainingSessionTest, DgcWithWarmUpTrainsBitIdenticalOnPlainSgdServers) {
  if (!HaveMnist()) GTEST_SKIP() << "no MNIST under " << CDDP_DATA_DIR;
  InProcessCluster cluster(2, /*momentum=*/0, server::DownlinkMode::kSparse);
  const std::string dir = ::testing::TempDir() + "/dgc_session";
  std::filesystem::remove_all(dir);
  std::vector<std::unique_ptr<TrainingSession>> sessions;
  for (uint32_t w = 0; w < 2; ++w) {
    TrainerOptions o = SmallJob(w, 2);
    o.sync.dgc_momentum = 0.9;
    o.sync.momentum_masking = true;
    o.sync.clip_norm = 10;
    o.sync.density_warmup_steps = 4;
    o.sync.density_warmup_start = 0.25;
    o.sync.checkpoint_dir = dir;
    auto s = TrainingSession::Create(o, DeviceChoice{}, cluster.Factory(w));
    ASSERT_TRUE(s.ok()) << s.status();
    sessions.push_back(std::move(*s));
  }
  std::vector<StepReport> reports;
  const std::vector<absl::Status> errors = TrainToTheEnd(sessions, &reports);
  ASSERT_TRUE(errors[0].ok()) << errors[0];
  ASSERT_TRUE(errors[1].ok()) << errors[1];
  ASSERT_EQ(reports.size(), 6u);
  EXPECT_GT(reports[0].density, 0.2);
  for (int i = 1; i <= 4; ++i) {
    EXPECT_LT(reports[i].density, reports[i - 1].density) << i;
  }
  EXPECT_EQ(reports[5].density, reports[4].density);  // at the target
  EXPECT_LT(reports[5].density, 0.05);
  for (auto& s : sessions) {
    auto check = s->CheckAgainstServers();
    ASSERT_TRUE(check.ok()) << check.status();
    EXPECT_TRUE(check->params_match_servers);
  }

  ASSERT_TRUE(sessions[0]->SaveCheckpoint().ok());
  auto saved = LoadWorkerCheckpoint(dir, 0);
  ASSERT_TRUE(saved.ok() && saved->has_value()) << saved.status();
  const std::vector<float> velocity = (*saved)->velocity;
  ASSERT_EQ(velocity.size(), sessions[0]->info().num_parameters);
  EXPECT_TRUE(std::any_of(velocity.begin(), velocity.end(),
                          [](float v) { return v != 0; }));
  // A new session resumes the velocity (and saves it back unchanged).
  sessions[0].reset();
  TrainerOptions o = SmallJob(0, 2);
  o.sync.dgc_momentum = 0.9;
  o.sync.checkpoint_dir = dir;
  auto resumed = TrainingSession::Create(o, DeviceChoice{}, cluster.Factory(0));
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  std::filesystem::remove(WorkerCheckpointPath(dir, 0));
  ASSERT_TRUE((*resumed)->SaveCheckpoint().ok());
  auto again = LoadWorkerCheckpoint(dir, 0);
  ASSERT_TRUE(again.ok() && again->has_value()) << again.status();
  EXPECT_EQ((*again)->velocity, velocity);
}

// DGC workers against servers that run momentum themselves: refused at the
// join, saying why, before any step.
TEST(TrainingSessionTest, DgcAgainstServersWithMomentumIsRefused) {
  if (!HaveMnist()) GTEST_SKIP() << "no MNIST under " << CDDP_DATA_DIR;
  InProcessCluster cluster(1, /*momentum=*/0.9f);
  TrainerOptions o = SmallJob(0, 1);
  o.sync.dgc_momentum = 0.9;
  auto s = TrainingSession::Create(o, DeviceChoice{}, cluster.WorkerFactory(o));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("momentum would apply twice"),
            std::string::npos)
      << s.status();
}

TEST(TrainingSessionTest, BadOptionsAreRefusedBeforeAnythingLoads) {
  TrainerOptions o = SmallJob(0, 1);
  o.sync.ratio = 0;
  auto s = TrainingSession::Create(
      o, DeviceChoice{},
      [](const common::ShardMap&)
          -> absl::StatusOr<std::unique_ptr<ParameterClient>> {
        ADD_FAILURE() << "no client expected";
        return absl::InternalError("unexpected");
      });
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("--ratio"), std::string::npos);
  o.sync.ratio = 0.01;
  o.sync.dgc_momentum = 1.5;
  s = TrainingSession::Create(o, DeviceChoice{}, nullptr);
  EXPECT_NE(s.status().message().find("--dgc_momentum"), std::string::npos)
      << s.status();
  o.sync.dgc_momentum = 0.9;
  o.sync.density_warmup_steps = 10;
  o.sync.density_warmup_start = 0.001;  // below the target
  s = TrainingSession::Create(o, DeviceChoice{}, nullptr);
  EXPECT_NE(s.status().message().find("--density_warmup_start"),
            std::string::npos)
      << s.status();
}

}  // namespace
}  // namespace cddp::worker
