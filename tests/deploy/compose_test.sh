#!/usr/bin/env bash
# Validates docker/docker-compose.yml without a container engine:
#  - `docker-compose config` (Debian's docker-compose) accepts it;
#  - the resolved file has every service the docs promise, workers that wait
#    for healthy servers, bind mounts that exist, Dockerfiles that exist;
#  - every /metrics target in deploy/prometheus/targets names a compose
#    service (so Prometheus in compose scrapes every process);
#  - a compose file with a wrong field type is rejected (the check bites).
#   tests/deploy/compose_test.sh
set -euo pipefail
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0; }
root=$(cd "$(dirname "$0")/../.." && pwd)
die() { printf '[compose-test] FAIL: %s\n' "$*" >&2; exit 1; }
command -v docker-compose >/dev/null \
  || die "docker-compose not found (Debian package docker-compose; scripts/setup.sh)"
# docker-compose is a Python program; its interpreter has PyYAML.
py=$(head -1 "$(command -v docker-compose)" | sed -n 's/^#! *//p' | cut -d' ' -f1)
[[ -x $py ]] || py=/usr/bin/python3

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
compose=$root/docker/docker-compose.yml
docker-compose -f "$compose" config -q || die "docker-compose rejects $compose"
docker-compose -f "$compose" config >"$tmp/resolved.yml"
echo "[compose-test] docker-compose config: ok ($(docker-compose version --short))"

"$py" - "$tmp/resolved.yml" "$root" <<'PY' || die "compose file checks failed (above)"
import glob, json, os, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1])); root = sys.argv[2]
services = cfg["services"]; errors = []
want = {"server-0", "server-1", "worker-0", "worker-1", "prometheus", "grafana"}
if not want <= services.keys():
    errors.append(f"missing services: {sorted(want - services.keys())}")
servers = sorted(s for s in services if s.startswith("server-"))
for name, svc in services.items():
    for vol in svc.get("volumes", []):
        src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
        if src.startswith("/") and not os.path.exists(src):
            errors.append(f"{name}: bind mount {src} does not exist")
    build = svc.get("build")
    if build:
        df = os.path.join(build["context"], build.get("dockerfile", "Dockerfile"))
        if not os.path.isfile(df):
            errors.append(f"{name}: Dockerfile {df} does not exist")
    if name.startswith("worker-"):
        deps = svc.get("depends_on", {})
        for s in servers:
            if deps.get(s, {}).get("condition") != "service_healthy":
                errors.append(f"{name}: does not wait for {s} to be healthy")
        env = svc.get("environment", {})
        if env.get("CDDP_NUM_SERVERS") != str(len(servers)):
            errors.append(f"{name}: CDDP_NUM_SERVERS={env.get('CDDP_NUM_SERVERS')} but {len(servers)} servers")
    if name.startswith("server-") and "healthcheck" not in svc:
        errors.append(f"{name}: no healthcheck")
# Every process has a scrape target and every target is a service.
targets = set()
for f in glob.glob(os.path.join(root, "deploy/prometheus/targets/*.json")):
    for group in json.load(open(f)):
        targets.update(group["targets"])
for t in sorted(targets):
    if t.split(":")[0] not in services:
        errors.append(f"Prometheus target {t} is no compose service")
for s in services:
    if s.startswith(("server-", "worker-")) and f"{s}:9100" not in targets:
        errors.append(f"{s} is not scraped (add {s}:9100 to deploy/prometheus/targets)")
for e in errors: print("  " + e, file=sys.stderr)
print(f"[compose-test] {len(services)} services, {len(targets)} scrape targets consistent" if not errors else "")
sys.exit(1 if errors else 0)
PY

# The validation must bite: a string where compose wants a number.
sed 's/^\( *retries:\) 12$/\1 twelve/' "$compose" >"$tmp/bad.yml"
cmp -s "$compose" "$tmp/bad.yml" && die "could not make the bad copy (retries line changed?)"
if docker-compose -f "$tmp/bad.yml" --project-directory "$root/docker" config -q 2>"$tmp/bad.log"; then
  die "docker-compose accepted healthcheck retries: twelve"
fi
echo "[compose-test] a wrong field type is rejected: $(head -1 "$tmp/bad.log")"
echo "[compose-test] PASS"
