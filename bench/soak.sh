#!/usr/bin/env bash
# Soak run: S cddp-server processes and W model-free workers
# (cddp_push_load) pushing random sparse gradients for ROUNDS rounds on
# loopback. Every SAMPLE_S seconds it records each process's RSS and open
# file descriptors (from /proc) into $OUT/samples.tsv; at the end it prints,
# per process, RSS just after warm-up (the first sample past WARMUP_S
# seconds), its maximum since and at the end, the range of its open fds
# since warm-up, and the workers' round latency p50/p99.
#   W=8 S=4 ROUNDS=2000 SIZE=1000000 DENSITY=0.01 bench/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
W=${W:-8} S=${S:-4} ROUNDS=${ROUNDS:-2000} SIZE=${SIZE:-1000000}
DENSITY=${DENSITY:-0.01} SAMPLE_S=${SAMPLE_S:-2} WARMUP_S=${WARMUP_S:-10}
BUILD=${BUILD:-build/default}
OUT=${OUT:-$(mktemp -d /tmp/cddp-soak.XXXXXX)}
mkdir -p "$OUT"
for b in server/cddp-server bench/cddp_push_load; do
  [[ -x "$BUILD/$b" ]] || { echo "soak: $BUILD/$b not built" >&2; exit 2; }
done

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
port0=$((21000 + RANDOM % 5000))
servers=""
for ((s = 0; s < S; s++)); do
  port=$((port0 + s))
  "$BUILD/server/cddp-server" --listen=127.0.0.1:$port --plaintext --shard_index=$s \
    --num_shards=$S --num_workers=$W --lr=0.01 --round_timeout=30s \
    > "$OUT/server-$s.log" 2>&1 &
  pids+=($!)
  servers+="${servers:+,}127.0.0.1:$port"
done
sleep 1
workers=()
for ((w = 0; w < W; w++)); do
  "$BUILD/bench/cddp_push_load" --servers=$servers --worker_id=$w \
    --num_workers=$W --rounds=$ROUNDS --size=$SIZE --density=$DENSITY \
    > "$OUT/worker-$w.log" 2>&1 &
  pids+=($!)
  workers+=($!)
done

printf 't_s\tprocess\trss_kb\tfds\n' > "$OUT/samples.tsv"
start=$(date +%s)
running() { for p in "${workers[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while running; do
  t=$(( $(date +%s) - start ))
  for ((i = 0; i < ${#pids[@]}; i++)); do
    p=${pids[$i]}
    name=$([[ $i -lt $S ]] && echo "server-$i" || echo "worker-$((i - S))")
    rss=$(awk '/^VmRSS/ {print $2}' /proc/$p/status 2>/dev/null || echo 0)
    fds=$( (ls /proc/$p/fd 2>/dev/null || true) | wc -l)
    [[ -n "$rss" && "$rss" != 0 && "$fds" != 0 ]] && printf '%s\t%s\t%s\t%s\n' "$t" "$name" "$rss" "$fds" >> "$OUT/samples.tsv"
  done
  sleep "$SAMPLE_S"
done
status=0
for p in "${workers[@]}"; do wait "$p" || status=1; done

echo "soak: W=$W S=$S rounds=$ROUNDS size=$SIZE density=$DENSITY, $(( $(date +%s) - start )) s; samples in $OUT/samples.tsv"
awk -F'\t' -v warm="$WARMUP_S" 'NR > 1 && $1 >= warm {
    p = $2
    if (!(p in first)) { first[p] = $3; lo[p] = $4; hi[p] = $4; max[p] = $3 }
    if ($3 > max[p]) max[p] = $3
    if ($4 < lo[p]) lo[p] = $4
    if ($4 > hi[p]) hi[p] = $4
    last[p] = $3 }
  END { printf "%-10s %12s %12s %12s %9s\n", "process", "rss_warm_kB", "rss_max_kB", "rss_end_kB", "fds";
        for (p in last) printf "%-10s %12s %12s %12s %4s-%-4s\n", p, first[p], max[p], last[p], lo[p], hi[p] }' \
  "$OUT/samples.tsv" | sort
grep -h "done:" "$OUT"/worker-*.log
exit $status
