#!/usr/bin/env bash
# Accuracy of compressed training against dense: SimpleCNN, W = 2 workers,
# S = 2 shards, batch 64 per worker, test accuracy after every epoch, on
# MNIST and Fashion-MNIST. Each row is a configuration:
#   dense          no compression; SGD lr 0.05, momentum 0.9 on the servers,
#                  dense downlink
#   D              the same at density D (uplink Top-K with error feedback),
#                  dense downlink (the "before" rows of RESULTS.md)
#   D:srv          momentum on the servers, compressed downlink (Top-K of
#                  what the workers lack, error feedback on the servers)
#   D:dgc          DGC: momentum correction on the workers (--dgc_momentum),
#                  plain SGD on the servers, exact sparse downlink
#   ...:wu         with density warm-up (exponential, from --warmup_start
#                  to D over the first --warmup_steps steps)
#   ...:fp16       fp16 values on the uplink (and on a compressed downlink)
# Writes, under $OUT (default out/accuracy):
#   <dataset>_<row>_s<seed>.log   the full run
#   <dataset>_<row>_s<seed>.tsv   step <tab> test accuracy (every epoch)
#   summary.tsv    dataset row seed acc_epoch1..N uplink_B downlink_B wall_s
#                  (bytes per step per worker; appended to by every run)
#   *.png          accuracy vs epoch; final accuracy vs bytes per step,
#                  uplink and downlink as two series
# Env: OUT (results dir), BUILD (a build dir whose binaries to use as they
# are; default: build/default, rebuilt first).
# Usage: bench/accuracy_experiment.sh [--epochs=3] [--datasets="mnist fashion-mnist"]
#        [--rows="dense 0.001:srv ..."] [--three_seeds="dense 0.001:srv ..."]
#        [--seeds="2 3"] [--warmup_steps=235] [--warmup_start=0.25] [--plot_only]
# --seeds runs every row with just those seeds (e.g. to add seeds 2 and 3 to
# rows already run with seed 1).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=3
datasets="mnist fashion-mnist"
rows="dense"
for d in 0.01 0.001 0.0001; do
  rows+=" $d:srv $d:srv:wu $d:dgc $d:dgc:wu"
done
rows+=" 0.01:srv:fp16 0.01:dgc:fp16"
three_seeds="dense 0.001:srv 0.001:srv:wu 0.001:dgc 0.001:dgc:wu"
warmup_steps=235
warmup_start=0.25
plot_only=0
seeds=""
for a in "$@"; do
  case "$a" in
    --epochs=*) epochs=${a#*=} ;;
    --datasets=*) datasets=${a#*=} ;;
    --rows=*) rows=${a#*=} ;;
    --three_seeds=*) three_seeds=${a#*=} ;;
    --seeds=*) seeds=${a#*=} ;;
    --warmup_steps=*) warmup_steps=${a#*=} ;;
    --warmup_start=*) warmup_start=${a#*=} ;;
    --plot_only) plot_only=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "unknown argument $a" >&2; exit 2 ;;
  esac
done
out=${OUT:-out/accuracy}
mkdir -p "$out"
build=${BUILD:-build/default}
launch=$build/deploy/local/cddp-launch
# 60,000 training images over 2 workers of 64: one evaluation per epoch.
steps_per_epoch=$(( (60000 / 2 + 63) / 64 ))

# The cddp-launch flags of row $1.
row_flags() {
  local row=$1 d mode
  IFS=: read -r d mode _ <<< "$row"
  if [[ $d == dense ]]; then echo "--nocompress --momentum=0.9"; return; fi
  local f="--compress --ratio=$d"
  case "$mode" in
    "") f+=" --momentum=0.9 --downlink=dense" ;;
    srv) f+=" --momentum=0.9 --downlink=compressed" ;;
    dgc) f+=" --momentum=0 --dgc_momentum=0.9 --downlink=sparse" ;;
    *) echo "row $row: unknown mode '$mode'" >&2; exit 2 ;;
  esac
  [[ $row == *:wu* ]] && f+=" --density_warmup_steps=$warmup_steps --density_warmup_start=$warmup_start"
  if [[ $row == *:fp16* ]]; then
    f+=" --value_type=fp16"
    [[ $mode == srv ]] && f+=" --downlink_value_type=fp16"
  fi
  echo "$f"
}

seeds_of() {
  if [[ -n $seeds ]]; then echo "$seeds"; return; fi
  [[ " $three_seeds " == *" $1 "* ]] && echo "1 2 3" || echo "1"
}

