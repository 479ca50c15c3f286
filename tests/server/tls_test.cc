// Mutual TLS end to end over loopback: in-process servers and shard clients
// with the certificates scripts/make_certs.sh makes. Who is let in (a
// worker's own certificate), who is not (no certificate, plaintext, another
// CA, another worker's certificate), that a refused call changes nothing,
// and that rounds through TLS give the same values as plaintext, bit for
// bit.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/tls/tls_credentials.h"
#include "gtest/gtest.h"
#include "tests/support/raw_push.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"

namespace cddp::testing {
namespace {

constexpr uint32_t kN = 4000;
constexpr uint32_t kW = 2;

std::vector<uint64_t> Sizes() { return {3000, 1000}; }

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/cddp_tls_" +
                           std::to_string(::getpid()));
    other_ = new std::string(*dir_ + "-other");
    ASSERT_OK(MakeTestCertificates(*dir_, 2, kW));
    ASSERT_OK(MakeTestCertificates(*other_, 2, kW));  // another CA
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*dir_);
    std::filesystem::remove_all(*other_);
    delete dir_;
    delete other_;
  }

  static ClusterOptions Options(bool tls) {
    ClusterOptions o;
    o.num_shards = 2;
    o.num_workers = kW;
    o.optimizer.lr = 0.1f;
    o.optimizer.momentum = 0.9f;
    if (tls) o.tls_dir = *dir_;
    return o;
  }

  static std::string* dir_;
  static std::string* other_;
};
std::string* TlsTest::dir_ = nullptr;
std::string* TlsTest::other_ = nullptr;

// Every worker joins (worker 0 first, with `init`) and pushes `steps`
// rounds of seeded selections; returns the servers' values.
std::vector<float> Train(TestCluster& cluster, const std::vector<float>& init,
                         uint64_t steps) {
  std::vector<std::unique_ptr<worker::ShardClient>> clients;
  std::vector<std::vector<float>> params(kW, init);
  for (uint32_t w = 0; w < kW; ++w) {
    clients.push_back(cluster.NewClient(w));
    if (clients.back() == nullptr) return {};
    auto joined = clients[w]->Join(Sizes(), params[w]);
    EXPECT_OK(joined.status());
  }
  for (uint64_t step = 0; step < steps; ++step) {
    std::vector<std::thread> threads;
    for (uint32_t w = 0; w < kW; ++w) {
      threads.emplace_back([&, w] {
        common::SparseSelection undelivered;
        auto r = clients[w]->PushPull(step,
                                      RandomSelection(100 * step + w, kN, 0.05),
                                      params[w], &undelivered);
        EXPECT_OK(r.status());
      });
    }
    for (auto& t : threads) t.join();
  }
  for (uint32_t w = 1; w < kW; ++w) EXPECT_EQ(params[w], params[0]);
  EXPECT_EQ(params[0], cluster.ServerValues());
  return cluster.ServerValues();
}

TEST_F(TlsTest, TrainingThroughTlsEqualsPlaintextBitForBit) {
  const std::vector<float> init = RandomParams(7, kN);
  TestCluster plain(Options(false), kN);
  ASSERT_OK(plain.status());
  TestCluster tls(Options(true), kN);
  ASSERT_OK(tls.status());
  const std::vector<float> a = Train(plain, init, 5);
  const std::vector<float> b = Train(tls, init, 5);
  ASSERT_EQ(a.size(), kN);
  ASSERT_EQ(b.size(), kN);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), kN * sizeof(float)), 0);
  EXPECT_NE(a, init);  // the rounds did change the values
}

TEST_F(TlsTest, AWorkerMayNotJoinOrPushAsAnother) {
  TestCluster cluster(Options(true), kN);
  ASSERT_OK(cluster.status());
  const std::vector<float> init = RandomParams(3, kN);
  // Worker 1's certificate claiming to be worker 0, first to join: it would
  // set the shards' initial values.
  auto impostor = cluster.NewClientWith(
      0, common::TlsOptionsInDir(*dir_, "worker-1"), nullptr, 1);
  ASSERT_OK(impostor.status());
  std::vector<float> params = init;
  const absl::Status joined = (*impostor)->Join(Sizes(), params).status();
  EXPECT_EQ(joined.code(), absl::StatusCode::kPermissionDenied) << joined;
  EXPECT_NE(joined.message().find("'worker-1'"), std::string::npos) << joined;
  EXPECT_NE(joined.message().find("worker 0"), std::string::npos) << joined;
  // Nothing changed: no shard was initialised by it.
  EXPECT_EQ(cluster.server(0).state().size(), 0u);
  EXPECT_EQ(cluster.server(1).state().size(), 0u);

  // The genuine workers join; the impostor's push for worker 0 is refused
  // and worker 0's own push is the one that counts.
  auto w0 = cluster.NewClient(0);
  auto w1 = cluster.NewClient(1);
  ASSERT_NE(w0, nullptr);
  ASSERT_NE(w1, nullptr);
  std::vector<float> p0 = init, p1 = init;
  ASSERT_OK(w0->Join(Sizes(), p0).status());
  ASSERT_OK(w1->Join(Sizes(), p1).status());
  common::SparseSelection undelivered;
  const absl::Status pushed =
      (*impostor)
          ->PushPull(0, RandomSelection(99, kN, 0.5), params, &undelivered)
          .status();
  EXPECT_EQ(pushed.code(), absl::StatusCode::kPermissionDenied) << pushed;
  EXPECT_EQ(cluster.server(0).state().pushed_count(), 0u);
  EXPECT_EQ(cluster.server(1).state().pushed_count(), 0u);

  ReferenceModel reference(Options(true).optimizer, init);
  std::vector<common::SparseSelection> pushes = {RandomSelection(1, kN, 0.05),
                                                 RandomSelection(2, kN, 0.05)};
  std::thread t0([&] {
    common::SparseSelection u;
    EXPECT_OK(w0->PushPull(0, pushes[0], p0, &u).status());
  });
  std::thread t1([&] {
    common::SparseSelection u;
    EXPECT_OK(w1->PushPull(0, pushes[1], p1, &u).status());
  });
  t0.join();
  t1.join();
  reference.Round(pushes, {true, true});
  EXPECT_EQ(cluster.ServerValues(), reference.params());
}

