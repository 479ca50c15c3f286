#!/usr/bin/env bash
# The main job: a local training cluster. cddp-launch starts 2 parameter-
# server shards and 2 workers on loopback and trains SimpleCNN on MNIST for
# one epoch with error-feedback Top-K at 1 % density, then prints the test
# accuracy, the bytes on the wire against dense, and the wall time.
# The job runs with mutual TLS: a development CA and a certificate per
# process are made in build/certs (scripts/make_certs.sh) unless --plaintext
# is among the arguments.
# Extra arguments go to cddp-launch (try --help), e.g.
#   scripts/run.sh --dataset=fashion-mnist --ratio=0.001 --epochs=3
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
# The configure and build output goes to a log, shown when a step fails.
mkdir -p build
log=build/run-build.log
quietly() {  # quietly WHAT COMMAND...: runs it into $log; on failure, shows it
  if ! "${@:2}" >"$log" 2>&1; then
    echo "[run] $1 failed; the last lines of $log:" >&2
    tail -n 60 "$log" >&2
    exit 1
  fi
}
if [[ ! -f build/default/build.ninja ]]; then
  echo "[run] configuring (first run)"
  quietly "configuring" cmake --preset default
fi
echo "[run] building cddp-launch, cddp-server, cddp-worker"
quietly "the build" cmake --build --preset default --target cddp-launch \
  cddp-server cddp-worker
tls=(--tls_dir=build/certs)
servers=2 workers=2  # configs/distributed.flags', unless overridden
for a in "$@"; do
  case $a in
    --plaintext|--plaintext=true|--tls_dir=*) tls=() ;;
    --num_servers=*) servers=${a#*=} ;;
    --num_workers=*) workers=${a#*=} ;;
  esac
done
if [[ ${#tls[@]} -gt 0 ]]; then
  quietly "making certificates" scripts/make_certs.sh build/certs \
    --servers "$servers" --workers "$workers"
fi
exec build/default/deploy/local/cddp-launch --flagfile=configs/distributed.flags \
  "${tls[@]}" "$@"
