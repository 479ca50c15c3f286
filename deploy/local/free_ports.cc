// PickFreePorts (launcher.h): ports the launcher can hand its processes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "deploy/local/launcher.h"

namespace cddp::local {
namespace {

bool CanBind(const std::string& host, int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok =
      inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1 &&
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<std::vector<int>> PickFreePorts(const std::string& host,
                                               int count) {
  // Below Linux's ephemeral range (32768+), so that the outgoing connections
  // the processes make cannot take a port before its server binds it.
  constexpr int kLow = 20000, kHigh = 32000;
  sockaddr_in probe{};
  if (inet_pton(AF_INET, host.c_str(), &probe.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 address: ", host));
  }
  std::vector<int> ports;
  const int start = kLow + static_cast<int>(getpid() * 7919 % (kHigh - kLow));
  for (int i = 0; i < kHigh - kLow && static_cast<int>(ports.size()) < count;
       ++i) {
    const int port = kLow + (start - kLow + i) % (kHigh - kLow);
    if (CanBind(host, port)) ports.push_back(port);
  }
  if (static_cast<int>(ports.size()) < count) {
    return absl::ResourceExhaustedError(
        absl::StrCat("found only ", ports.size(), " free ports on ", host));
  }
  return ports;
}

}  // namespace cddp::local
