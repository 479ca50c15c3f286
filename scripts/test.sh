#!/usr/bin/env bash
# Sets up (if needed), configures, builds and runs every test with ctest.
# Exits non-zero on any failure.
#   scripts/test.sh               default (RelWithDebInfo) build + tests,
#                                 then the asan preset (address + UB
#                                 sanitizers, the LibTorch-free targets)
#   CDDP_SKIP_ASAN=1 scripts/test.sh   skip the sanitizer build
#   CDDP_IMAGE_TESTS=ON scripts/test.sh
#                                 also build the server container image and
#                                 smoke-test it (=WORKER: the worker image
#                                 too); what CI runs
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

jobs=${CDDP_JOBS:-$(nproc)}
run_preset() {
  local preset=$1
  echo "[test] === preset $preset: configure"
  local extra=()
  if [[ $preset == default ]]; then
    extra=(-DCDDP_IMAGE_TESTS="${CDDP_IMAGE_TESTS:-OFF}")
  fi
  cmake --preset "$preset" "${extra[@]}" >/dev/null
  echo "[test] === preset $preset: build (-j$jobs)"
  cmake --build --preset "$preset" -j "$jobs"
  echo "[test] === preset $preset: ctest"
  ctest --preset "$preset" -j "$jobs" --timeout 900
}

run_preset default
if [[ "${CDDP_SKIP_ASAN:-0}" != 1 ]]; then
  run_preset asan
fi
echo "[test] all tests passed"
