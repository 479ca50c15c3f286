#!/usr/bin/env bash
# The main job: a local training cluster. cddp-launch starts 2 parameter-
# server shards and 2 workers on loopback and trains SimpleCNN on MNIST for
# one epoch with error-feedback Top-K at 1 % density, then prints the test
# accuracy, the bytes on the wire against dense, and the wall time.
# Extra arguments go to cddp-launch (try --help), e.g.
#   scripts/run.sh --dataset=fashion-mnist --ratio=0.001 --epochs=3
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
if [[ ! -f build/default/build.ninja ]]; then
  echo "[run] configuring (first run)"
  cmake --preset default >/dev/null
fi
echo "[run] building cddp-launch, cddp-server, cddp-worker"
cmake --build --preset default --target cddp-launch cddp-server cddp-worker \
  >/dev/null
exec build/default/deploy/local/cddp-launch --flagfile=configs/distributed.flags "$@"
