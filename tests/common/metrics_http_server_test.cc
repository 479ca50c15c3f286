// The /metrics endpoint under misbehaving clients: a client that trickles
// its request a byte at a time neither blocks another scrape nor keeps its
// connection past the request timeout; only GET of exactly /metrics (or /)
// is served.
#include "common/metrics_http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "gtest/gtest.h"
#include "tests/support/http_client.h"

namespace cddp::common {
namespace {

using cddp::testing::ConnectLoopback;

std::string Ask(int port, const std::string& request) {
  return cddp::testing::HttpRequest(port, request);
}

std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    AddCounter(*registry_, "cddp_test_total", "help", {}).Increment(3);
    auto started = MetricsHttpServer::Start("127.0.0.1:0", registry_);
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = std::move(*started);
  }
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<MetricsHttpServer> server_;
};

TEST_F(MetricsHttpServerTest, TricklingClientBlocksNoScrapeAndIsCutOff) {
  const int slow = ConnectLoopback(server_->port());
  ASSERT_GE(slow, 0);
  std::atomic<bool> scraped{false};
  std::thread trickle([&] {
    // One byte of a request head every 200 ms, until the scrape is done.
    const std::string head = "GET /metrics HTTP/1.1\r\nX-Slow: ";
    for (size_t i = 0; !scraped.load(); ++i) {
      const char c = i < head.size() ? head[i] : 'x';
      if (send(slow, &c, 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  const std::string response =
      Ask(server_->port(), "GET /metrics HTTP/1.0\r\n\r\n");
  scraped.store(true);
  trickle.join();
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 200 OK");
  EXPECT_NE(response.find("cddp_test_total 3"), std::string::npos);
  // The trickler gets no answer and its connection is closed by the server
  // once the request timeout passed.
  char buf[256];
  EXPECT_EQ(recv(slow, buf, sizeof(buf), 0), 0);
  close(slow);
}

TEST_F(MetricsHttpServerTest, OnlyGetOfExactlyMetricsIsServed) {
  const int port = server_->port();
  EXPECT_EQ(StatusLine(Ask(port, "GET /metrics HTTP/1.0\r\n\r\n")),
            "HTTP/1.1 200 OK");
  EXPECT_EQ(StatusLine(Ask(port, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n")),
            "HTTP/1.1 200 OK");
  EXPECT_EQ(StatusLine(Ask(port, "GET / HTTP/1.0\r\n\r\n")), "HTTP/1.1 200 OK");
  EXPECT_EQ(StatusLine(Ask(port, "GET /metricsfoo HTTP/1.0\r\n\r\n")),
            "HTTP/1.1 404 Not Found");
  EXPECT_EQ(StatusLine(Ask(port, "GET /metrics/../x HTTP/1.0\r\n\r\n")),
            "HTTP/1.1 404 Not Found");
  EXPECT_EQ(StatusLine(Ask(port, "POST /metrics HTTP/1.0\r\n\r\n")),
            "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(StatusLine(Ask(port, "garbage\r\n\r\n")),
            "HTTP/1.1 400 Bad Request");
}

}  // namespace
}  // namespace cddp::common

namespace cddp::common {
namespace {

TEST(RouteMetricsRequestTest, OnlyAWellFormedGetOfMetricsIsServed) {
  EXPECT_EQ(RouteMetricsRequest("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"),
            MetricsRoute::kMetrics);
  EXPECT_EQ(RouteMetricsRequest("GET /metrics?name[]=x HTTP/1.1\r\n\r\n"),
            MetricsRoute::kMetrics);
  EXPECT_EQ(RouteMetricsRequest("GET / HTTP/1.0\r\n\r\n"),
            MetricsRoute::kIndex);
  EXPECT_EQ(RouteMetricsRequest("GET /metricsX HTTP/1.1\r\n\r\n"),
            MetricsRoute::kNotFound);
  EXPECT_EQ(RouteMetricsRequest("POST /metrics HTTP/1.1\r\n\r\n"),
            MetricsRoute::kMethodNotAllowed);
  EXPECT_EQ(RouteMetricsRequest("GET  /metrics HTTP/1.1\r\n\r\n"),
            MetricsRoute::kBadRequest);
  EXPECT_EQ(RouteMetricsRequest(""), MetricsRoute::kBadRequest);
  EXPECT_EQ(RouteMetricsRequest(absl::string_view("GET\0/ x", 7)),
            MetricsRoute::kBadRequest);
}

}  // namespace
}  // namespace cddp::common
