#!/usr/bin/env bash
# The main job. For now: a demo of the compression core on a ResNet-50-sized
# gradient-like tensor (selected count, bytes on the wire vs dense, time).
# Extra arguments go to the demo (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
if [[ ! -f build/default/build.ninja ]]; then
  cmake --preset default >/dev/null
fi
cmake --build --preset default --target cddp_compression_demo >/dev/null
exec build/default/bench/cddp_compression_demo "$@"
