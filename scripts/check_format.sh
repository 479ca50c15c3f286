#!/usr/bin/env bash
# The format gate: every tracked C++ source (.h .cc .cu .cuh) must be what
# clang-format (with the repository's .clang-format) makes of it. Prints the
# offending files and the one command that fixes them; exits 1 if any.
#   scripts/check_format.sh           check the whole tree
#   scripts/check_format.sh FILE...   check just these files
# CLANG_FORMAT=clang-format-14 picks the binary (default: clang-format).
# Different clang-format versions format a few constructs differently: CI and
# scripts/setup.sh use Debian 12's (14).
set -euo pipefail
cd "$(dirname "$0")/.."

clang_format=${CLANG_FORMAT:-clang-format}
command -v "$clang_format" >/dev/null \
  || { echo "[format] $clang_format not found (scripts/setup.sh installs clang-format)" >&2; exit 2; }

# Files that must never be formatted, one extended regex each, with why.
# A single construct that must keep its layout is fenced in the file itself
# with "// clang-format off" / "// clang-format on" (as the <<< launch in
# common/compress/cuda/detail/launch.h is) rather than listed here.
excluded=(
  # (none today; e.g. '^third_party/' for vendored code kept as upstream has it)
)

if (($#)); then
  files=("$@")
else
  mapfile -t files < <(git ls-files '*.h' '*.cc' '*.cu' '*.cuh')
fi
if ((${#excluded[@]})); then
  pattern=$(IFS='|'; echo "${excluded[*]}")
  mapfile -t files < <(printf '%s\n' "${files[@]}" | grep -Ev "$pattern" || true)
fi
((${#files[@]})) || { echo "[format] no files to check"; exit 0; }

# One clang-format run per file (in parallel): a file either comes out as it
# went in or is listed.
mapfile -t bad < <(printf '%s\0' "${files[@]}" \
  | xargs -0 -n 8 -P "$(nproc)" sh -c '
      for f; do "$0" --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"; done
    ' "$clang_format" | sort)

if ((${#bad[@]})); then
  echo "[format] ${#bad[@]} of ${#files[@]} files are not clang-format clean:"
  printf '  %s\n' "${bad[@]}"
  echo "[format] fix: $clang_format -i ${bad[*]}"
  exit 1
fi
echo "[format] all ${#files[@]} files clang-format clean"
