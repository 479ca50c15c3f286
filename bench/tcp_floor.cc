// The raw TCP floor of cddp_ps_bench (tcp_floor.h): plain loopback sockets
// moving the bytes a dense reply moves, with no gRPC on the way.
#include "bench/tcp_floor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/check.h"

namespace cddp::bench {

// Raw TCP floor: W*S loopback connections at once, each moving one shard's
// dense bytes (what a dense reply moves), plain write()/read().
double RawTcpSeconds(uint32_t streams, size_t bytes_per_stream) {
  const int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CDDP_CHECK(bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  CDDP_CHECK(listen(lfd, static_cast<int>(streams)) == 0);
  std::vector<char> src(bytes_per_stream, 7);
  std::vector<std::vector<char>> dst(streams,
                                     std::vector<char>(bytes_per_stream));
  std::vector<int> clients(streams), servers(streams);
  for (uint32_t i = 0; i < streams; ++i) {
    clients[i] = socket(AF_INET, SOCK_STREAM, 0);
    CDDP_CHECK(connect(clients[i], reinterpret_cast<sockaddr*>(&addr),
                       sizeof(addr)) == 0);
    servers[i] = accept(lfd, nullptr, nullptr);
  }
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < streams; ++i) {
    threads.emplace_back([&, i] {
      size_t off = 0;
      while (off < src.size()) {
        const ssize_t n = write(servers[i], src.data() + off, src.size() - off);
        CDDP_CHECK(n > 0);
        off += static_cast<size_t>(n);
      }
    });
    threads.emplace_back([&, i] {
      size_t off = 0;
      while (off < dst[i].size()) {
        const ssize_t n =
            read(clients[i], dst[i].data() + off, dst[i].size() - off);
        CDDP_CHECK(n > 0);
        off += static_cast<size_t>(n);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  for (uint32_t i = 0; i < streams; ++i) {
    close(clients[i]);
    close(servers[i]);
  }
  close(lfd);
  return seconds;
}

}  // namespace cddp::bench
