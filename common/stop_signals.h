// Stop signals for the long-running programs (cddp-server, cddp-worker,
// cddp-launch): SIGTERM and SIGINT ask for a clean stop, whatever thread
// the kernel delivers them to, and SIGPIPE never kills.
//
// InstallStopSignalHandlers() installs one async-signal-safe handler for
// SIGTERM and SIGINT that records the signal and wakes WaitForStopSignal()
// through a pipe: unlike a blocked mask plus sigwait, it works even for
// threads that libraries started before main() (LibTorch's), which would
// otherwise take the default action and die. Repeated signals are recorded
// again and never force an exit (a Ctrl-C reaches a launcher and its
// children at once, and the launcher then sends SIGTERM too). SIGPIPE is
// ignored: a write to a closed stdout fails with EPIPE instead of killing the
// process before its checkpoint.
//
// Child processes started with exec inherit the ignored SIGPIPE; launchers
// restore SIG_DFL in the child (deploy/local/subprocess.cc does).
#ifndef CDDP_COMMON_STOP_SIGNALS_H_
#define CDDP_COMMON_STOP_SIGNALS_H_

#include "absl/status/status.h"

namespace cddp::common {

// Installs the handlers; idempotent. INTERNAL (with errno text) if the wake-up
// pipe or a handler cannot be set up.
absl::Status InstallStopSignalHandlers();

// Blocks until a stop signal has arrived since the handlers were installed
// (returns at once if one already has) and returns its number. Each signal
// wakes one call. Requires InstallStopSignalHandlers().
int WaitForStopSignal();

// The number of stop signals received so far (async-signal-safe).
int StopSignalsReceived();

}  // namespace cddp::common

#endif  // CDDP_COMMON_STOP_SIGNALS_H_
