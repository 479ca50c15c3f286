// Every malformed request gets its documented error over gRPC, sent whole
// (PushPull) or as a one-piece PushPullStream, and leaves the shard's
// values and step unchanged; metrics move by the expected
// amounts when scraped over HTTP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/metrics_http_server.h"
#include "common/wire/wire_codec.h"
#include "gtest/gtest.h"
#include "proto/status_convert.h"
#include "tests/support/http_client.h"
#include "tests/support/raw_push.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/wait_until.h"

namespace cddp::testing {
namespace {

constexpr uint32_t kN = 2000;  // two shards of 1000

cddp::v1::PushPullRequest ValidPush(uint32_t worker, uint64_t step,
                                    uint32_t shard) {
  common::SparseSelection s;
  s.indices = {1, 5, 9};
  s.values = {0.5f, -1.0f, 2.0f};
  cddp::v1::PushPullRequest req;
  req.set_step(step);
  req.set_worker_id(worker);
  req.set_shard_index(shard);
  auto* c = req.mutable_chunk();
  c->set_count(3);
  c->set_value_type(cddp::v1::VALUE_TYPE_FP32);
  c->set_index_encoding(cddp::v1::INDEX_ENCODING_ABSOLUTE_U32);
  EXPECT_TRUE(common::EncodeChunk(s, common::ValueType::kFp32,
                                  common::IndexEncoding::kAbsoluteU32,
                                  c->mutable_indices(), c->mutable_values())
                  .ok());
  return req;
}

void SetIndex(cddp::v1::PushPullRequest* req, int pos, uint32_t v) {
  std::memcpy(req->mutable_chunk()->mutable_indices()->data() + 4 * pos, &v, 4);
}
void SetValue(cddp::v1::PushPullRequest* req, int pos, float v) {
  std::memcpy(req->mutable_chunk()->mutable_values()->data() + 4 * pos, &v, 4);
}

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ClusterOptions co;
    co.num_workers = 2;
    co.max_message_mb = 1;
    cluster_ = std::make_unique<TestCluster>(co, kN);
    ASSERT_OK(cluster_->status());
    init_ = RandomParams(3, kN);
    auto client = cluster_->NewClient(0);
    std::vector<float> p = init_;
    ASSERT_TRUE(client->Join(std::vector<uint64_t>{kN}, p).ok());
    stub_ = RawStub(cluster_->addresses()[0]);
  }
  // `req` sent whole, or with `streamed` as the one piece of a stream.
  Outcome Push(cddp::v1::PushPullRequest req, bool streamed) {
    if (!streamed) return RawPush(*stub_, req);
    req.set_last(true);
    return RawPushPieces(*stub_, {req});
  }
  // The request must fail with `code`, mention `needle`, and change nothing.
  void ExpectRejected(const cddp::v1::PushPullRequest& req,
                      absl::StatusCode code, const std::string& needle,
                      bool streamed) {
    const auto before = cluster_->ServerValues();
    const Outcome o = Push(req, streamed);
    EXPECT_EQ(o.status.code(), code) << o.status;
    EXPECT_NE(o.status.message().find(needle), std::string::npos) << o.status;
    EXPECT_EQ(cluster_->ServerValues(), before);
    EXPECT_EQ(cluster_->server(0).state().step(), 0u);
    EXPECT_EQ(cluster_->server(0).state().pushed_count(), 0u);
  }

  std::unique_ptr<TestCluster> cluster_;
  std::vector<float> init_;
  std::unique_ptr<cddp::v1::ParameterServer::Stub> stub_;
};

class PushRejectionTest : public ServiceTest,
                          public ::testing::WithParamInterface<bool> {
 protected:
  void ExpectRejected(const cddp::v1::PushPullRequest& req,
                      absl::StatusCode code, const std::string& needle) {
    ServiceTest::ExpectRejected(req, code, needle, GetParam());
  }
};

INSTANTIATE_TEST_SUITE_P(WholeAndInPieces, PushRejectionTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "PushPullStream" : "PushPull";
                         });

