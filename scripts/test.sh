#!/usr/bin/env bash
# Sets up (if needed), checks the format, configures, builds and runs every
# test with ctest. Exits non-zero on any failure.
#   scripts/test.sh               the format gate (scripts/check_format.sh),
#                                 default (RelWithDebInfo) build + tests,
#                                 then the asan preset (address + UB
#                                 sanitizers) and the tsan preset (thread
#                                 sanitizer), both on the LibTorch-free targets,
#                                 and the fuzz preset (clang: each libFuzzer
#                                 target of tests/fuzz for 10 s from its
#                                 corpus, under ASan + UBSan)
#   CDDP_SKIP_FORMAT=1 scripts/test.sh skip the format gate
#   CDDP_SKIP_ASAN=1 scripts/test.sh   skip the asan build
#   CDDP_SKIP_TSAN=1 scripts/test.sh   skip the tsan build
#   CDDP_SKIP_FUZZ=1 scripts/test.sh   skip the fuzz build
#   CDDP_IMAGE_TESTS=ON scripts/test.sh
#                                 also build the server container image and
#                                 smoke-test it (=WORKER: the worker image
#                                 too); what CI runs
# The default preset builds the CUDA kernels (common/compress/cuda) whenever
# nvcc is found (on PATH or in /usr/local/cuda/bin); their tests skip without
# a GPU. CDDP_REQUIRE_CUDA=1 (CI) makes a missing nvcc an error. The asan
# and tsan presets never build CUDA. Every preset runs the kernel tests on a
# CPU emulator (cddp_cuda_emulated_test, tests/common/compress/cuda_emulation/), GPU or not.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

if [[ "${CDDP_SKIP_FORMAT:-0}" != 1 ]]; then
  echo "[test] === format gate"
  scripts/check_format.sh
fi

cuda=OFF
if command -v nvcc >/dev/null || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  cuda=ON
elif [[ "${CDDP_REQUIRE_CUDA:-0}" == 1 ]]; then
  echo "[test] CDDP_REQUIRE_CUDA=1 but nvcc was not found (PATH, /usr/local/cuda/bin): CI must build the CUDA code" >&2
  exit 1
fi

jobs=${CDDP_JOBS:-$(nproc)}
run_preset() {
  local preset=$1
  echo "[test] === preset $preset: configure"
  local extra=(-DCDDP_WITH_CUDA=OFF)
  if [[ $preset == default ]]; then
    extra=(-DCDDP_IMAGE_TESTS="${CDDP_IMAGE_TESTS:-OFF}" -DCDDP_WITH_CUDA="$cuda")
    echo "[test] CUDA kernels: $cuda"
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
if [[ "${CDDP_SKIP_TSAN:-0}" != 1 ]]; then
  scripts/tsan_deps.sh  # abseil with -fsanitize=thread
  run_preset tsan       # LD_LIBRARY_PATH, TSAN_OPTIONS: the tsan test preset
fi
if [[ "${CDDP_SKIP_FUZZ:-0}" != 1 ]]; then
  run_preset fuzz
fi
echo "[test] all tests passed"
