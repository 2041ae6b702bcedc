#!/usr/bin/env bash
# The seed walkthrough, offline: a stand-in for the internet's DNS (Knot DNS
# on a free 127.0.0.1 port, serving httpbin.org and my.database.example.com),
# then the aliases in examples/manifests resolved through it, and finally a
# connection through httpbin-service to a stand-in httpbin.org (an HTTP
# server on 127.0.0.1) that fetches /uuid.
#   examples/demo.sh [BUILD_DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
xsvc="$build/xsvc"
manifests="$here/manifests"
work=$(mktemp -d)
source "$here/../tests/integration/knot.sh"
http_pid=
trap 'knot_stop; [ -z "$http_pid" ] || kill "$http_pid" 2>/dev/null; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM # still runs the EXIT trap: knotd is always stopped

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$plain"; "$@"; }

echo "== 1. The manifests are valid (as kubectl apply would check them)"
step "$xsvc" check -f "$manifests"

knot_start "$work/dns"
echo
echo "== 2. A stand-in for the internet's DNS answers on 127.0.0.1:$KNOT_PORT"
server="127.0.0.1:$KNOT_PORT"

echo
echo "== 3. A pod in namespace default resolves httpbin-service"
echo "(its stand-in lives on 127.0.0.1: loopback is denied by default, so that"
echo " no alias can reach the host's own ports; --allow lifts that here)"
step "$xsvc" resolve -f "$manifests" -n default --server "$server" \
  --allow 127.0.0.0/8 httpbin-service
step "$xsvc" resolve -f "$manifests" -n default --server "$server" \
  httpbin-service || echo "(refused by the default policy, as it should be)"

echo
echo "== 4. A pod in namespace prod resolves my-service (the database alias)"
step "$xsvc" resolve -f "$manifests" -n prod --server "$server" my-service

echo
echo "== 5. From another namespace the short name walks the search list"
step "$xsvc" resolve -f "$manifests" -n default --server "$server" my-service.prod
step "$xsvc" resolve -f "$manifests" -n default --server "$server" --json \
  my-service.prod.svc.cluster.local.

echo
echo "== 6. The same through the C API (examples/resolve.c)"
step "$build/examples/example_resolve" "$manifests" prod "$server" my-service

echo
echo "== 7. httpbin-service leads to httpbin.org, here an HTTP server on 127.0.0.1"
python3 "$here/httpbin_standin.py" "$work/http.port" &
http_pid=$!
# up to a minute for it to start (a busy machine), not a fixed few seconds
for _ in $(seq 1200); do [ -s "$work/http.port" ] && break; sleep 0.05; done
http_port=$(cat "$work/http.port")
step "$xsvc" connect -f "$manifests" -n default --server "$server" \
  --allow 127.0.0.0/8 "httpbin-service:$http_port"
step "$build/examples/example_connect" "$manifests" default "$server" \
  "httpbin-service:$http_port" /uuid 127.0.0.0/8

echo
echo "demo: done"