TEST_P(PushRejectionTest, MalformedPushesAreRejectedAndChangeNothing) {
  using absl::StatusCode;
  auto req = ValidPush(0, 0, 0);
  SetIndex(&req, 2, 1000);  // shard 0 holds 1000 elements
  ExpectRejected(req, StatusCode::kInvalidArgument, "out of range");
  req = ValidPush(0, 0, 0);
  SetIndex(&req, 2, 3);
  ExpectRejected(req, StatusCode::kInvalidArgument, "strictly increasing");
  req = ValidPush(0, 0, 0);
  SetIndex(&req, 2, 5);
  ExpectRejected(req, StatusCode::kInvalidArgument, "strictly increasing");
  req = ValidPush(0, 0, 0);
  req.mutable_chunk()->set_count(4);
  ExpectRejected(req, StatusCode::kInvalidArgument, "length mismatch");
  req = ValidPush(0, 0, 0);
  req.mutable_chunk()->mutable_values()->pop_back();
  ExpectRejected(req, StatusCode::kInvalidArgument, "length mismatch");
  req = ValidPush(0, 0, 0);
  SetValue(&req, 1, std::numeric_limits<float>::quiet_NaN());
  ExpectRejected(req, StatusCode::kInvalidArgument, "not finite");
  req = ValidPush(0, 0, 0);
  SetValue(&req, 0, std::numeric_limits<float>::infinity());
  ExpectRejected(req, StatusCode::kInvalidArgument, "not finite");
  ExpectRejected(ValidPush(0, 0, 1), StatusCode::kInvalidArgument,
                 "wrong shard");
  ExpectRejected(ValidPush(7, 0, 0), StatusCode::kInvalidArgument,
                 "unknown worker");
  ExpectRejected(ValidPush(1, 0, 0), StatusCode::kFailedPrecondition,
                 "has not joined");
  // Oversized: over the server's 1 MiB message limit.
  req = ValidPush(0, 0, 0);
  req.mutable_chunk()->mutable_values()->resize(2 << 20);
  ExpectRejected(req, StatusCode::kResourceExhausted, "");
  // A step that is not the open one reports the current step in the
  // trailing metadata too.
  const Outcome o = Push(ValidPush(0, 3, 0), GetParam());
  EXPECT_EQ(o.status.code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(o.current_step.has_value());
  EXPECT_EQ(*o.current_step, 0u);
}

TEST_F(ServiceTest, JoinWithAnotherLayoutIsRefusedSayingWhatDiffers) {
  auto client = cluster_->NewClient(1);
  std::vector<float> p = init_;
  auto joined = client->Join(std::vector<uint64_t>{1500, 500}, p);
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(joined.status().message().find("tensor_sizes"), std::string::npos)
      << joined.status();
  EXPECT_NE(joined.status().message().find("shard 0"), std::string::npos);
  EXPECT_EQ(cluster_->ServerValues(), init_);
}

// Minimal HTTP/1.0 GET of /metrics.
std::string Scrape(int port) {
  return HttpRequest(port, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
}

// The value of the series written exactly as `series` (name{labels}).
double Series(const std::string& text, const std::string& series) {
  const std::string key = "\n" + series + " ";
  const size_t pos = text.find(key);
  if (pos == std::string::npos) return -1;
  const size_t end = text.find('\n', pos + key.size());
  double v = -1;
  EXPECT_TRUE(absl::SimpleAtod(
      text.substr(pos + key.size(), end - pos - key.size()), &v));
  return v;
}

TEST(MetricsTest, ScrapedCountersMoveByTheExpectedAmounts) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto http = common::MetricsHttpServer::Start("127.0.0.1:0", registry);
  ASSERT_TRUE(http.ok()) << http.status();
  const int port = (*http)->port();
  ClusterOptions co;
  co.num_workers = 2;
  co.registry = registry;
  TestCluster cluster(co, kN);
  ASSERT_OK(cluster.status());
  const auto init = RandomParams(3, kN);
  std::vector<std::unique_ptr<worker::ShardClient>> clients;
  std::vector<std::vector<float>> params(2, init);
  for (uint32_t w = 0; w < 2; ++w) {
    clients.push_back(cluster.NewClient(w, registry.get()));
    ASSERT_TRUE(clients[w]->Join(std::vector<uint64_t>{kN}, params[w]).ok());
  }
  const std::string before = Scrape(port);
  ASSERT_NE(before.find("cddp_server_pushes_total"), std::string::npos);
  const double sent_before =
      Series(before, "cddp_client_sent_bytes_total{worker=\"0\"}");
  constexpr int kSteps = 4;
  uint64_t sent0 = 0;
  for (int step = 0; step < kSteps; ++step) {
    std::thread other([&] {
      auto r = clients[1]->PushPull(step, RandomSelection(step, kN, 0.1),
                                    params[1], nullptr);
      ASSERT_TRUE(r.ok()) << r.status();
    });
    auto r = clients[0]->PushPull(step, RandomSelection(99 + step, kN, 0.1),
                                  params[0], nullptr);
    ASSERT_TRUE(r.ok()) << r.status();
    sent0 += r->bytes_sent;
    other.join();
  }
  const std::string mid = Scrape(port);
  EXPECT_EQ(
      Series(mid, "cddp_client_sent_bytes_total{worker=\"0\"}") - sent_before,
      static_cast<double>(sent0));
  // One late push: step 1 closed long ago.
  ASSERT_FALSE(
      clients[0]
          ->PushPull(1, RandomSelection(5, kN, 0.1), params[0], nullptr)
          .ok());
  const std::string after = Scrape(port);
  for (const char* shard : {"0", "1"}) {
    SCOPED_TRACE(shard);
    const std::string s = absl::StrCat("shard=\"", shard, "\"");
    EXPECT_EQ(Series(after, absl::StrCat("cddp_server_pushes_total{outcome="
                                         "\"accepted\",",
                                         s, "}")),
              2 * kSteps);
    EXPECT_EQ(Series(after, absl::StrCat("cddp_server_pushes_total{outcome="
                                         "\"late\",",
                                         s, "}")),
              1);
    EXPECT_EQ(Series(after, absl::StrCat("cddp_server_rounds_total{cause="
                                         "\"all_pushed\",",
                                         s, "}")),
              kSteps);
    EXPECT_EQ(Series(after, absl::StrCat("cddp_server_step{", s, "}")), kSteps);
    EXPECT_EQ(Series(after, absl::StrCat("cddp_server_rejected_requests_total{"
                                         "reason=\"step_mismatch\",",
                                         s, "}")),
              1);
    EXPECT_EQ(Series(after, absl::StrCat("cddp_server_received_dense_"
                                         "equivalent_bytes_total{",
                                         s, "}")),
              2 * kSteps * 1000 * 4);
    EXPECT_EQ(Series(after, absl::StrCat("cddp_server_aggregation_seconds_"
                                         "count{",
                                         s, "}")),
              kSteps);
    EXPECT_EQ(Series(after, absl::StrCat("cddp_client_push_pull_seconds_count{",
                                         s, ",worker=\"0\"}")),
              kSteps + 1);
  }
  EXPECT_GT(Series(after, "cddp_server_received_bytes_total{shard=\"0\"}"), 0);
}

}  // namespace
}  // namespace cddp::testing
