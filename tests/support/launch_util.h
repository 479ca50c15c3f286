// Helpers for the multi-process tests: run a binary to completion (bounded
// in time), collecting its output lines and exit status.
#ifndef CDDP_TESTS_SUPPORT_LAUNCH_UTIL_H_
#define CDDP_TESTS_SUPPORT_LAUNCH_UTIL_H_

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <vector>

#include "deploy/local/subprocess.h"

namespace cddp::testing_util {

struct RunOutput {
  int exit_code = -1;  // -1: killed (timeout or signal)
  std::vector<std::string> lines;
  std::string Joined() const {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }
  // The first line starting with `prefix`, or "".
  std::string LineStartingWith(const std::string& prefix) const {
    for (const auto& l : lines) {
      if (l.rfind(prefix, 0) == 0) return l;
    }
    return "";
  }
};

// Runs argv to completion; SIGKILLs it after `timeout`.
inline RunOutput RunToCompletion(std::vector<std::string> argv,
                                 std::chrono::seconds timeout) {
  RunOutput out;
  auto p = local::Subprocess::Start(std::move(argv));
  if (!p.ok()) {
    out.lines.push_back("cannot start: " + p.status().ToString());
    return out;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (p->output_fd() >= 0 && std::chrono::steady_clock::now() < deadline) {
    pollfd fd{p->output_fd(), POLLIN, 0};
    poll(&fd, 1, 200);
    p->ReadAvailable(&out.lines);
  }
  const int st = p->Wait(std::chrono::milliseconds(std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(
             deadline - std::chrono::steady_clock::now())
             .count())));
  while (p->ReadAvailable(&out.lines)) {
  }
  if (WIFEXITED(st)) out.exit_code = WEXITSTATUS(st);
  return out;
}

}  // namespace cddp::testing_util

#endif  // CDDP_TESTS_SUPPORT_LAUNCH_UTIL_H_
