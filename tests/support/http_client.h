// A bare HTTP client for the /metrics tests: connect to a loopback port and
// send a request as-is, every wait bounded so a server that never answers
// fails the test instead of hanging it (not a speed check).
#ifndef CDDP_TESTS_SUPPORT_HTTP_CLIENT_H_
#define CDDP_TESTS_SUPPORT_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

namespace cddp::testing {

inline constexpr int kHttpBoundSeconds = 60;

// A socket connected to 127.0.0.1:`port` with receive and send timeouts
// of kHttpBoundSeconds; -1 if it cannot connect.
inline int ConnectLoopback(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const timeval bound{kHttpBoundSeconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof(bound));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof(bound));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` and returns the whole response ("" if none came).
inline std::string HttpRequest(int port, const std::string& request) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, size_t(n));
  close(fd);
  return out;
}

}  // namespace cddp::testing

#endif  // CDDP_TESTS_SUPPORT_HTTP_CLIENT_H_
