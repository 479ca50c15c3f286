#!/usr/bin/env bash
# Validates docker/docker-compose.yml without a container engine:
#  - `docker-compose config` (Debian's docker-compose) accepts it;
#  - the resolved file has every service the docs promise, workers that wait
#    for healthy servers, bind mounts that exist, Dockerfiles that exist;
#  - every /metrics target in deploy/prometheus/targets names a compose
#    service (so Prometheus in compose scrapes every process);
#  - servers and workers run mutual TLS with the certificates mounted at
#    /certs (no plaintext); Prometheus and Grafana publish on 127.0.0.1;
#    Grafana's admin password comes from the environment (the file is
#    refused without it) and anonymous access is off;
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
if env -u GRAFANA_ADMIN_PASSWORD docker-compose -f "$compose" config -q 2>"$tmp/nopw.log"; then
  die "docker-compose accepted the file without GRAFANA_ADMIN_PASSWORD"
fi
grep -q GRAFANA_ADMIN_PASSWORD "$tmp/nopw.log" || die "no mention of GRAFANA_ADMIN_PASSWORD: $(cat "$tmp/nopw.log")"
export GRAFANA_ADMIN_PASSWORD=compose-test
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
        # docker/certs is made by scripts/make_certs.sh before `up`.
        if src.startswith("/") and not os.path.exists(src) and \
                not src.endswith("/docker/certs"):
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
    if name.startswith(("server-", "worker-")):
        env = svc.get("environment", {})
        if env.get("CDDP_TLS_DIR") != "/certs" or env.get("CDDP_PLAINTEXT"):
            errors.append(f"{name}: not mutual TLS with /certs (CDDP_TLS_DIR={env.get('CDDP_TLS_DIR')}, CDDP_PLAINTEXT={env.get('CDDP_PLAINTEXT')})")
        if not any(isinstance(v, str) and v.split(":")[1:2] == ["/certs"]
                   for v in svc.get("volumes", [])):
            errors.append(f"{name}: no certificates mounted at /certs")
    for port in svc.get("ports", []):
        if not str(port).startswith("127.0.0.1:"):
            errors.append(f"{name}: publishes {port} beyond localhost")
grafana = services.get("grafana", {}).get("environment", {})
if grafana.get("GF_AUTH_ANONYMOUS_ENABLED") != "false":
    errors.append("grafana: anonymous access is on")
if grafana.get("GF_SECURITY_ADMIN_PASSWORD") != "compose-test":
    errors.append("grafana: the admin password is not GRAFANA_ADMIN_PASSWORD")
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
