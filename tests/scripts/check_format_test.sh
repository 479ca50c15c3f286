#!/usr/bin/env bash
# scripts/check_format.sh is a real gate: it fails on a badly formatted file
# (naming it and the fix command) and passes on the same file formatted.
# Works in a scratch directory under $1 (default: a mktemp dir inside the
# repository, so the repository's .clang-format applies). Exits 77 (skip)
# without clang-format.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v "${CLANG_FORMAT:-clang-format}" >/dev/null || { echo "no clang-format: skip"; exit 77; }
scratch_parent=${1:-$root/build}
mkdir -p "$scratch_parent"
dir=$(mktemp -d "$scratch_parent/check_format_test.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cp "$root/.clang-format" "$dir/"

printf 'int  f( int x ){return x+1;}\n' > "$dir/bad.cc"
printf 'int f(int x) { return x + 1; }\n' > "$dir/good.cc"

if out=$("$root/scripts/check_format.sh" "$dir/bad.cc" 2>&1); then
  echo "FAIL: the gate passed a badly formatted file:"; echo "$out"; exit 1
fi
grep -q "bad.cc" <<<"$out" || { echo "FAIL: the offender is not named:"; echo "$out"; exit 1; }
grep -q "fix: .*-i .*bad.cc" <<<"$out" || { echo "FAIL: no fix command:"; echo "$out"; exit 1; }

out=$("$root/scripts/check_format.sh" "$dir/good.cc" 2>&1) \
  || { echo "FAIL: the gate refused a formatted file:"; echo "$out"; exit 1; }

# The fix command it prints makes the file pass.
"${CLANG_FORMAT:-clang-format}" -i "$dir/bad.cc"
"$root/scripts/check_format.sh" "$dir/bad.cc" >/dev/null \
  || { echo "FAIL: still refused after the fix"; exit 1; }
echo "PASS"
