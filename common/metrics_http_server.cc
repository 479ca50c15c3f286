#include "common/metrics_http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "prometheus/text_serializer.h"

namespace cddp::common {
namespace {

// Splits "host:port" / "[v6]:port".
absl::Status SplitHostPort(const std::string& address, std::string* host,
                           std::string* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "' is not host:port"));
  }
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  int p = 0;
  if (!absl::SimpleAtoi(*port, &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "' has a bad port"));
  }
  return absl::OkStatus();
}

std::string Response(absl::string_view status, absl::string_view type,
                     absl::string_view body) {
  return absl::StrCat("HTTP/1.1 ", status, "\r\nContent-Type: ", type,
                      "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

// Writes `data`, giving up when the peer stops reading (SO_SNDTIMEO makes
// a blocked send fail) or goes away.
void WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    const ssize_t n =
        send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address,
    std::shared_ptr<prometheus::Registry> registry) {
  std::string host, port;
  if (auto s = SplitHostPort(address, &host, &port); !s.ok()) return s;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                              port.c_str(), &hints, &res);
  if (gai != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address '", address, "': ", gai_strerror(gai)));
  }
  std::string error = "no usable address";
  int fd = -1;
  for (addrinfo* ai = res; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 16) != 0) {
      error = strerror(errno);
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on '", address, "': ", error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  const int bound_port =
      bound.ss_family == AF_INET6
          ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
          : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(fd, bound_port, std::move(registry)));
}

MetricsHttpServer::MetricsHttpServer(
    int listen_fd, int port, std::shared_ptr<prometheus::Registry> registry)
    : listen_fd_(listen_fd), port_(port), registry_(std::move(registry)) {
  if (pipe2(stop_pipe_, O_CLOEXEC) != 0) stop_pipe_[0] = stop_pipe_[1] = -1;
  thread_ = std::thread([this] { Serve(); });
}

MetricsHttpServer::~MetricsHttpServer() {
  if (stop_pipe_[1] >= 0) (void)!write(stop_pipe_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  {
    Connections& c = *connections_;
    absl::MutexLock lock(&c.mu);
    c.mu.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &c.active));
  }
  close(listen_fd_);
  for (int fd : stop_pipe_) {
    if (fd >= 0) close(fd);
  }
}

void MetricsHttpServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (poll(fds, stop_pipe_[0] >= 0 ? 2 : 1, 1000) < 0 && errno != EINTR) {
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & POLLIN) == 0) continue;
    const int conn = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    const timeval send_timeout{kSendTimeoutMs / 1000,
                               (kSendTimeoutMs % 1000) * 1000};
    setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
               sizeof(send_timeout));
    {
      absl::MutexLock lock(&connections_->mu);
      if (connections_->active >= kMaxConnections) {
        WriteAll(conn, Response("503 Service Unavailable", "text/plain",
                                "too many connections\n"));
        close(conn);
        continue;
      }
      ++connections_->active;
    }
    // Detached; the destructor waits for the count to reach zero, and the
    // thread touches only `connections` after its decrement.
    std::thread([this, conn, connections = connections_] {
      HandleConnection(conn);
      close(conn);
      absl::MutexLock lock(&connections->mu);
      --connections->active;
    }).detach();
  }
}

void MetricsHttpServer::HandleConnection(int fd) {
  // Read the request head, bounded in size and in total time.
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(kRequestTimeoutMs);
  std::string request;
  char buf[2048];
  while (request.find("\r\n\r\n") == std::string::npos &&
         request.size() < 16384) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return;
    }
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return;
    request.append(buf, static_cast<size_t>(n));
  }
  const MetricsRoute route = RouteMetricsRequest(request);
  switch (route) {
    case MetricsRoute::kBadRequest:
    case MetricsRoute::kMethodNotAllowed:
      WriteAll(fd,
               Response(route == MetricsRoute::kBadRequest
                            ? "400 Bad Request"
                            : "405 Method Not Allowed",
                        "text/plain", "only GET /metrics is served here\n"));
      return;
    case MetricsRoute::kMetrics: {
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, registry_->Collect());
      WriteAll(fd, Response("200 OK", "text/plain; version=0.0.4", out.str()));
      return;
    }
    case MetricsRoute::kIndex:
      WriteAll(fd, Response("200 OK", "text/html",
                            "<a href=\"/metrics\">/metrics</a>\n"));
      return;
    case MetricsRoute::kNotFound:
      WriteAll(fd, Response("404 Not Found", "text/plain",
                            "only /metrics is served here\n"));
      return;
  }
}

MetricsRoute RouteMetricsRequest(absl::string_view head) {
  // "METHOD TARGET VERSION"; the path is the target up to any query.
  const std::vector<absl::string_view> parts =
      absl::StrSplit(head.substr(0, head.find("\r\n")), ' ');
  if (parts.size() != 3) return MetricsRoute::kBadRequest;
  if (parts[0] != "GET") return MetricsRoute::kMethodNotAllowed;
  const absl::string_view path = parts[1].substr(0, parts[1].find('?'));
  if (path == "/metrics") return MetricsRoute::kMetrics;
  if (path == "/") return MetricsRoute::kIndex;
  return MetricsRoute::kNotFound;
}

}  // namespace cddp::common
