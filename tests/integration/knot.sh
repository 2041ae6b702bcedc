# Knot DNS (Debian's knotd) on a free 127.0.0.1 port as a stand-in for the
# internet's DNS. Source this file, then:
#   knot_write DIR PORT  writes the zones and knot.conf (listening on
#                        127.0.0.1@PORT) into DIR; for callers that run
#                        knotd themselves (tests/integration/*.c)
#   knot_start DIR       knot_write with a free port, starts knotd as a
#                        background child of this shell, waits until it
#                        answers (retrying with another port if it does
#                        not); sets KNOT_PORT and KNOT_PID at once, so an
#                        EXIT trap running knot_stop never leaks it
#   knot_stop            stops it by pid and waits for it to exit
# Zones (query counts by type: knotc -s DIR/knot.sock stats mod-stats):
#   cache.test    www A (TTL 30), burst A (TTL 30); rewritten and reloaded
#                 by tests (knot_cache_zone, knotc zone-reload)
#   example.com   my.database A 192.0.2.10 + AAAA 2001:db8::10 (TTL 300),
#                 v4only A 192.0.2.20 (TTL 60, no AAAA), alias CNAME
#                 my.database (TTL 120), loop-a/loop-b CNAMEs to each other,
#                 big with 100 A records (too many for UDP: TC, then TCP);
#                 negative answers carry SOA MINIMUM 60
#   httpbin.org   A 127.0.0.1 (the seed walkthrough's alias target)
#   broken.example  a zone whose file does not load: SERVFAIL
# Names outside these zones are REFUSED (Knot is authoritative only).
# Only loopback is ever used; knotd runs as the calling user (no `user:`).

knot_free_port() { # free on UDP and TCP (Knot listens on both)
  python3 -c 'import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        t.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        t.close()
        u.close()
    print(port)
    break'
}

knot_write() {
  local dir=$1 port=$2
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
loop-a 60 IN CNAME loop-b.example.com.
loop-b 60 IN CNAME loop-a.example.com.
@ 300 IN MX 10 mail.example.com.
mail 300 IN A 192.0.2.25
info 120 IN TXT "forwarded as it is"
ZONE
  for i in $(seq 100 199); do
    echo "big 30 IN A 192.0.2.$i"
  done >> "$dir/example.com.zone"
  for i in $(seq 10 19); do # a TXT set of ~1.1 KB: over 512 octets
    echo "bigtxt 30 IN TXT \"chunk $i $(printf 'x%.0s' $(seq 1 90))\""
  done >> "$dir/example.com.zone"
  cat > "$dir/httpbin.org.zone" <<'ZONE'
$ORIGIN httpbin.org.
$TTL 3600
@ IN SOA ns.httpbin.org. hostmaster.httpbin.org. 1 7200 1800 86400 60
@ IN NS ns.httpbin.org.
ns IN A 127.0.0.1
@ 60 IN A 127.0.0.1
ZONE
  cat > "$dir/broken.example.zone" <<'ZONE'
$ORIGIN broken.example.
@ IN SOA ns hostmaster 1 7200 1800 86400 60
this line is not a record
ZONE
  knot_cache_zone "$dir" 1 192.0.2.50
  cat > "$dir/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$port
    rundir: $dir
database:
    storage: $dir
control:
    listen: $dir/knot.sock
log:
  - target: $dir/knot.log
    any: info
mod-stats:
  - id: default
    query-type: on
template:
  - id: default
    storage: $dir
    global-module: mod-stats/default
zone:
  - domain: cache.test
    file: cache.test.zone
  - domain: example.com
    file: example.com.zone
  - domain: httpbin.org
    file: httpbin.org.zone
  - domain: broken.example
    file: broken.example.zone
CONF
}

# cache.test, which tests rewrite and reload: knot_cache_zone DIR SERIAL
# WWW_ADDR [EXTRA_RECORD]. www (TTL 30), negative answers SOA MINIMUM 20.
knot_cache_zone() {
  cat > "$1/cache.test.zone" <<ZONE
\$ORIGIN cache.test.
\$TTL 3600
@ IN SOA ns.cache.test. hostmaster.cache.test. $2 7200 1800 86400 20
@ IN NS ns.cache.test.
ns IN A 127.0.0.1
www 30 IN A $3
burst 30 IN A 192.0.2.60
${4:-}
ZONE
}

knot_ready() {
  kdig @127.0.0.1 -p "$1" +timeout=1 +retry=0 +short \
    my.database.example.com A 2>/dev/null | grep -q 192.0.2.10
}

knot_start() {
  local dir=$1 tries
  for tries in 1 2 3 4 5; do
    KNOT_PORT=$(knot_free_port)
    knot_write "$dir" "$KNOT_PORT"
    # In the foreground, as this shell's child: its pid is known at once, so
    # an EXIT trap calling knot_stop can stop it even during start-up.
    knotd -c "$dir/knot.conf" </dev/null >/dev/null 2>&1 &
    KNOT_PID=$!
    export KNOT_PORT KNOT_PID
    local end=$((SECONDS + 60)) # a minute to come up: a hang, not slowness
    while [ "$SECONDS" -lt "$end" ]; do
      knot_running "$KNOT_PID" || break # exited: port taken?
      if knot_ready "$KNOT_PORT"; then
        return 0
      fi
      sleep 0.1
    done
    knot_stop
  done
  echo "knot_start: knotd did not come up (see $dir/knot.log)" >&2
  return 1
}

# 1 while pid is alive and not a zombie (Linux /proc).
knot_running() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

knot_stop() {
  [ -n "${KNOT_PID:-}" ] || return 0
  kill "$KNOT_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do
    knot_running "$KNOT_PID" || break
    sleep 0.1
  done
  knot_running "$KNOT_PID" && kill -9 "$KNOT_PID" 2>/dev/null
  wait "$KNOT_PID" 2>/dev/null || true # reap it when it is our child
  KNOT_PID=
}
