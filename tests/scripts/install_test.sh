#!/usr/bin/env bash
# `cmake --install` puts libcddp.so, the cddp/ headers, a find_package(cddp)
# config and the three programs under a prefix, and a project outside this
# tree (examples/cpp, configured on its own) finds cddp::cddp there, builds
# and runs. Usage: install_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: install_test.sh BUILD_DIR}
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for f in lib/libcddp.so include/cddp/cddp.h include/cddp/options.h \
         lib/cmake/cddp/cddpConfig.cmake bin/cddp-launch bin/cddp-server \
         bin/cddp-worker; do
  [[ -e $tmp/prefix/$f ]] || { echo "FAIL: $f not installed"; exit 1; }
done

cmake -S "$root/examples/cpp" -B "$tmp/example" -G Ninja \
  -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release >"$tmp/cfg.log" 2>&1 \
  || { cat "$tmp/cfg.log"; echo "FAIL: find_package(cddp)"; exit 1; }
cmake --build "$tmp/example" >"$tmp/build.log" 2>&1 \
  || { cat "$tmp/build.log"; echo "FAIL: building against the install"; exit 1; }
# It links the installed library, not the build tree's objects. (ldd's
# output is read whole first: under pipefail `ldd | grep -q` fails when grep
# exits at the first match and ldd gets SIGPIPE.)
libs=$(ldd "$tmp/example/mnist_custom")
grep -q "$tmp/prefix/lib/libcddp.so" <<<"$libs" \
  || { echo "$libs"; echo "FAIL: not linked to the installed libcddp.so"; exit 1; }
# And runs: without the launcher's environment it says what is missing.
set +e
out=$(env -u CDDP_SERVERS "$tmp/example/mnist_custom" data/mnist 2>&1)
code=$?
set -e
[[ $code == 2 && $out == *"CDDP_SERVERS is not set"* ]] \
  || { echo "$out"; echo "FAIL: exit $code"; exit 1; }
echo "PASS: installed, found with find_package(cddp), built and run"
