#!/usr/bin/env bash
# Runs the same-run baselines and the parameter-server bench, and prints the
# table: gloo all_reduce of the same N floats between W processes (Debian's
# /usr/bin/python3 with python3-torch), then cddp_ps_bench (which also
# measures the raw-TCP floor itself) with the gloo median passed in.
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
gloo_out=$(/usr/bin/python3 bench/gloo_allreduce.py --world "$W" --n "$N" \
  --iters "$GLOO_ITERS")
echo "$gloo_out"
gloo_ms=$(echo "$gloo_out" | sed -n 's/^gloo_allreduce_ms_median=//p')
"$BUILD/bench/cddp_ps_bench" --workers="$W" --shards="$S" --n="$N" \
  --rounds="$ROUNDS" --gloo_ms="$gloo_ms" "$@"
