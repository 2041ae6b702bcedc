# Start and stop Knot DNS (Debian's knotd) on a free 127.0.0.1 port as a
# stand-in for the internet's DNS. Source this file, then:
#   knot_start DIR   writes zones and config into DIR, starts knotd, waits
#                    until it answers; sets KNOT_PORT and KNOT_PID
#   knot_stop        stops it (by pid) and waits for it to exit
# Zones: example.com (my.database A+AAAA 300, v4only A 60, alias CNAME 120)
# and httpbin.org (A 127.0.0.1). Only loopback is ever used.

knot_free_port() {
  python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

knot_start() {
  local dir=$1 tries
  mkdir -p "$dir"
  cat > "$dir/example.com.zone" <<'ZONE'
$ORIGIN example.com.
$TTL 3600
@ IN SOA ns.example.com. hostmaster.example.com. 1 7200 1800 86400 60
@ IN NS ns.example.com.
ns IN A 127.0.0.1
my.database 300 IN A 192.0.2.10
my.database 300 IN AAAA 2001:db8::10
v4only 60 IN A 192.0.2.20
alias 120 IN CNAME my.database.example.com.
ZONE
  cat > "$dir/httpbin.org.zone" <<'ZONE'
$ORIGIN httpbin.org.
$TTL 3600
@ IN SOA ns.httpbin.org. hostmaster.httpbin.org. 1 7200 1800 86400 60
@ IN NS ns.httpbin.org.
ns IN A 127.0.0.1
@ 60 IN A 127.0.0.1
ZONE
  for tries in 1 2 3 4 5; do
    KNOT_PORT=$(knot_free_port)
    cat > "$dir/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$KNOT_PORT
    rundir: $dir
database:
    storage: $dir
control:
    listen: $dir/knot.sock
log:
  - target: $dir/knot.log
    any: info
template:
  - id: default
    storage: $dir
zone:
  - domain: example.com
    file: example.com.zone
  - domain: httpbin.org
    file: httpbin.org.zone
CONF
    rm -f "$dir/knot.pid"
    knotd -c "$dir/knot.conf" -d >/dev/null 2>&1 || continue
    for _ in $(seq 1 50); do
      if kdig @127.0.0.1 -p "$KNOT_PORT" +timeout=1 +retry=0 +short \
          my.database.example.com A 2>/dev/null | grep -q 192.0.2.10; then
        KNOT_PID=$(cat "$dir/knot.pid")
        export KNOT_PORT KNOT_PID
        return 0
      fi
      sleep 0.1
    done
    [ -f "$dir/knot.pid" ] && kill "$(cat "$dir/knot.pid")" 2>/dev/null
  done
  echo "knot_start: knotd did not come up (see $dir/knot.log)" >&2
  return 1
}

knot_stop() {
  [ -n "${KNOT_PID:-}" ] || return 0
  kill "$KNOT_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$KNOT_PID" 2>/dev/null || break
    sleep 0.1
  done
  KNOT_PID=
}
