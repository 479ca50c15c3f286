#!/usr/bin/env bash
# Builds the container images with Debian's own Docker engine and smoke-
# tests them, on a machine without registry access:
#  - starts a private dockerd (Debian's docker.io) under STATE_DIR, stopped
#    on exit; its image store stays there, so later runs reuse the layers;
#  - makes the base image debian:bookworm-slim with mmdebstrap from
#    Debian's mirror (no Docker Hub);
#  - builds docker/Dockerfile.server, checks the image runs as uid 10001,
#    carries no LibTorch, starts with a read-only root filesystem and
#    becomes healthy (HEALTHCHECK = cddp-health, over mutual TLS with the
#    certificates scripts/make_certs.sh made) with /metrics served;
#  - `docker-compose up` of the compose file's two servers (their
#    certificates mounted where the compose file mounts docker/certs):
#    both healthy;
#  - with --worker, also builds docker/Dockerfile.worker (long: LibTorch)
#    and runs servers + workers of the compose file for a short job that
#    must end with every worker exiting 0, then a user's Python script
#    through the worker entrypoint (CDDP_WORKER_SCRIPT, import cddp).
#   tests/deploy/image_smoke_test.sh STATE_DIR [--worker]
# Exits 77 (skipped) when dockerd or mmdebstrap is missing, or when no
# container can run here; needs root.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help || $# -lt 1 ]]; then
  sed -n '2,18s/^# \{0,1\}//p' "$0"; [[ $# -ge 1 ]] || exit 2; exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
state=$(mkdir -p "$1" && cd "$1" && pwd)
with_worker=""; [[ ${2:-} == --worker ]] && with_worker=1
say() { printf '[image-test] %s\n' "$*"; }
die() { printf '[image-test] FAIL: %s\n' "$*" >&2; exit 1; }
skip() { printf '[image-test] SKIP: %s\n' "$*"; exit 77; }

for tool in dockerd docker mmdebstrap docker-compose; do
  command -v $tool >/dev/null || skip "$tool not found (Debian: docker.io mmdebstrap docker-compose)"
done
[[ $(id -u) == 0 ]] || skip "needs root to run dockerd"

# Short socket path (unix sockets are limited to ~100 bytes). --bridge=none:
# no default docker0 bridge (another dockerd may own it); builds use the
# host network, the single container none, compose its own network.
run=$(mktemp -d /tmp/cddp-dockerd.XXXXXX)
export DOCKER_HOST=unix://$run/docker.sock
project=cddp-smoke-$$
dockerd_pid=""
cleanup() {
  local rc=$?
  docker ps -aq --filter "label=cddp-smoke=$$" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker-compose -p "$project" -f "$root/docker/docker-compose.yml" down -v >/dev/null 2>&1 || true
  if [[ -n $dockerd_pid ]]; then
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
  fi
  # dockerd leaves its network namespace mounted under exec-root.
  find "$run/exec/netns" -type f -exec umount {} \; 2>/dev/null || true
  rm -rf "$run" || true
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dockerd --data-root="$state/docker" --exec-root="$run/exec" --pidfile="$run/dockerd.pid" \
  --host="$DOCKER_HOST" --storage-driver=overlay2 --bridge=none \
  >"$state/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker info >/dev/null 2>&1 || { tail -5 "$state/dockerd.log"; skip "dockerd did not start here"; }
say "dockerd $(docker version --format '{{.Server.Version}}') up"

if ! docker image inspect debian:bookworm-slim >/dev/null 2>&1; then
  say "building the base image with mmdebstrap (about a minute)"
  mmdebstrap --quiet --variant=minbase bookworm "$run/base.tar" \
    "deb http://deb.debian.org/debian bookworm main" \
    "deb http://deb.debian.org/debian bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" \
    || die "mmdebstrap failed (is Debian's mirror reachable?)"
  docker import "$run/base.tar" debian:bookworm-slim >/dev/null
  rm -f "$run/base.tar"
fi
docker run --rm --network none debian:bookworm-slim true 2>"$run/err" \
  || { cat "$run/err"; skip "containers cannot run here"; }

# The build context: the work tree (less what .dockerignore drops anyway),
# plus this host's locally added CAs in docker/extra-ca, so the worker's
# data stage can reach the npm registry through a TLS-intercepting proxy.
context=$run/context
mkdir -p "$context"
tar -C "$root" --exclude=./.git --exclude=./build --exclude=./out --exclude=./data -cf - . \
  | tar -C "$context" -xf -
cp /usr/local/share/ca-certificates/*.crt "$context/docker/extra-ca/" 2>/dev/null || true

build() {  # build NAME: docker/Dockerfile.NAME -> cddp-NAME:latest
  say "building cddp-$1 (log: $state/build-$1.log)"
  DOCKER_BUILDKIT=0 docker build --network host -f "$context/docker/Dockerfile.$1" \
    -t "cddp-$1:latest" "$context" >"$state/build-$1.log" 2>&1 \
    || { tail -30 "$state/build-$1.log"; die "docker build of Dockerfile.$1 failed"; }
}
wait_healthy() {  # wait_healthy CONTAINER...
  local c s
  for c in "$@"; do
    for _ in $(seq 60); do
      s=$(docker inspect --format '{{.State.Health.Status}}' "$c" 2>/dev/null || echo gone)
      [[ $s == healthy ]] && break
      [[ $s == gone || $(docker inspect --format '{{.State.Running}}' "$c") != true ]] && break
      sleep 1
    done
    [[ $s == healthy ]] || { docker logs "$c" 2>&1 | tail -10; die "$c is $s, not healthy"; }
  done
}

build server
[[ $(docker run --rm --entrypoint id cddp-server:latest -u) == 10001 ]] || die "server image does not run as uid 10001"
if docker run --rm --entrypoint sh cddp-server:latest -c 'ls /usr/lib/*/ | grep -q libtorch'; then
  die "the server image carries LibTorch"
fi
# The job's certificates, readable by the containers' uid 10001.
"$root/scripts/make_certs.sh" "$run/certs" --servers 2 --workers 2 \
  --name server-0 --name server-1 --key-mode 644 >/dev/null || die "make_certs.sh failed"
docker run -d --label "cddp-smoke=$$" --name "cddp-smoke-server-$$" --network none \
  --read-only --tmpfs /tmp -v "$run/certs:/certs:ro" -e CDDP_TLS_DIR=/certs \
  -e CDDP_SHARD_INDEX=0 -e CDDP_NUM_SERVERS=1 -e CDDP_NUM_WORKERS=1 \
  -e CDDP_CHECKPOINT_DIR=/checkpoints/server-0 cddp-server:latest >/dev/null
wait_healthy "cddp-smoke-server-$$"
# Read the whole page first: `curl | grep -q` under pipefail fails when grep
# exits early and curl gets EPIPE on a page larger than the pipe buffer.
metrics_page=$(docker exec "cddp-smoke-server-$$" curl -sf 127.0.0.1:9100/metrics) \
  || die "the server container's :9100/metrics does not answer"
grep -q '^cddp_server_step' <<<"$metrics_page" \
  || die "the server container serves no cddp_server_step on :9100"
docker logs "cddp-smoke-server-$$" 2>&1 | grep -q '(mutual TLS)' \
  || die "the server container does not serve mutual TLS"
say "server image: non-root, no LibTorch, read-only root, healthy over mutual TLS, /metrics served"

# The compose file's own server definitions (prometheus and grafana need
# Docker Hub, which is not reachable here).
# The certificates made above where the compose file mounts docker/certs
# (compose merges volumes by their path in the container).
cat >"$run/certs.yml" <<YAML
services:
  server-0: {volumes: ["$run/certs:/certs:ro"]}
  server-1: {volumes: ["$run/certs:/certs:ro"]}
  worker-0: {volumes: ["$run/certs:/certs:ro"]}
  worker-1: {volumes: ["$run/certs:/certs:ro"]}
YAML
export GRAFANA_ADMIN_PASSWORD=image-smoke-test  # compose refuses to start without
compose=(docker-compose -p "$project" -f "$root/docker/docker-compose.yml" -f "$run/certs.yml")
services=(server-0 server-1)
if [[ -n $with_worker ]]; then
  build worker
  # A short job: the compose file's workers with fewer steps.
  cat >"$run/short.yml" <<'YAML'
services:
  worker-0: {environment: {CDDP_WORKER_FLAGS: --epochs=1 --max_steps=20 --eval_limit=500}}
  worker-1: {environment: {CDDP_WORKER_FLAGS: --epochs=1 --max_steps=20 --eval_limit=500}}
YAML
  compose+=(-f "$run/short.yml")
  services+=(worker-0 worker-1)
fi
"${compose[@]}" up -d --no-build "${services[@]}" >"$run/up.log" 2>&1 \
  || { cat "$run/up.log"; die "docker-compose up failed"; }
wait_healthy "${project}_server-0_1" "${project}_server-1_1"
say "docker-compose: server-0 and server-1 healthy"
if [[ -n $with_worker ]]; then
  for w in worker-0 worker-1; do
    c=${project}_${w}_1
    docker wait "$c" >"$run/rc" & waiter=$!
    for _ in $(seq 300); do kill -0 $waiter 2>/dev/null || break; sleep 1; done
    kill $waiter 2>/dev/null && die "$w still running after 300 s"
    [[ $(cat "$run/rc") == 0 ]] || { docker logs "$c" 2>&1 | tail -15; die "$w exited $(cat "$run/rc")"; }
    docker logs "$c" 2>&1 | grep -m1 'cddp-worker [0-9]*: finished' || true
  done
  say "docker-compose: both workers trained and exited 0"
  # A user's Python script through the same entrypoint (CDDP_WORKER_SCRIPT):
  # `import cddp` loads the native module in the image and its client runs
  # (no server here: it must say which address it could not reach).
  cat >"$run/user_script.py" <<'PY'
import cddp, torch
try:
    cddp.ParameterSync(torch.nn.Linear(3, 2), reconnect_timeout_s=1)
except ConnectionError as e:
    print("user script: cddp raised ConnectionError:", e)
PY
  out=$(docker run --rm --network none -v "$run/user_script.py:/workspace/s.py:ro" \
    -e CDDP_WORKER_SCRIPT=/workspace/s.py -e CDDP_SERVERS=127.0.0.1:1 -e CDDP_PLAINTEXT=1 \
    -e CDDP_WORKER_ID=0 -e CDDP_NUM_WORKERS=1 -e CDDP_WAIT_TIMEOUT_S=0 \
    cddp-worker:latest 2>&1) || { echo "$out"; die "the user script failed"; }
  grep -q "ConnectionError:.*127.0.0.1:1" <<<"$out" \
    || { echo "$out"; die "the worker image did not run the user's script through cddp"; }
  say "worker image: a user's Python script runs through the entrypoint and imports cddp"
fi
say "PASS"
