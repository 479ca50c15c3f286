// Child processes with their output captured line by line: what cddp-launch
// and the multi-process tests use to run servers and workers.
//
// A Subprocess is started with an argv; its stdout and stderr go to one pipe
// that the owner drains (ReadAvailable) into complete lines. Not thread-safe:
// one owner thread polls and reads.
#ifndef CDDP_DEPLOY_LOCAL_SUBPROCESS_H_
#define CDDP_DEPLOY_LOCAL_SUBPROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cddp::local {

class Subprocess {
 public:
  // Starts argv[0] (a path, or a name looked up in PATH) with the given
  // arguments, stdin from /dev/null, stdout+stderr into a pipe, and this
  // process's environment plus `env` ("NAME=value" entries, which replace
  // variables of the same name). The child gets SIGTERM when the thread
  // that started it exits (the parent died, even by kill -9), and
  // default signal dispositions and mask. INTERNAL (with errno text) if it
  // cannot be started; a missing executable shows up as exit status 127.
  static absl::StatusOr<Subprocess> Start(std::vector<std::string> argv,
                                          std::vector<std::string> env = {});

  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  // Kills (SIGKILL) and reaps the child if it is still running.
  ~Subprocess();

  pid_t pid() const { return pid_; }
  // The read end of the output pipe (for poll); -1 once it hit EOF.
  int output_fd() const { return fd_; }

  // Reads what is available without blocking; appends complete lines to
  // `lines` (without the newline) and keeps them in the tail buffer. At EOF
  // a final partial line is flushed. Returns false at EOF.
  bool ReadAvailable(std::vector<std::string>* lines);

  // Non-blocking: the exit status if the child has exited (reaping it).
  // Encoded as for `ExitDescription`.
  std::optional<int> Poll();
  // Blocks until the child exits, up to `timeout`; then SIGKILLs it.
  int Wait(std::chrono::milliseconds timeout);
  // Sends a signal (no-op once exited).
  void Signal(int sig);

  // The last `kTailLines` lines the child printed.
  const std::deque<std::string>& tail() const { return tail_; }
  static constexpr size_t kTailLines = 20;

  // "exit code N" or "killed by signal NAME" for a raw wait status.
  static std::string ExitDescription(int wait_status);

 private:
  Subprocess(pid_t pid, int fd) : pid_(pid), fd_(fd) {}
  void Close();

  pid_t pid_ = -1;
  int fd_ = -1;
  std::optional<int> status_;
  std::string partial_;
  std::deque<std::string> tail_;
};

}  // namespace cddp::local

#endif  // CDDP_DEPLOY_LOCAL_SUBPROCESS_H_
