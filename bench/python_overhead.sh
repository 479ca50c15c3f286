#!/usr/bin/env bash
# The Python front end's per-step cost over the C++ worker on the same job:
# SimpleCNN on MNIST, 2 workers x 2 shards, ratio 0.01, DGC momentum on the
# workers, plain SGD + sparse downlink on the servers, one thread per worker
# (--threads=1 and OMP_NUM_THREADS=1 for both: LibTorch's OpenBLAS otherwise
# starts a thread per core in each process). Runs cddp-worker and bench/python_worker.py (the same network, data
# share and batch through cddp.ParameterSync) alternately, RUNS times each,
# and reports each run's median of the progress lines' samples/s (the first
# window, with start-up, dropped), then the median over runs and the ratio.
#
#   bench/python_overhead.sh               # RUNS=3 STEPS=300
# Env: BUILD (default build/default), RUNS, STEPS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/default}
RUNS=${RUNS:-3}
STEPS=${STEPS:-300}
launch=(
  "$BUILD/deploy/local/cddp-launch" --num_servers=2 --num_workers=2 --nometrics --plaintext
  --lr=0.05 --momentum=0 --downlink=sparse --dgc_momentum=0.9 --ratio=0.01
  --threads=1 --round_timeout=60s)
# The median samples/s of worker 0's progress lines after the first.
rate() {
  grep -o '^\[worker 0\] epoch [0-9]* step [0-9/]*  [0-9]* samples/s' |
    awk '{print $(NF-1)}' | tail -n +2 | sort -g |
    awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'
}
median() { tr ' ' '\n' | grep . | sort -g |
  awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load $(cut -d' ' -f1-3 /proc/loadavg)"
cc_rates="" py_rates=""
for ((r = 1; r <= RUNS; r++)); do
  cc=$(OMP_NUM_THREADS=1 "${launch[@]}" --model=simple_cnn --dataset=mnist --max_steps="$STEPS" \
    --eval_limit=1 --progress_every=20 2>&1 | rate)
  py=$(OMP_NUM_THREADS=1 "${launch[@]}" -- /usr/bin/python3 \
    bench/python_worker.py --data=data/mnist --max_steps="$STEPS" 2>&1 | rate)
  echo "run $r: cddp-worker $cc samples/s, python $py samples/s"
  cc_rates+=" $cc" py_rates+=" $py"
done
cc=$(echo "$cc_rates" | median) py=$(echo "$py_rates" | median)
echo "median: cddp-worker $cc samples/s, python $py samples/s"
awk -v c="$cc" -v p="$py" 'BEGIN {printf "python per-step time / C++ per-step time = %.3f (overhead %+.1f %%)\n", c / p, 100 * (c / p - 1)}'
