#!/usr/bin/env bash
# xsvc serve against NSD, Knot DNS and dnsmasq with dnsperf, same query file,
# same run, every server on a free 127.0.0.1 port (and stopped afterwards).
# 10,000 Services over 20 namespaces: 70% ExternalName (queried CNAME),
# 30% ClusterIP (queried A); the other servers serve the equivalent zone.
# Prints a table: queries/s, lost queries, and xsvc's memory per Service.
#
# Also: each server's CPU time per answered query (user + system, its
# threads and children), the capacity that gives (one dnsperf thread on the
# other core can be the limit on queries/s, not the server), and xsvc
# with --cache 30 (xsvc_c30: replies kept and TTL-normalised).
#
# usage: bench/dnsperf.sh [SECONDS]   (each server runs that long, default 10)
# needs: dnsperf nsd knot dnsmasq-base (Debian), a Release build of xsvc in
#        build-bench/ (bench/run.sh makes one) or BUILD_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
secs=${1:-10}
n=10000
for tool in dnsperf nsd knotd dnsmasq; do
  command -v "$tool" >/dev/null || { echo "dnsperf.sh: $tool is missing" >&2; exit 2; }
done
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DXSVC_BUILD_TESTS=OFF \
  -DXSVC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target xsvc_cli >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() {
  python3 -c 'import socket
for _ in range(50):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]; t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try: t.bind(("127.0.0.1", p))
    except OSError: continue
    finally: t.close(); u.close()
    print(p); break'
}

# The registry and its equivalents.
python3 - "$work" "$n" <<'PY'
import os, sys
work, n = sys.argv[1], int(sys.argv[2])
os.makedirs(work + "/manifests")
m, z, d, q = [], [], [], []
z.append("$ORIGIN cluster.local.\n$TTL 5\n@ IN SOA ns.dns.cluster.local. "
         "hostmaster.cluster.local. 1 7200 1800 86400 5\n@ IN NS ns.dns\nns.dns IN A 127.0.0.1")
for i in range(n):
    ns, name = "team-%02d" % (i % 20), "svc-%05d" % i
    fq = "%s.%s.svc.cluster.local" % (name, ns)
    if i % 10 < 7:
        ext = "ext-%05d.example.com" % i
        m.append("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\n"
                 "spec: {type: ExternalName, externalName: %s}" % (name, ns, ext))
        z.append("%s. IN CNAME %s." % (fq, ext))
        d.append("cname=%s,%s" % (fq, ext))
        d.append("host-record=%s,192.0.2.%d" % (ext, i % 250 + 1))
        q.append("%s CNAME" % fq)
    else:
        ip = "10.%d.%d.%d" % (96 + (i >> 16), (i >> 8) & 255, i & 255 or 1)
        m.append("apiVersion: v1\nkind: Service\nmetadata: {name: %s, namespace: %s}\n"
                 "spec: {clusterIP: %s, ports: [{name: http, port: 80}]}" % (name, ns, ip))
        z.append("%s. IN A %s" % (fq, ip))
        d.append("host-record=%s,%s" % (fq, ip))
        q.append("%s A" % fq)
open(work + "/manifests/services.yaml", "w").write("\n---\n".join(m) + "\n")
os.chmod(work + "/manifests/services.yaml", 0o644)
open(work + "/cluster.local.zone", "w").write("\n".join(z) + "\n")
open(work + "/dnsmasq.conf", "w").write("\n".join(d) + "\n")
open(work + "/queries", "w").write("\n".join(q) + "\n")
os.makedirs(work + "/empty")
PY

