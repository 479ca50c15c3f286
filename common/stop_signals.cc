#include "common/stop_signals.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace cddp::common {
namespace {

// The wake-up pipe: the handler writes one byte (the signal number) per
// signal; WaitForStopSignal reads one.
int g_pipe[2] = {-1, -1};
std::atomic<int> g_received{0};

void OnStopSignal(int sig) {
  const int saved_errno = errno;
  g_received.fetch_add(1, std::memory_order_relaxed);
  const unsigned char byte = static_cast<unsigned char>(sig);
  // Non-blocking: a full pipe already holds enough wake-ups.
  (void)!write(g_pipe[1], &byte, 1);
  errno = saved_errno;
}

absl::Status Install() {
  if (pipe2(g_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(
        absl::StrCat("stop signals: pipe: ", strerror(errno)));
  }
  fcntl(g_pipe[1], F_SETFL, fcntl(g_pipe[1], F_GETFL) | O_NONBLOCK);
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  for (const int sig : {SIGTERM, SIGINT}) {
    if (sigaction(sig, &action, nullptr) != 0) {
      return absl::InternalError(absl::StrCat("stop signals: sigaction(", sig,
                                              "): ", strerror(errno)));
    }
  }
  // Threads that blocked the stop signals (code that used sigwait) must not
  // keep them from this one: unblock them here; other threads keep theirs.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_UNBLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return absl::OkStatus();
}

}  // namespace

absl::Status InstallStopSignalHandlers() {
  static const absl::Status installed = Install();
  return installed;
}

int WaitForStopSignal() {
  unsigned char byte = 0;
  while (true) {
    // Block in poll, not in read: ThreadSanitizer runs a signal's handler at
    // once on a thread blocked in poll but defers it on one blocked in read
    // until the read returns, which here would be never. Without sanitizers
    // the two are the same.
    pollfd readable{g_pipe[0], POLLIN, 0};
    if (poll(&readable, 1, -1) < 0) continue;  // EINTR: poll again
    const ssize_t n = read(g_pipe[0], &byte, 1);
    if (n == 1) return byte;
    if (n < 0 && errno == EINTR) continue;
    return 0;  // cannot happen once installed: the write end stays open
  }
}

int StopSignalsReceived() { return g_received.load(std::memory_order_relaxed); }

}  // namespace cddp::common
