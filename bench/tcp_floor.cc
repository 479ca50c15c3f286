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

namespace {

// Writes `src` on every `writers[i]` and reads it whole from `readers[i]`
// into (*dst)[i], all streams at once; returns the seconds it took.
double MoveOnce(const std::vector<int>& writers,
                const std::vector<int>& readers, const std::vector<char>& src,
                std::vector<std::vector<char>>* dst) {
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < writers.size(); ++i) {
    threads.emplace_back([&, i] {
      size_t off = 0;
      while (off < src.size()) {
        const ssize_t n = write(writers[i], src.data() + off, src.size() - off);
        CDDP_CHECK(n > 0);
        off += static_cast<size_t>(n);
      }
    });
    threads.emplace_back([&, i] {
      std::vector<char>& out = (*dst)[i];
      size_t off = 0;
      while (off < out.size()) {
        const ssize_t n = read(readers[i], out.data() + off, out.size() - off);
        CDDP_CHECK(n > 0);
        off += static_cast<size_t>(n);
      }
    });
  }
  for (auto& t : threads) t.join();
  return absl::ToDoubleSeconds(absl::Now() - start);
}

}  // namespace

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
  // One untimed pass first: the buffers' pages, the sockets' memory and
  // TCP's windows are warm when the timed pass runs, as they are for a
  // server in its hundredth round.
  MoveOnce(servers, clients, src, &dst);
  const double seconds = MoveOnce(servers, clients, src, &dst);
  for (uint32_t i = 0; i < streams; ++i) {
    close(clients[i]);
    close(servers[i]);
  }
  close(lfd);
  return seconds;
}

}  // namespace cddp::bench
