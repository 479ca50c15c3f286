#include "deploy/local/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "absl/strings/str_cat.h"

namespace cddp::local {

namespace {

// This process's environment with `overrides` ("NAME=value") replacing or
// adding variables.
std::vector<std::string> MergedEnvironment(
    const std::vector<std::string>& overrides) {
  std::vector<std::string> env = overrides;
  auto overridden = [&](const char* entry) {
    for (const std::string& o : overrides) {
      const size_t eq = o.find('=');
      if (strncmp(entry, o.c_str(), eq + 1) == 0) return true;
    }
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e) {
    if (!overridden(*e)) env.emplace_back(*e);
  }
  return env;
}

}  // namespace

absl::StatusOr<Subprocess> Subprocess::Start(std::vector<std::string> argv,
                                             std::vector<std::string> env) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  // Built before fork: the child may only make async-signal-safe calls.
  std::vector<std::string> environment = MergedEnvironment(env);
  std::vector<char*> envp;
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // The parent may ignore SIGPIPE (common/stop_signals.h); the child
    // starts with the default. It dies with its parent: a SIGTERM, so it
    // checkpoints and exits, when the parent is gone (even by kill -9).
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(129);  // the parent died before prctl
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execvpe(args[0], args.data(), envp.data());
    const char msg[] = "exec failed\n";
    (void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
    _exit(127);
  }
  close(fds[1]);
  fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
  return Subprocess(pid, fds[0]);
}

Subprocess::Subprocess(Subprocess&& o) noexcept
    : pid_(o.pid_),
      fd_(o.fd_),
      status_(o.status_),
      partial_(std::move(o.partial_)),
      tail_(std::move(o.tail_)) {
  o.pid_ = -1;
  o.fd_ = -1;
}

Subprocess& Subprocess::operator=(Subprocess&& o) noexcept {
  if (this != &o) {
    Close();
    pid_ = o.pid_;
    fd_ = o.fd_;
    status_ = o.status_;
    partial_ = std::move(o.partial_);
    tail_ = std::move(o.tail_);
    o.pid_ = -1;
    o.fd_ = -1;
  }
  return *this;
}

Subprocess::~Subprocess() { Close(); }

void Subprocess::Close() {
  if (pid_ > 0 && !status_.has_value()) {
    kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  pid_ = -1;
}

bool Subprocess::ReadAvailable(std::vector<std::string>* lines) {
  if (fd_ < 0) return false;
  char buf[8192];
  while (true) {
    const ssize_t n = read(fd_, buf, sizeof(buf));
    if (n > 0) {
      partial_.append(buf, static_cast<size_t>(n));
      size_t start = 0, nl;
      while ((nl = partial_.find('\n', start)) != std::string::npos) {
        std::string line = partial_.substr(start, nl - start);
        // A terminal-style progress line: keep what follows the last \r.
        if (const size_t cr = line.rfind('\r'); cr != std::string::npos) {
          line.erase(0, cr + 1);
        }
        tail_.push_back(line);
        if (tail_.size() > kTailLines) tail_.pop_front();
        lines->push_back(std::move(line));
        start = nl + 1;
      }
      partial_.erase(0, start);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0 && errno == EINTR) continue;
    // EOF or error.
    if (!partial_.empty()) {
      tail_.push_back(partial_);
      if (tail_.size() > kTailLines) tail_.pop_front();
      lines->push_back(std::move(partial_));
      partial_.clear();
    }
    close(fd_);
    fd_ = -1;
    return false;
  }
}

std::optional<int> Subprocess::Poll() {
  if (status_.has_value() || pid_ <= 0) return status_;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
  return status_;
}

int Subprocess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!Poll().has_value()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      Signal(SIGKILL);
      int st = 0;
      waitpid(pid_, &st, 0);
      status_ = st;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return *status_;
}

void Subprocess::Signal(int sig) {
  if (pid_ > 0 && !status_.has_value()) kill(pid_, sig);
}

std::string Subprocess::ExitDescription(int st) {
  if (WIFEXITED(st)) return absl::StrCat("exit code ", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    return absl::StrCat("killed by signal ", WTERMSIG(st), " (",
                        strsignal(WTERMSIG(st)), ")");
  }
  return absl::StrCat("wait status ", st);
}

}  // namespace cddp::local
