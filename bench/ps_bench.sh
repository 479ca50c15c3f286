#!/usr/bin/env bash
# Runs the same-run baselines and the parameter-server bench, and prints the
# table: gloo all_reduce of the same N floats between W processes (Debian's
# /usr/bin/python3 with python3-torch) before and after cddp_ps_bench (which
# also measures the raw-TCP floor itself), then each configuration's speed
# against the median of all the gloo all_reduce times.
#
#   bench/ps_bench.sh                  # W=2 S=2 N=25.6M, 5 rounds
#   W=4 S=2 ROUNDS=9 bench/ps_bench.sh --densities=0.01
#
# Env: BUILD (build dir, default build/ps), W, S, N, ROUNDS, GLOO_ITERS.
# Extra arguments go to cddp_ps_bench.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/ps}
W=${W:-2}
S=${S:-2}
N=${N:-25600000}
ROUNDS=${ROUNDS:-5}
GLOO_ITERS=${GLOO_ITERS:-7}

echo "machine: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load $(cut -d' ' -f1-3 /proc/loadavg)"
# gloo runs before and after our bench (the machine's load drifts); the
# ratio uses the median of both runs' all_reduce times.
gloo() {
  /usr/bin/python3 bench/gloo_allreduce.py --world "$W" --n "$N" \
    --iters "$GLOO_ITERS" | sed -n 's/^gloo_allreduce_ms_all=//p'
}
gloo_before=$(gloo)
echo "gloo all_reduce ms (before): $gloo_before"
bench_out=$("$BUILD/bench/cddp_ps_bench" --workers="$W" --shards="$S" \
  --n="$N" --rounds="$ROUNDS" --gloo_ms=0 "$@")
gloo_after=$(gloo)
echo "gloo all_reduce ms (after):  $gloo_after"
gloo_ms=$(echo "$gloo_before,$gloo_after" | tr ',' '\n' | sort -g |
  awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
echo "gloo_allreduce_ms_median=$gloo_ms"
echo "$bench_out"
# The ratios against gloo, now that its median is known.
echo "$bench_out" | awk -F'|' -v g="$gloo_ms" '
  /^\| [0-9]/ { gsub(/^ +| +$/, "", $2); printf "%s: %.2fx the speed of gloo all_reduce (%.1f ms)\n", $2, g / $3, g }'
