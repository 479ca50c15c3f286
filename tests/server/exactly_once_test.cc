// Faults between the workers' client and the servers, end to end over
// loopback gRPC: a push whose call broke after the shard counted it is
// neither handed back to the residual nor pushed again; a client that opens
// a stream and stops reading cannot stall a round. (Shards left at different
// steps converging: shard_client_test.cc.)
#include <chrono>
#include <thread>
#include <vector>

#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_util.h"
#include "tests/support/wait_until.h"

namespace cddp::testing {
namespace {

constexpr uint32_t kSize = 10000;

std::vector<uint64_t> Sizes(uint64_t total) { return {total / 2, total / 2}; }

TEST(ExactlyOnceTest, PushCountedBeforeItsCallBrokeIsNotHandedBack) {
  ClusterOptions co;
  co.num_workers = 2;
  TestCluster cluster(co, kSize);
  ASSERT_OK(cluster.status());
  // Worker 0 gives up on its call long before the round (waiting for
  // worker 1) closes: DEADLINE_EXCEEDED after the shards counted it.
  auto impatient = cluster.NewClient(0, nullptr, 1, absl::Milliseconds(300));
  auto other = cluster.NewClient(1);
  std::vector<float> p0 = RandomParams(1, kSize), p1(kSize);
  ASSERT_OK(impatient->Join(Sizes(kSize), p0).status());
  ASSERT_OK(other->Join(Sizes(kSize), p1).status());
  const common::SparseSelection push = RandomSelection(5, kSize, 0.05);
  common::SparseSelection undelivered;
  auto failed = impatient->PushPull(push, p0, &undelivered);
  ASSERT_EQ(failed.status().code(), absl::StatusCode::kDeadlineExceeded)
      << failed.status();
  EXPECT_EQ(undelivered.size(), 0u);  // maybe counted: not handed back yet
  EXPECT_EQ(cluster.server(0).state().pushed_count(), 1u);
  // The resync's Join sees the push waiting in the open round and waits
  // for the round (closed by worker 1 meanwhile), instead of pushing a new
  // gradient for a step that already counted this worker.
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    auto r = other->PushPull(RandomSelection(6, kSize, 0.05), p1, nullptr);
    EXPECT_TRUE(r.ok()) << r.status();
  });
  auto joined = impatient->Join(Sizes(kSize), p0);
  late.join();
  ASSERT_OK(joined.status());
  EXPECT_EQ(*joined, 1u);
  impatient->TakeUncounted(&undelivered);
  EXPECT_EQ(undelivered.size(), 0u);  // counted: nothing goes back
  EXPECT_EQ(p0, p1);
  EXPECT_EQ(cluster.server(0).state().step(), 1u);
  EXPECT_EQ(cluster.server(1).state().step(), 1u);
}

TEST(ExactlyOnceTest, ReaderThatStopsReadingCannotStallARound) {
  // Big enough that its pull cannot fit in the transport's buffers.
  constexpr uint32_t kBig = 8 << 20;
  ClusterOptions co;
  co.num_workers = 1;
  co.reply_timeout = absl::Milliseconds(300);
  co.piece_bytes = 1 << 20;
  TestCluster cluster(co, kBig);
  ASSERT_OK(cluster.status());
  auto client = cluster.NewClient(0);
  std::vector<float> params = RandomParams(3, kBig);
  ASSERT_OK(client->Join(Sizes(kBig), params).status());

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto stub = cddp::v1::ParameterServer::NewStub(grpc::CreateCustomChannel(
      cluster.addresses()[0], grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  cddp::v1::PullRequest request;
  request.set_shard_index(0);
  auto reader = stub->Pull(&ctx, request);  // and never read
  std::this_thread::sleep_for(std::chrono::milliseconds(200));

  // The round is ready at once, waits reply_timeout for the stalled
  // reader, then closes.
  auto r = client->PushPull(RandomSelection(4, kBig, 0.001), params, nullptr);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->step, 1u);
  // The stalled reader learns its reply was abandoned.
  cddp::v1::PullResponse piece;
  while (reader->Read(&piece)) {
  }
  const grpc::Status finished = reader->Finish();
  EXPECT_EQ(finished.error_code(), grpc::StatusCode::ABORTED)
      << finished.error_message();
}

}  // namespace
}  // namespace cddp::testing
