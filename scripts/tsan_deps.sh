#!/usr/bin/env bash
# Builds the thread-sanitized copies of the libraries whose synchronisation
# our code relies on, from Debian's own source packages (the versions
# installed, same patches, same ABI and sonames), for the tsan preset's
# tests to load instead of the system's (the tsan test preset puts the two
# lib directories first on LD_LIBRARY_PATH):
#   abseil -> build/tsan-absl/install/lib   (all of it: 128 files, ~120 TUs)
#   gRPC   -> build/tsan-grpc/lib           (libgpr, libgrpc, libgrpc++,
#                                            libupb, libaddress_sorting)
#
# Why: ThreadSanitizer only sees synchronisation compiled with
# -fsanitize=thread. With Debian's builds, absl::Mutex / CondVar /
# Notification (which gRPC's locks are too) order nothing as far as TSan
# knows, so every field a Mutex guards looks raced; and gRPC hands a call
# from thread to thread through its own lock-free queues, so a reactor's
# successive reactions (OnReadDone on one thread, the next on another) look
# like races on the reactor's fields. Measured on cddp_shard_test: 517
# reports with Debian's libraries, 64 with abseil instrumented, and those
# left are all gRPC hand-offs. Instrumenting the libraries fixes that at the
# root instead of suppressing reports in our code.
#
# Idempotent: a library already built for the installed version is kept.
# Needs deb.debian.org (a private deb-src list; the system's apt
# configuration is not touched), dpkg-dev, cmake, ninja, gcc/g++. Cold, on
# 2 cores: abseil ~120 compiles, ~3 min of CPU; gRPC 846 build steps at
# roughly 2 s of CPU each (~15 min on an idle 2-core machine, estimated:
# not yet timed to the end). ccache makes rebuilds minutes.
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

# ---- gRPC: the runtime libraries only (no plugins, no codegen) -------------
grpc_version=$(installed_version libgrpc++-dev)
out=$root/build/tsan-grpc
if [[ -f $out/lib/.version && $(cat "$out/lib/.version") == "$grpc_version" ]]; then
  say "gRPC $grpc_version (tsan) already in $out/lib"
else
  src=$out/src/grpc-$grpc_version
  fetch_source grpc "$grpc_version" "$src"
  say "building gRPC $grpc_version with -fsanitize=thread (-j$jobs)"
  # debian/rules' providers: every dependency from Debian's packages
  # (its absl headers: the same ABI as the instrumented abseil above).
  # libprotoc is only for the code generator plugins, which are off.
  cmake -G Ninja -S "$src" -B "$out/build" "${launcher[@]}" -Wno-dev \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_STANDARD=17 \
    -DBUILD_SHARED_LIBS=ON -DgRPC_BUILD_TESTS=OFF -DgRPC_BUILD_CODEGEN=OFF \
    -DgRPC_BACKWARDS_COMPATIBILITY_MODE=OFF \
    -DgRPC_ABSL_PROVIDER=package -DgRPC_CARES_PROVIDER=package \
    -DgRPC_PROTOBUF_PROVIDER=package -DgRPC_RE2_PROVIDER=package \
    -DgRPC_SSL_PROVIDER=package -DgRPC_ZLIB_PROVIDER=package \
    -DProtobuf_PROTOC_LIBRARY=unused-no-plugins-are-built \
    -DgRPC_BUILD_GRPC_CPP_PLUGIN=OFF -DgRPC_BUILD_GRPC_CSHARP_PLUGIN=OFF \
    -DgRPC_BUILD_GRPC_NODE_PLUGIN=OFF -DgRPC_BUILD_GRPC_OBJECTIVE_C_PLUGIN=OFF \
    -DgRPC_BUILD_GRPC_PHP_PLUGIN=OFF -DgRPC_BUILD_GRPC_PYTHON_PLUGIN=OFF \
    -DgRPC_BUILD_GRPC_RUBY_PLUGIN=OFF \
    -DCMAKE_C_FLAGS="$tsan_c" -DCMAKE_CXX_FLAGS="$tsan_cxx" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" >/dev/null
  ninja -C "$out/build" -j "$jobs" grpc++ >/dev/null
  mkdir -p "$out/lib"
  for lib in gpr grpc grpc++ upb address_sorting; do
    cp -P "$out/build"/lib"$lib".so* "$out/lib/" \
      || die "the gRPC build made no lib$lib.so"
  done
  echo "$grpc_version" >"$out/lib/.version"
fi
say "done"
