#!/usr/bin/env bash
# Static checks of deploy/prometheus with Debian's promtool:
#   promtool check config  prometheus.yml (compose / fixed hosts) and
#                          prometheus-k8s.yml (Kubernetes, DNS discovery)
#   promtool check rules   cddp-alerts.yml
#   promtool test rules    cddp-alerts.test.yml (alert unit tests)
# and proves the unit tests bite: a copy of the rules with one alert broken
# must fail them.
#   tests/deploy/promtool_test.sh
set -euo pipefail
[[ ${1:-} == -h || ${1:-} == --help ]] && { sed -n '2,9s/^# \{0,1\}//p' "$0"; exit 0; }
dir=$(cd "$(dirname "$0")/../../deploy/prometheus" && pwd)
die() { printf '[promtool-test] FAIL: %s\n' "$*" >&2; exit 1; }
command -v promtool >/dev/null || die "promtool not found (Debian package prometheus; scripts/setup.sh)"

cd "$dir"
promtool check config prometheus.yml
promtool check config prometheus-k8s.yml
promtool check rules cddp-alerts.yml
promtool test rules cddp-alerts.test.yml

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp cddp-alerts.yml cddp-alerts.test.yml "$tmp/"
sed -i 's/up{job="cddp-server"} == 0/up{job="cddp-server"} == 2/' "$tmp/cddp-alerts.yml"
cmp -s cddp-alerts.yml "$tmp/cddp-alerts.yml" && die "could not break the copy (rule text changed?)"
if promtool test rules "$tmp/cddp-alerts.test.yml" >/dev/null 2>&1; then
  die "the alert unit tests pass with CddpShardDown broken"
fi
echo "[promtool-test] a broken CddpShardDown fails the unit tests, as it should"
echo "[promtool-test] PASS"