summary="$out/summary.tsv"
if ((plot_only == 0)); then
  [[ -n ${BUILD:-} ]] || cmake --build --preset default --target cddp-launch cddp-server cddp-worker >/dev/null
  # Appended to, so runs of different rows add up (delete it to start over).
  if [[ ! -f $summary ]]; then
    header="dataset\trow\tseed"
    for ((e = 1; e <= epochs; e++)); do header+="\tacc_epoch$e"; done
    printf "$header\tuplink_B_per_step\tdownlink_B_per_step\twall_s\n" > "$summary"
  fi
  for ds in $datasets; do
    for row in $rows; do
      for seed in $(seeds_of "$row"); do
        name="${ds}_${row//:/-}_s$seed"
        echo "[experiment] $name: $epochs epochs, $(row_flags "$row")"
        # shellcheck disable=SC2046
        "$launch" --num_servers=2 --num_workers=2 --plaintext --model=simple_cnn --dataset="$ds" \
          --epochs="$epochs" --batch_size=64 --lr=0.05 --round_timeout=60s --seed="$seed" \
          --eval_every="$steps_per_epoch" --nometrics $(row_flags "$row") > "$out/$name.log" 2>&1 \
          || { echo "[experiment] $name FAILED; see $out/$name.log" >&2; exit 1; }
        grep -o 'EVAL step=[0-9]* test_loss=[0-9.]* test_accuracy=[0-9.]*' "$out/$name.log" \
          | sed -E 's/EVAL step=([0-9]+) test_loss=[0-9.]+ test_accuracy=([0-9.]+)/\1\t\2/' \
          | sort -n -u > "$out/$name.tsv"
        steps=$(sed -n 's/.*(worker 0, \([0-9]*\) steps).*/\1/p' "$out/$name.log")
        up_mb=$(sed -n 's/^uplink: \([0-9.]*\) MB on the wire.*/\1/p' "$out/$name.log")
        down_mb=$(sed -n 's/^downlink: \([0-9.]*\) MB on the wire.*/\1/p' "$out/$name.log")
        wall=$(sed -n 's/^wall time: \([0-9.]*\) s/\1/p' "$out/$name.log")
        accs=$(awk -v spe="$steps_per_epoch" -v n="$epochs" '
          { acc[$1] = $2 }
          END { for (e = 1; e <= n; e++) printf "\t%.2f", 100 * acc[e * spe] }' "$out/$name.tsv")
        # Bytes per step per worker (the summary sums both workers).
        per_step() { awk -v mb="$1" -v s="$steps" 'BEGIN{printf "%.0f", mb*1e6/s/2}'; }
        printf '%s\t%s\t%s%s\t%s\t%s\t%s\n' "$ds" "$row" "$seed" "$accs" \
          "$(per_step "$up_mb")" "$(per_step "$down_mb")" "$wall" >> "$summary"
        echo "[experiment] $name: accuracy by epoch$accs; uplink $(per_step "$up_mb") B, downlink $(per_step "$down_mb") B per step; $wall s"
      done
    done
  done
fi
column -t "$summary"

# Plots (gnuplot from Debian's gnuplot-nox): seed 1 of every row.
if command -v gnuplot >/dev/null; then
  for ds in $datasets; do
    plot=""
    for row in $rows; do
      f="$out/${ds}_${row//:/-}_s1.tsv"
      [[ -f $f ]] || continue
      [[ -n $plot ]] && plot+=", "
      plot+="'$f' using (\$1/$steps_per_epoch):(100*\$2) with linespoints title '$row'"
    done
    gnuplot <<GP
set terminal pngcairo size 900,560
set output '$out/accuracy_vs_epoch_${ds}.png'
set title 'SimpleCNN on $ds, 2 workers x 2 shards: test accuracy after each epoch'
set xlabel 'epoch'; set ylabel 'test accuracy (%)'; set key bottom right outside; set grid; set xtics 1
plot $plot
GP
    last=$((3 + epochs))
    awk -F'\t' -v ds="$ds" -v c="$last" 'NR > 1 && $1 == ds && $3 == 1 {
        print $(c + 1), $(c + 2), $c, $2 }' "$summary" > "$out/bytes_${ds}.dat"
    gnuplot <<GP
set terminal pngcairo size 900,560
set output '$out/accuracy_vs_bytes_${ds}.png'
set title '$ds: final test accuracy vs bytes per step per worker'
set xlabel 'bytes per step per worker (log)'; set ylabel 'final test accuracy (%)'
set logscale x; set grid; set key bottom right
plot '$out/bytes_${ds}.dat' using 1:3 with points pt 7 title 'uplink', \
     '' using 2:3 with points pt 5 title 'downlink', \
     '' using 1:3:4 with labels offset 0,1 font ',8' notitle
GP
  done
fi
echo "[experiment] results in $out"
