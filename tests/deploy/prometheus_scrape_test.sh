#!/usr/bin/env bash
# End-to-end check of the monitoring artefacts against a live cluster:
#  1. starts a real Prometheus (Debian's) on a free loopback port with the
#     shipped deploy/prometheus/prometheus.yml and cddp-alerts.yml, only the
#     target files rewritten to loopback and the intervals shortened;
#  2. runs a short cddp-launch job with mutual TLS (scripts/make_certs.sh)
#     whose servers and workers are started through the images' entrypoint
#     scripts (docker/scripts), so the scripts the images run are the ones
#     tested;
#  3. evaluates every PromQL expression of every dashboard in
#     deploy/grafana/dashboards and every loaded alert rule through the
#     HTTP API (promql_check.mjs): panels must return data, rules must
#     evaluate without error;
#  4. proves the checker fails a panel naming a metric nobody exports.
# Also checks docker/scripts/cddp-health against the live TLS servers: with
# a worker's certificate it sees them serving, without one it does not.
#
#   tests/deploy/prometheus_scrape_test.sh CDDP_LAUNCH CDDP_SERVER CDDP_WORKER DATA_DIR
# Loopback only; bounded (about a minute); every process it starts is
# stopped on exit.
set -euo pipefail

if [[ ${1:-} == -h || ${1:-} == --help || $# -ne 4 ]]; then
  sed -n '2,19s/^# \{0,1\}//p' "$0"; [[ $# -eq 4 ]] || exit 2; exit 0
fi
launch=$(readlink -f "$1") server_bin=$(readlink -f "$2")
worker_bin=$(readlink -f "$3") data_dir=$(readlink -f "$4")
root=$(cd "$(dirname "$0")/../.." && pwd)
rate_interval=15s   # what $__rate_interval becomes; 15 samples at 1 s

say() { printf '[scrape-test] %s\n' "$*"; }
die() { printf '[scrape-test] FAIL: %s\n' "$*" >&2; exit 1; }

for tool in prometheus node curl; do
  command -v $tool >/dev/null || die "$tool not found (scripts/setup.sh installs it)"
done
for b in "$launch" "$server_bin" "$worker_bin"; do [[ -x $b ]] || die "$b not executable"; done
[[ -s $data_dir/mnist/train-images-idx3-ubyte || -s $data_dir/mnist/train-images-idx3-ubyte.gz ]] \
  || die "no MNIST in $data_dir/mnist (scripts/setup.sh puts it there)"

tmp=$(mktemp -d /tmp/cddp-scrape-test.XXXXXX)
prom_pid="" launch_pid=""
cleanup() {
  local rc=$?
  if [[ -n $launch_pid ]]; then  # SIGTERM: it stops its workers and servers
    kill -TERM "$launch_pid" 2>/dev/null || true; wait "$launch_pid" 2>/dev/null || true
  fi
  if [[ -n $prom_pid ]]; then
    kill -TERM "$prom_pid" 2>/dev/null || true; wait "$prom_pid" 2>/dev/null || true
  fi
  if ((rc != 0)); then
    echo "---- cddp-launch output (last 30 lines) ----"; tail -30 "$tmp/launch.log" 2>/dev/null
    echo "---- prometheus output (last 15 lines) ----"; tail -15 "$tmp/prometheus.log" 2>/dev/null
  fi
  rm -rf "$tmp"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Prometheus with the shipped configuration -----------------------------
cp "$root/deploy/prometheus/prometheus.yml" "$root/deploy/prometheus/cddp-alerts.yml" "$tmp/"
mkdir "$tmp/targets"
for job in cddp-server cddp-worker; do echo '[]' >"$tmp/targets/$job.json"; done
sed -i -e 's/^\(  scrape_interval:\) .*/\1 1s/' -e 's/^\(  scrape_timeout:\) .*/\1 1s/' \
  -e 's/^\(  evaluation_interval:\) .*/\1 1s/' "$tmp/prometheus.yml"
[[ $(grep -c ' 1s$' "$tmp/prometheus.yml") == 3 ]] \
  || die "could not shorten the intervals in prometheus.yml (its layout changed?)"

start_prometheus() {
  local port
  for _ in 1 2 3 4 5; do
    # Above Linux's ephemeral range (32768-60999) and cddp-launch's
    # (20000-32000), so no outgoing connection takes it meanwhile.
    port=$((61000 + RANDOM % 4000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue  # taken
    # Its own scrape target (job "prometheus") follows it to this port.
    sed -i -E "s/(targets: \[)(localhost|127\.0\.0\.1):[0-9]+\]/\1127.0.0.1:$port]/" "$tmp/prometheus.yml"
    prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
      --web.listen-address="127.0.0.1:$port" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
    prom_pid=$!
    for _ in $(seq 50); do
      if curl -sf "http://127.0.0.1:$port/-/ready" >/dev/null; then prom_url="http://127.0.0.1:$port"; return 0; fi
      kill -0 "$prom_pid" 2>/dev/null || break
      sleep 0.2
    done
    kill "$prom_pid" 2>/dev/null || true; wait "$prom_pid" 2>/dev/null || true; prom_pid=""
    cat "$tmp/prometheus.log" >&2
  done
  die "Prometheus did not start (its output is above)"
}
start_prometheus
say "prometheus $(prometheus --version 2>&1 | head -1 | cut -d' ' -f3) ready at $prom_url"

# --- a local cluster started through the image entrypoints ----------------
export CDDP_SERVER_BIN=$server_bin CDDP_WORKER_BIN=$worker_bin
"$root/scripts/make_certs.sh" "$tmp/certs" --servers 2 --workers 2 >/dev/null \
  || die "scripts/make_certs.sh failed"
# max_steps bounds the job; the test stops it once it has what it needs.
"$launch" --server_command="$root/docker/scripts/cddp-server-entrypoint" \
  --tls_dir="$tmp/certs" \
  --worker_command="$root/docker/scripts/cddp-worker-entrypoint" \
  --num_servers=2 --num_workers=2 --data_dir="$data_dir" --max_steps=600 \
  --eval_every=20 --eval_limit=300 --threads=1 \
  --lr=0.05 --momentum=0.9 --round_timeout=60s >"$tmp/launch.log" 2>&1 &
launch_pid=$!

for _ in $(seq 150); do
  (($(grep -c '^\[launch\] metrics ' "$tmp/launch.log") == 4)) && break
  kill -0 "$launch_pid" 2>/dev/null || die "cddp-launch exited early"
  sleep 0.2
done
endpoints() {  # endpoints server|worker: host:port of each /metrics
  sed -n "s|^\[launch\] metrics $1 [0-9]*: http://\([^/]*\)/metrics$|\1|p" "$tmp/launch.log"
}
mapfile -t server_metrics < <(endpoints server)
mapfile -t worker_metrics < <(endpoints worker)
((${#server_metrics[@]} == 2 && ${#worker_metrics[@]} == 2)) \
  || die "cddp-launch printed no metrics endpoints"

# Rewrite only the "targets" of the shipped target files (labels kept);
# Prometheus notices the change by itself.
for job in cddp-server cddp-worker; do
  if [[ $job == cddp-server ]]; then list=("${server_metrics[@]}"); else list=("${worker_metrics[@]}"); fi
  # shellcheck disable=SC2016  # JavaScript, not shell
  node -e '
    const fs = require("fs");
    const [src, dst, ...targets] = process.argv.slice(1);
    const groups = JSON.parse(fs.readFileSync(src, "utf8"));
    if (groups.length !== 1) throw new Error(`${src}: expected one target group`);
    groups[0].targets = targets;
    fs.writeFileSync(dst + ".new", JSON.stringify(groups));
    fs.renameSync(dst + ".new", dst);
  ' "$root/deploy/prometheus/targets/$job.json" "$tmp/targets/$job.json" "${list[@]}"
done
say "targets: servers ${server_metrics[*]}, workers ${worker_metrics[*]}"

q() {  # q EXPR: the first sample's value, or empty
  curl -sf "$prom_url/api/v1/query" --data-urlencode "query=$1" \
    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).data.result;process.stdout.write(r.length?String(r[0].value[1]):"")})'
}
say "waiting for every target to be up and the workers to train"
ready=""
for _ in $(seq 120); do
  kill -0 "$launch_pid" 2>/dev/null || die "cddp-launch exited before the checks"
  if [[ $(q 'count(up{job=~"cddp-server|cddp-worker"} == 1)') == 4 &&
        $(q 'min(cddp_worker_steps_total)') =~ ^[0-9]+$ && $(q 'min(cddp_worker_steps_total)') -ge 3 ]]; then
    ready=1; break
  fi
  sleep 1
done
[[ -n $ready ]] || die "targets not all up with training progressing after 120 s"
say "up; letting ${rate_interval} of samples accumulate"
sleep "${rate_interval%s}"
sleep 2
kill -0 "$launch_pid" 2>/dev/null || die "cddp-launch finished before the checks (raise --max_steps)"

# The health checker the images use, against the live servers.
mapfile -t servers < <(sed -n 's/^\[launch\] 2 servers (\(.*\)), .*/\1/p' "$tmp/launch.log" | tr -d ' ' | tr ',' '\n')
CDDP_TLS_CERT=$tmp/certs/worker-0.crt CDDP_TLS_KEY=$tmp/certs/worker-0.key \
  CDDP_TLS_CA=$tmp/certs/ca.crt "$root/docker/scripts/cddp-health" "${servers[@]}" \
  || die "cddp-health with a worker's certificate does not see the servers serving"
if "$root/docker/scripts/cddp-health" "${servers[@]}" 2>/dev/null; then
  die "cddp-health without a certificate saw the TLS servers serving"
fi
grep -q 'cddp-worker-entrypoint: all 2 servers healthy' "$tmp/launch.log" \
  || die "the workers did not run through docker/scripts/cddp-worker-entrypoint"

# --- every dashboard query and every rule ----------------------------------
at=$(date +%s)
expect_rules=$(grep -c '^ *- alert:' "$root/deploy/prometheus/cddp-alerts.yml")
say "checking dashboards and $expect_rules rules at $at"
node "$root/tests/deploy/promql_check.mjs" --prometheus="$prom_url" --time="$at" \
  --rate-interval="$rate_interval" --expect-rules="$expect_rules" \
  "$root"/deploy/grafana/dashboards/*.json || die "dashboard or rule queries failed (above)"

# --- the checker catches a panel whose metric nobody exports ---------------
cat >"$tmp/bad-dashboard.json" <<'JSON'
{"title": "bad", "panels": [
  {"title": "real", "targets": [{"refId": "A", "expr": "sum(rate(cddp_worker_steps_total{worker=~\"$worker\"}[$__rate_interval]))"}]},
  {"title": "typo", "targets": [{"refId": "A", "expr": "sum(rate(cddp_worker_stepz_total{worker=~\"$worker\"}[$__rate_interval]))"}]}]}
JSON
if node "$root/tests/deploy/promql_check.mjs" --prometheus="$prom_url" --time="$at" \
     --rate-interval="$rate_interval" "$tmp/bad-dashboard.json" >"$tmp/bad.log" 2>&1; then
  cat "$tmp/bad.log"; die "the checker accepted a panel querying a metric nobody exports"
fi
grep -q '"typo" \[A\]: no data' "$tmp/bad.log" || { cat "$tmp/bad.log"; die "the checker failed for the wrong reason"; }
grep -q '"real" \[A\]: no data' "$tmp/bad.log" && { cat "$tmp/bad.log"; die "the checker rejected a good panel"; }
say "negative case: a panel naming cddp_worker_stepz_total is rejected"

say "PASS"
