#!/usr/bin/env bash
# Reproduces the seed's accuracy table: SimpleCNN, W = 2 workers, S = 2
# shards, the same epochs and seed for dense and for densities 10 %, 1 %,
# 0.1 %, on MNIST and Fashion-MNIST. Writes, under $OUT (default
# out/accuracy):
#   <dataset>_<density>.log    the full run
#   <dataset>_<density>.tsv    step <tab> test accuracy (worker 0's evals)
#   summary.tsv                dataset density accuracy uplink_B/step saving wall_s
#   *.png                      accuracy vs step, final accuracy vs uplink bytes
# Usage: bench/accuracy_experiment.sh [--epochs=3] [--datasets="mnist fashion-mnist"]
#        [--densities="dense 0.1 0.01 0.001"] [--eval_every=200] [--plot_only]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=3
datasets="mnist fashion-mnist"
densities="dense 0.1 0.01 0.001"
eval_every=200
plot_only=0
for a in "$@"; do
  case "$a" in
    --epochs=*) epochs=${a#*=} ;;
    --datasets=*) datasets=${a#*=} ;;
    --densities=*) densities=${a#*=} ;;
    --eval_every=*) eval_every=${a#*=} ;;
    --plot_only) plot_only=1 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
out=${OUT:-out/accuracy}
mkdir -p "$out"
cmake --build --preset default --target cddp-launch cddp-server cddp-worker >/dev/null
launch=build/default/deploy/local/cddp-launch

summary="$out/summary.tsv"
if ((plot_only == 0)); then
printf 'dataset\tdensity\taccuracy\tuplink_bytes_per_step\tsaving\twall_s\n' > "$summary"
for ds in $datasets; do
  for d in $densities; do
    name="${ds}_${d}"
    if [[ $d == dense ]]; then flags=(--nocompress); else flags=(--compress --ratio="$d"); fi
    echo "[experiment] $name: $epochs epochs"
    "$launch" --num_servers=2 --num_workers=2 --model=simple_cnn --dataset="$ds" \
      --epochs="$epochs" --batch_size=64 --lr=0.05 --momentum=0.9 --round_timeout=60s --seed=1 \
      --eval_every="$eval_every" --nometrics "${flags[@]}" > "$out/$name.log" 2>&1 \
      || { echo "[experiment] $name FAILED; see $out/$name.log" >&2; exit 1; }
    grep -o 'EVAL step=[0-9]* test_loss=[0-9.]* test_accuracy=[0-9.]*' "$out/$name.log" \
      | sed -E 's/EVAL step=([0-9]+) test_loss=[0-9.]+ test_accuracy=([0-9.]+)/\1\t\2/' > "$out/$name.tsv"
    acc=$(sed -n 's/^final test accuracy: \([0-9.]*\)%.*/\1/p' "$out/$name.log")
    steps=$(sed -n 's/.*(worker 0, \([0-9]*\) steps).*/\1/p' "$out/$name.log")
    wire_mb=$(sed -n 's/^uplink: \([0-9.]*\) MB on the wire.*/\1/p' "$out/$name.log")
    saving=$(sed -n 's/.*saving \([0-9.-]*\)%).*/\1/p' "$out/$name.log")
    wall=$(sed -n 's/^wall time: \([0-9.]*\) s/\1/p' "$out/$name.log")
    # Uplink per step per worker (the summary sums both workers).
    per_step=$(awk -v mb="$wire_mb" -v s="$steps" 'BEGIN{printf "%.0f", mb*1e6/s/2}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ds" "$d" "$acc" "$per_step" "$saving" "$wall" >> "$summary"
    echo "[experiment] $name: accuracy $acc%, uplink $per_step B/step/worker, saving $saving%, $wall s"
  done
done
fi  # plot_only
column -t "$summary"

# Plots (gnuplot from Debian's gnuplot-nox).
if command -v gnuplot >/dev/null; then
  for ds in $datasets; do
    plot=""
    for d in $densities; do
      [[ -n $plot ]] && plot+=", "
      label=$d; [[ $d != dense ]] && label="density $d"
      plot+="'$out/${ds}_${d}.tsv' using 1:(100*\$2) with linespoints title '$label'"
    done
    gnuplot <<GP
set terminal pngcairo size 800,500
set output '$out/accuracy_vs_step_${ds}.png'
set title 'SimpleCNN on $ds, 2 workers x 2 shards: test accuracy vs step'
set xlabel 'step'; set ylabel 'test accuracy (%)'; set key bottom right; set grid
plot $plot
GP
  done
  plot=""
  for ds in $datasets; do
    awk -F'\t' -v ds="$ds" '$1 == ds' "$summary" > "$out/summary_${ds}.tsv"
    [[ -n $plot ]] && plot+=", "
    plot+="'$out/summary_${ds}.tsv' using 4:3 with linespoints title '$ds'"
  done
  gnuplot <<GP
set terminal pngcairo size 800,500
set output '$out/accuracy_vs_uplink.png'
set title 'Final test accuracy vs uplink bytes per step per worker'
set xlabel 'uplink bytes per step per worker (log)'; set ylabel 'final test accuracy (%)'
set logscale x; set key bottom right; set grid
plot $plot
GP
fi
echo "[experiment] results in $out"
