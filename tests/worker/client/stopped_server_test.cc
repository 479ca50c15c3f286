// A cddp-server process SIGSTOPped mid-push: it reads nothing more, so the
// worker's connection fills up with the push and keeps the rest queued in
// the socket, where the call's deadline does not reach it. The worker's
// keepalive ping goes unanswered and closes the connection: PushPullDense
// fails within seconds (it used to wait for as long as the server stayed
// stopped), and when it returns gRPC holds no slice of the caller's
// gradient, which the push lent it without a copy. After SIGCONT the same
// client joins and pushes again.
#include <signal.h>

#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "deploy/local/launcher.h"
#include "deploy/local/subprocess.h"
#include "gtest/gtest.h"
#include "tests/support/test_util.h"
#include "worker/client/shard_client.h"

namespace cddp::worker {
namespace {

// 64 MB of values: far more than the kernel's socket buffers and HTTP/2's
// windows take in while the server is stopped.
constexpr uint32_t kN = 16u << 20;

TEST(StoppedServerTest, AStoppedServerFailsThePushWithinSeconds) {
  const auto ports = local::PickFreePorts("127.0.0.1", 1);
  ASSERT_TRUE(ports.ok()) << ports.status();
  const std::string address = "127.0.0.1:" + std::to_string((*ports)[0]);
  auto server = local::Subprocess::Start(
      {CDDP_SERVER_BIN, "--listen=" + address, "--plaintext", "--shard_index=0",
       "--num_shards=1", "--num_workers=1", "--lr=0.01"});
  ASSERT_TRUE(server.ok()) << server.status();
  auto map = common::ShardMap::Create(kN, 1);
  ASSERT_TRUE(map.ok());
  ShardClientOptions o;
  o.tls = common::Plaintext();
  o.server_addresses = {address};
  o.max_attempts = 1;
  // Long enough for the 64 MB push under ThreadSanitizer.
  o.deadline = absl::Seconds(30);
  o.keepalive = absl::Seconds(2);
  auto client = ShardClient::Create(*map, o);
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<float> params(kN, 0.5f);
  // The server may still be starting: Join until it answers.
  absl::StatusOr<uint64_t> joined;
  for (int i = 0; i < 100; ++i) {
    joined = (*client)->Join(std::vector<uint64_t>{kN}, params);
    if (joined.ok()) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_TRUE(joined.ok()) << joined.status();

  server->Signal(SIGSTOP);
  std::optional<std::vector<float>> gradient(std::in_place, kN, 0.25f);
  auto push = std::async(std::launch::async, [&] {
    return (*client)->PushPullDense(*gradient, params, nullptr);
  });
  // Twice the deadline, which does not end a call stuck behind a full
  // socket, and 30 times the keepalive, which does: not a timing claim,
  // a push still running then never ends on its own.
  const bool ended =
      push.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
  EXPECT_TRUE(ended) << "PushPullDense still running 60 s after the server "
                        "stopped";
  if (!ended) server->Signal(SIGCONT);  // lets it end, to fail cleanly
  absl::StatusOr<PushPullResult> pushed = push.get();
  EXPECT_FALSE(pushed.ok() && ended);
  EXPECT_EQ((*client)->lent_slices_held(), 0u);
  gradient.reset();  // gRPC must not read it any more

  server->Signal(SIGCONT);
  std::vector<float> again(kN, 0.25f);
  // The stopped round may have counted nothing or the whole push; the
  // servers say which step they are at.
  auto rejoined = (*client)->Join(std::vector<uint64_t>{kN}, params);
  ASSERT_TRUE(rejoined.ok()) << rejoined.status();
  pushed = (*client)->PushPullDense(again, params, nullptr);
  EXPECT_TRUE(pushed.ok()) << pushed.status();
  EXPECT_EQ((*client)->lent_slices_held(), 0u);
  server->Signal(SIGKILL);
  server->Wait(std::chrono::seconds(10));
}

}  // namespace
}  // namespace cddp::worker