wait_up() { # PORT: the server answers
  for _ in $(seq 1 100); do
    kdig @127.0.0.1 -p "$1" +timeout=1 +retry=0 +short svc-00007.team-07.svc.cluster.local A \
      2>/dev/null | grep -q . && return 0
    sleep 0.1
  done
  echo "dnsperf.sh: server on port $1 did not come up" >&2; return 1
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

# Servers run on CPU 0 and dnsperf on CPU 1 (when there are two), so that
# they do not take turns on one core; each server is measured twice and
# the better run counts (lost queries: the sum of both).
cpu0=; cpu1=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  cpu0="taskset -c 0"; cpu1="taskset -c 1"
fi
# CPU time (clock ticks, user + system) of a server: the process, its
# threads and the processes it forked (NSD serves from children).
descendants() { local k; for k in $(ps -o pid= --ppid "$1"); do echo "$k"; descendants "$k"; done; }
tree_ticks() {
  local p t=0 v
  for p in "$1" $(descendants "$1"); do
    # after "PID (COMM) ", which may hold spaces ("nsd: server 1"): state is
    # field 1, utime 12, stime 13
    v=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
hz=$(getconf CLK_TCK)

# dnsperf against NAME on PORT (server process PID): best queries/s, lost
# queries over both runs, and the server's CPU time per answered query
# (capacity: queries one core would answer at 100%; with one dnsperf
# thread the client, not the server, may set the queries/s).
run_perf() { # NAME PORT PID
  local out best=0 lost_sum=0 r qps lost done_q t0 t1 ticks=0 answered=0
  for r in 1 2; do
    t0=$(tree_ticks "$3")
    out=$($cpu1 dnsperf -s 127.0.0.1 -p "$2" -d "$work/queries" -l "$secs" -c 8 -T 1 -q 200 2>&1)
    t1=$(tree_ticks "$3")
    qps=$(echo "$out" | awk '/Queries per second/ {printf "%d", $4}')
    lost=$(echo "$out" | awk '/Queries lost/ {print $3}')
    done_q=$(echo "$out" | awk '/Queries completed/ {print $3}')
    [ "$qps" -gt "$best" ] && best=$qps
    lost_sum=$((lost_sum + lost))
    ticks=$((ticks + t1 - t0)); answered=$((answered + done_q))
  done
  awk -v n="$1" -v q="$best" -v l="$lost_sum" -v t="$ticks" -v a="$answered" -v hz="$hz" 'BEGIN {
    us = t * 1e6 / hz / a
    printf "%-10s %12s %10s %14.2f %16d\n", n, q, l, us, 1e6 / us }'
  eval "qps_$1=$best"
  eval "cpu_$1=\$(awk -v t=$ticks -v a=$answered -v hz=$hz 'BEGIN {print t * 1e6 / hz / a}')"
}

echo "== dnsperf: $n services, $(wc -l < "$work/queries") queries in the file, best of 2 runs of ${secs} s per server, 1 dnsperf thread${cpu1:+ on CPU 1, servers on CPU 0}"
printf '%-10s %12s %10s %14s %16s\n' server "queries/s" lost "CPU us/query" "capacity q/s"

# xsvc serve (and its memory: 10,000 Services vs none)
port=$(free_port)
"$build/xsvc" serve -f "$work/empty" --listen "127.0.0.1:$port" >/dev/null & pids+=($!)
sleep 0.5; empty_kb=$(rss_kb "${pids[-1]}"); kill "${pids[-1]}"
port=$(free_port)
$cpu0 "$build/xsvc" serve -f "$work/manifests" --listen "127.0.0.1:$port" >/dev/null & pids+=($!)
wait_up "$port"; full_kb=$(rss_kb "${pids[-1]}")
run_perf xsvc "$port" "${pids[-1]}"; after_kb=$(rss_kb "${pids[-1]}"); kill "${pids[-1]}"
# the same as CoreDNS's `cache 30` (replies kept, TTLs normalised)
port=$(free_port)
$cpu0 "$build/xsvc" serve -f "$work/manifests" --listen "127.0.0.1:$port" --cache 30 \
  >/dev/null & pids+=($!)
wait_up "$port"; run_perf xsvc_c30 "$port" "${pids[-1]}"; kill "${pids[-1]}"

# NSD
port=$(free_port); mkdir -p "$work/nsd"
cat > "$work/nsd/nsd.conf" <<CONF
server:
    ip-address: 127.0.0.1@$port
    username: ""
    zonesdir: "$work"
    database: ""
    pidfile: "$work/nsd/nsd.pid"
    xfrdfile: "$work/nsd/xfrd.state"
    zonelistfile: "$work/nsd/zone.list"
    logfile: "$work/nsd/nsd.log"
    server-count: 1
remote-control:
    control-enable: no
zone:
    name: cluster.local
    zonefile: cluster.local.zone
CONF
$cpu0 nsd -d -c "$work/nsd/nsd.conf" >/dev/null 2>&1 & pids+=($!)
wait_up "$port"; run_perf nsd "$port" "${pids[-1]}"; kill "${pids[-1]}"

# Knot DNS
port=$(free_port); mkdir -p "$work/knot"
cat > "$work/knot/knot.conf" <<CONF
server:
    listen: 127.0.0.1@$port
    rundir: $work/knot
    background-workers: 1
    udp-workers: 1
    tcp-workers: 1
database:
    storage: $work/knot
log:
  - target: $work/knot/knot.log
    any: error
zone:
  - domain: cluster.local
    storage: $work
    file: cluster.local.zone
CONF
$cpu0 knotd -c "$work/knot/knot.conf" >/dev/null 2>&1 & pids+=($!)
wait_up "$port"; run_perf knot "$port" "${pids[-1]}"; kill "${pids[-1]}"

# dnsmasq (no upstream, no /etc/hosts)
port=$(free_port)
$cpu0 dnsmasq -k -C "$work/dnsmasq.conf" -p "$port" --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --cache-size=0 --pid-file="$work/dnsmasq.pid" --user=root \
  >/dev/null 2>&1 & pids+=($!)
wait_up "$port"; run_perf dnsmasq "$port" "${pids[-1]}"; kill "${pids[-1]}"

echo
awk -v x="$qps_xsvc" -v nsd="$qps_nsd" -v k="$qps_knot" -v d="$qps_dnsmasq" 'BEGIN {
  printf "queries/s:    xsvc / nsd: %.2fx, xsvc / knot: %.2fx (target >= 1), xsvc / dnsmasq: %.2fx (target >= 2)\n",
         x / nsd, x / k, x / d }'
awk -v x="$cpu_xsvc" -v nsd="$cpu_nsd" -v k="$cpu_knot" -v d="$cpu_dnsmasq" 'BEGIN {
  printf "capacity:     xsvc / nsd: %.2fx, xsvc / knot: %.2fx, xsvc / dnsmasq: %.2fx (CPU per query, inverted)\n",
         nsd / x, k / x, d / x }'
awk -v x="$cpu_xsvc" -v y="$cpu_xsvc_c30" 'BEGIN {
  printf "cache 30:     CPU per query %.2f us without, %.2f us with (xsvc_c30: --cache 30)\n", x, y }'
echo "xsvc serve memory: $empty_kb KiB empty, $full_kb KiB with $n services: $(( (full_kb - empty_kb) * 1024 / n )) B per service"
echo "  after the runs (the reply cache full): $after_kb KiB: $(( (after_kb - empty_kb) * 1024 / n )) B per service"
