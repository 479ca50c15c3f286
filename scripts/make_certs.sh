#!/usr/bin/env bash
# Makes a development CA and the certificates of a job's processes for
# mutual TLS (common/tls/tls_credentials.h), with openssl:
#   DIR/ca.crt, DIR/ca.key                the CA (keep ca.key private)
#   DIR/server-<s>.crt, .key              s = 0..SERVERS-1, subject CN
#                                         server-<s>, with every --name as a
#                                         subject alternative name
#   DIR/worker-<w>.crt, .key              w = 0..WORKERS-1, subject CN
#                                         worker-<w>: the id the servers let
#                                         it act as
# cddp-launch --tls_dir=DIR uses this layout. For production use your own CA
# (cert-manager, see docs/SECURITY.md); the names are what matters.
set -euo pipefail

usage() {
  cat <<USAGE
Usage: scripts/make_certs.sh DIR [--servers N] [--workers N] [--name NAME]...
                                 [--days N] [--key-mode MODE] [--force]
  DIR          where the files go (created; existing certificates are kept
               unless --force)
  --servers N  server certificates to make (default 2)
  --workers N  worker certificates to make (default 2)
  --name NAME  a host name or IP address the servers are dialled at, added
               to every server certificate (repeatable; localhost and
               127.0.0.1 are always added)
  --days N     validity (default 30)
  --key-mode MODE  the keys' file mode (default 600: only you). Containers
               run as uid 10001 and cannot read your 600 files through a
               bind mount: docker-compose needs 644 (development keys only)
  --force      replace existing files
USAGE
}

[[ $# -ge 1 && $1 != -* ]] || { usage >&2; exit 2; }
dir=$1
shift
servers=2 workers=2 days=30 force=0 key_mode=600
names=(localhost 127.0.0.1)
while [[ $# -gt 0 ]]; do
  case $1 in
    --servers) servers=${2:?--servers needs a number}; shift 2 ;;
    --workers) workers=${2:?--workers needs a number}; shift 2 ;;
    --name) names+=("${2:?--name needs a value}"); shift 2 ;;
    --days) days=${2:?--days needs a number}; shift 2 ;;
    --key-mode) key_mode=${2:?--key-mode needs a mode}; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "make_certs.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for n in "$servers" "$workers" "$days"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "make_certs.sh: '$n' is not a number" >&2; exit 2; }
done
[[ $key_mode =~ ^[0-7]{3}$ ]] || { echo "make_certs.sh: --key-mode '$key_mode' is not an octal mode" >&2; exit 2; }
command -v openssl >/dev/null || { echo "make_certs.sh: openssl is not installed" >&2; exit 1; }

mkdir -p "$dir"
umask 077
if [[ -e $dir/ca.crt && $force == 0 ]]; then
  echo "make_certs.sh: $dir/ca.crt exists; adding what is missing (--force replaces all)" >&2
else
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" -days "$days" \
    -subj "/CN=cddp development CA" 2>/dev/null
  force=1  # a new CA: every certificate must be signed again
fi

san=""
for n in "${names[@]}"; do
  if [[ $n =~ ^[0-9.]+$ || $n == *:* ]]; then san+="IP:$n,"; else san+="DNS:$n,"; fi
done
san=${san%,}

# make NAME SAN: DIR/NAME.key and DIR/NAME.crt signed by the CA.
make() {
  local name=$1 ext=$2
  [[ -e $dir/$name.crt && $force == 0 ]] && return 0
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$dir/$name.key" -out "$dir/$name.csr" -subj "/CN=$name" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -out "$dir/$name.crt" -days "$days" \
    -extfile <(printf '%s\n' "$ext") 2>/dev/null
  rm -f "$dir/$name.csr"
}
for ((s = 0; s < servers; s++)); do
  make "server-$s" "subjectAltName=$san
extendedKeyUsage=serverAuth,clientAuth"
done
for ((w = 0; w < workers; w++)); do
  make "worker-$w" "extendedKeyUsage=clientAuth"
done
chmod 644 "$dir"/*.crt
chmod "$key_mode" "$dir"/server-*.key "$dir"/worker-*.key 2>/dev/null || true
echo "make_certs.sh: CA, $servers server and $workers worker certificates in $dir (servers answer to: ${names[*]})"
