#!/usr/bin/env bash
# Each program's --help lists its own flags with their defaults (absl's
# default usage filter listed none: "No flags matched"), named by their
# files relative to the project root:
#   cddp-launch  its own flags and every server, worker and job flag
#   cddp-server  the server and job flags
#   cddp-worker  the worker and job flags (optional: needs LibTorch)
#   tests/deploy/help_test.sh CDDP_LAUNCH CDDP_SERVER [CDDP_WORKER]
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help || $# -lt 2 ]]; then
  sed -n '2,9s/^# \{0,1\}//p' "$0"; [[ $# -ge 2 ]] || exit 2; exit 0
fi
launch=$1 server=$2 worker=${3:-}
die() { printf '[help-test] FAIL: %s\n' "$*" >&2; exit 1; }

# check BINARY PATTERN...: --help prints every pattern (fixed strings).
check() {
  local bin=$1 out; shift
  out=$("$bin" --help 2>&1) || true  # absl exits 1 after --help
  grep -qF 'No flags matched' <<<"$out" && die "$(basename "$bin") --help: no flags"
  local p
  for p in "$@"; do
    grep -qF -- "$p" <<<"$out" || { printf '%s\n' "$out" >&2; die "$(basename "$bin") --help lacks: $p"; }
  done
}
# grep -F treats each line of a pattern separately: one line each.
server_flags=('Flags from server/server_flags.cc:' '--lr (learning rate (> 0)); default: 0.01;'
  '--momentum (SGD momentum in [0, 1); 0: none); default: 0;' 'default: 30s;'
  '--listen (host:port to serve gRPC on')
job_flags=('Flags from common/job_flags.cc:' '--checkpoint_every (' '--num_workers (' 'default: 100;')
worker_flags=('Flags from worker/worker_flags.cc:' '--ratio (fraction of each tensor sent per step); default: 0.01;'
  '--model (simple_cnn' 'default: "simple_cnn";' '--result_file (')

check "$server" "${server_flags[@]}" "${job_flags[@]}"
check "$launch" 'Flags from deploy/local/main.cc:' '--num_servers (parameter-server shards); default: 2;' \
  '--worker_args (' "${server_flags[@]}" "${job_flags[@]}" "${worker_flags[@]}"
if "$server" --help 2>&1 | grep -qF 'Flags from worker/'; then die "cddp-server lists worker flags"; fi
if [[ -n $worker ]]; then
  check "$worker" "${worker_flags[@]}" "${job_flags[@]}"
  if "$worker" --help 2>&1 | grep -qF 'Flags from server/'; then die "cddp-worker lists server flags"; fi
fi
echo "[help-test] PASS"
