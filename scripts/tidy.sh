#!/usr/bin/env bash
# Runs clang-tidy (the checks in .clang-tidy: function size) over the
# LibTorch-free translation units of build/default/compile_commands.json and
# lists the offenders, one "file:line: function (N lines)" each, sorted and
# without duplicates (a header's function is reported once). Exits 1 if
# there are any, 0 if none.
#   scripts/tidy.sh            configure build/default if needed, then check
#   scripts/tidy.sh FILE...    check just these sources (.cc paths)
# CDDP_JOBS=N parallel clang-tidy processes (default: nproc).
#
# LibTorch-free: a source that includes <torch/...>, <ATen/...>, <c10/...>,
# worker/torch/ or worker/trainer.h is skipped (each costs ~40 s and 1.4 GB
# to parse, and the LibTorch units are few). Exempt by design (see
# .clang-tidy): CUDA kernels under common/compress/cuda/ and main() in a
# main.cc (it only copies flags into an options struct).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=build/default
jobs=${CDDP_JOBS:-$(nproc)}

command -v clang-tidy >/dev/null \
  || { echo "[tidy] clang-tidy not found (scripts/setup.sh installs clang-tidy)" >&2; exit 2; }
if [[ ! -f $build/compile_commands.json ]]; then
  cmake --preset default -DCDDP_WITH_CUDA=OFF >/dev/null
fi
# The generated protobuf/gRPC headers, which the sources include.
cmake --build "$build" --target cddp_proto >/dev/null

if (($#)); then
  mapfile -t files < <(printf '%s\n' "$@")
else
  mapfile -t files < <(python3 - "$build/compile_commands.json" "$root" <<'PY'
import json, re, sys
torch = re.compile(r'#\s*include\s*[<"](torch/|ATen/|c10/|worker/torch/|worker/trainer\.h)')
root = sys.argv[2] + "/"
for entry in json.load(open(sys.argv[1])):
    f = entry["file"]
    if not f.startswith(root) or f.startswith(root + "build/"):
        continue  # generated code
    if torch.search(open(f, errors="replace").read()):
        continue
    print(f[len(root):])
PY
)
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$SECONDS
printf '%s\0' "${files[@]}" | xargs -0 -n 1 -P "$jobs" \
  clang-tidy -p "$build" --quiet \
    --header-filter="^$root/(common|server|worker|deploy|proto|tests|bench)/" \
  2>/dev/null >"$out" || true

# "path:line:col: warning: function 'Name' exceeds recommended size/..."
# followed by a note with "N lines including whitespace and comments".
mapfile -t offenders < <(python3 - "$out" "$root" <<'PY'
import re, sys
root = sys.argv[2] + "/"
warn = re.compile(r"^(\S+?):(\d+):\d+: warning: function '([^']+)' exceeds")
lines = re.compile(r"(\d+) lines including whitespace and comments")
found, last = {}, None
for line in open(sys.argv[1], errors="replace"):
    m = warn.match(line)
    if m:
        path = m.group(1).removeprefix(root)
        last = (path, int(m.group(2)), m.group(3))
        found.setdefault(last, "?")
        continue
    n = lines.search(line)
    if n and last:
        found[last] = n.group(1)
        last = None
for (path, line, fn), n in sorted(found.items()):
    if path.startswith("common/compress/cuda/"):
        continue  # kernels: exempt
    if path.endswith("main.cc") and fn == "main":
        continue  # flag copying: exempt
    print(f"{path}:{line}: {fn} ({n} lines)")
PY
)

echo "[tidy] ${#files[@]} sources in $((SECONDS - start)) s (-j$jobs)"
if ((${#offenders[@]})); then
  echo "[tidy] ${#offenders[@]} functions over the limit in .clang-tidy:"
  printf '  %s\n' "${offenders[@]}"
  exit 1
fi
echo "[tidy] no offenders"