// Both push RPCs, as a foreign client would send them: refused before the
// shard looks at them when the certificate names another worker.
TEST_F(TlsTest, BothPushRpcsCheckTheWorkerAgainstTheCertificate) {
  TestCluster cluster(Options(true), kN);
  ASSERT_OK(cluster.status());
  auto credentials = common::MakeChannelCredentials(
      common::TlsOptionsInDir(*dir_, "worker-1"));
  ASSERT_OK(credentials.status());
  auto stub = RawStub(cluster.addresses()[0], *credentials);
  for (uint32_t worker : {0u, 1u}) {
    SCOPED_TRACE(worker);
    cddp::v1::PushPullRequest req;
    req.set_worker_id(worker);
    req.set_shard_index(0);
    req.set_step(0);
    req.set_last(true);
    const Outcome whole = RawPush(*stub, req);
    const Outcome pieces = RawPushPieces(*stub, {req});
    for (const Outcome& o : {whole, pieces}) {
      if (worker == 0) {
        EXPECT_EQ(o.status.code(), absl::StatusCode::kPermissionDenied)
            << o.status;
      } else {  // itself: let in, then refused by the shard (not joined)
        EXPECT_EQ(o.status.code(), absl::StatusCode::kFailedPrecondition)
            << o.status;
      }
    }
  }
  EXPECT_EQ(cluster.server(0).state().pushed_count(), 0u);
}

TEST_F(TlsTest, ClientsWithoutAValidCertificateAreRefused) {
  TestCluster cluster(Options(true), kN);
  ASSERT_OK(cluster.status());
  std::vector<float> params = RandomParams(3, kN);
  // Plaintext against a TLS server, a certificate from another CA, and a
  // client that trusts another CA: none gets a call through.
  const common::TlsOptions cases[] = {
      common::Plaintext(),
      common::TlsOptionsInDir(*other_, "worker-0"),
      {*dir_ + "/worker-0.crt", *dir_ + "/worker-0.key", *other_ + "/ca.crt",
       false},
  };
  for (const common::TlsOptions& tls : cases) {
    SCOPED_TRACE(tls.plaintext ? "plaintext"
                               : tls.cert_file + " " + tls.ca_file);
    auto client = cluster.NewClientWith(0, tls, nullptr, 1, absl::Seconds(5));
    ASSERT_OK(client.status());
    const absl::Status s = (*client)->Join(Sizes(), params).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  }
  EXPECT_EQ(cluster.server(0).state().size(), 0u);
  EXPECT_EQ(cluster.server(1).state().size(), 0u);
}

TEST_F(TlsTest, ATransportSecurityMustBeChosen) {
  TestCluster cluster(Options(true), kN);
  ASSERT_OK(cluster.status());
  auto none = cluster.NewClientWith(0, common::TlsOptions{});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("--plaintext"), std::string::npos)
      << none.status();
  common::TlsOptions missing = common::TlsOptionsInDir(*dir_, "worker-7");
  auto absent = cluster.NewClientWith(0, missing);
  EXPECT_EQ(absent.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(absent.status().message().find("worker-7.crt"), std::string::npos)
      << absent.status();
  // A key file given as the certificate: no PEM certificate in it.
  common::TlsOptions swapped = common::TlsOptionsInDir(*dir_, "worker-0");
  swapped.cert_file = swapped.key_file;
  auto bad = cluster.NewClientWith(0, swapped);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("no PEM certificate"),
            std::string::npos)
      << bad.status();
  // A server refuses the same way, before it listens.
  server::ServerOptions so;
  so.listen = "127.0.0.1:0";
  EXPECT_EQ(server::Server::Create(so).status().code(),
            absl::StatusCode::kInvalidArgument);
  so.tls = common::Plaintext();
  so.tls.ca_file = *dir_ + "/ca.crt";
  EXPECT_EQ(server::Server::Create(so).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cddp::testing
