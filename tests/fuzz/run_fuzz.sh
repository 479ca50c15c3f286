#!/usr/bin/env bash
# One bounded fuzzing run, as ctest runs each target:
#   tests/fuzz/run_fuzz.sh FUZZER CORPUS SECONDS
# FUZZER runs for SECONDS over the committed CORPUS (read only: new inputs
# go to a scratch folder next to the binary). A crash, leak, timeout or
# sanitizer report fails it; the input that did it is left in the scratch
# folder's parent as crash-*/leak-*/timeout-* and named in the output.
set -euo pipefail
if [[ $# -ne 3 ]]; then
  sed -n '2,7s/^# \{0,1\}//p' "$0" >&2; exit 2
fi
fuzzer=$1 corpus=$2 seconds=$3
[[ -d $corpus ]] || { echo "run_fuzz.sh: no corpus at $corpus" >&2; exit 2; }
work=$(dirname "$fuzzer")/$(basename "$fuzzer")-run
rm -rf "$work/scratch"
mkdir -p "$work/scratch"
cd "$work"
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -print_final_stats=1 scratch "$corpus"
