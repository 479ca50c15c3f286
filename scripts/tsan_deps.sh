#!/usr/bin/env bash
# Builds a thread-sanitized copy of abseil from Debian's own source package
# (the version installed, same patches, same ABI and sonames) into
# build/tsan-absl/install/lib, which the tsan test preset puts first on
# LD_LIBRARY_PATH (all of abseil: 128 files, ~120 TUs).
#
# Why: ThreadSanitizer only sees synchronisation compiled with
# -fsanitize=thread. With Debian's build, absl::Mutex / CondVar /
# Notification (which gRPC's locks are too) order nothing as far as TSan
# knows, so every field a Mutex guards looks raced (517 reports on
# cddp_shard_test). gRPC itself stays Debian's: where it hands a call from
# one of its threads to another, our reactors tell TSan about the ordering
# the callback API guarantees (common/happens_before.h), and
# scripts/tsan.supp covers gRPC's own side of those hand-offs.
#
# Idempotent: a library already built for the installed version is kept.
# Needs deb.debian.org (a private deb-src list; the system's apt
# configuration is not touched), dpkg-dev, cmake, ninja, gcc/g++. Cold, on
# 2 cores: ~120 compiles, ~3 min of CPU; ccache makes rebuilds seconds.
#   scripts/tsan_deps.sh
#   CDDP_JOBS=N   parallel compile jobs (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${CDDP_JOBS:-$(nproc)}
say() { printf '[tsan-deps] %s\n' "$*"; }
die() { printf '[tsan-deps] ERROR: %s\n' "$*" >&2; exit 1; }

tsan_c="-fsanitize=thread -fno-omit-frame-pointer"
tsan_cxx="$tsan_c -Wno-tsan"  # absl's flags use a fence TSan cannot model
launcher=()
command -v ccache >/dev/null \
  && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

# fetch_source <source package> <version> <dir>: the unpacked, patched source.
fetch_source() {
  local pkg=$1 version=$2 dir=$3
  [[ -f $dir/CMakeLists.txt ]] && return 0
  say "fetching Debian's $pkg $version source package"
  command -v dpkg-source >/dev/null || die "dpkg-source not found (package dpkg-dev)"
  local apt=$dir.apt
  rm -rf "$apt" "$dir"
  mkdir -p "$apt/lists/partial" "$apt/download" "$(dirname "$dir")"
  local codename keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  {
    echo "deb-src [signed-by=$keyring] http://deb.debian.org/debian $codename main"
    echo "deb-src [signed-by=$keyring] http://deb.debian.org/debian $codename-updates main"
    echo "deb-src [signed-by=$keyring] http://deb.debian.org/debian-security $codename-security main"
  } >"$apt/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
              -o "Dir::State::Lists=$apt/lists" -o "APT::Sandbox::User=root")
  apt-get "${opts[@]}" update -qq || die "apt-get update (deb-src) failed"
  (cd "$apt/download" && apt-get "${opts[@]}" source --download-only -qq "$pkg=$version") \
    || die "apt-get source $pkg=$version failed (is deb.debian.org reachable?)"
  # apt checked the files against the signed archive's Sources index; the
  # .dsc's own signature needs debian-keyring, hence the quiet warning.
  dpkg-source -x "$apt"/download/"${pkg}"_*.dsc "$dir" >/dev/null 2>&1 \
    || die "dpkg-source -x $pkg failed"
}

installed_version() {  # source version of an installed binary package
  dpkg-query -W -f='${source:Version}' "$1" 2>/dev/null \
    || die "$1 is not installed (scripts/setup.sh)"
}

# ---- abseil: every library, installed as Debian builds it ------------------
absl_version=$(installed_version libabsl-dev)
out=$root/build/tsan-absl
if [[ -f $out/install/.version && $(cat "$out/install/.version") == "$absl_version" ]]; then
  say "abseil $absl_version (tsan) already in $out/install/lib"
else
  src=$out/src/abseil-$absl_version
  fetch_source abseil "$absl_version" "$src"
  say "building abseil $absl_version with -fsanitize=thread (-j$jobs)"
  # Debian's own flags (debian/rules): C++17, shared libraries.
  cmake -G Ninja -S "$src" -B "$out/build" "${launcher[@]}" -Wno-dev \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_STANDARD=17 \
    -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF \
    -DCMAKE_INSTALL_PREFIX="$out/install" -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_CXX_FLAGS="$tsan_cxx" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >/dev/null
  ninja -C "$out/build" -j "$jobs" install >/dev/null
  echo "$absl_version" >"$out/install/.version"
fi

say "done"
