#!/bin/sh
# Go binding (bindings/go): a cached Resolve / LookupHost per call from Go,
# next to net.DefaultResolver.LookupHost of an /etc/hosts name, in the same
# `go test -bench` run; the best of COUNT runs per row.
#
# usage: bench/bench_go.sh
# env:   BUILD_DIR (default build-bench; a Release libxsvc is built there),
#        COUNT (default 5), BENCHTIME (default 1s)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
count=${COUNT:-5}
benchtime=${BENCHTIME:-1s}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DXSVC_BUILD_TESTS=OFF -DXSVC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target xsvc >/dev/null
version=$(sed -n 's/^#define XSVC_VERSION_STRING "\(.*\)"/\1/p' "$root/include/xsvc.h")
cmake -DOUT="$build/go/pkgconfig/xsvc-uninstalled.pc" -DLIBDIR="$build" \
  -DINCLUDEDIR="$root/include" -DVERSION="$version" \
  -P "$root/bindings/go/uninstalled-pc.cmake"

export PKG_CONFIG_PATH="$build/go/pkgconfig" LD_LIBRARY_PATH="$build" \
  GOCACHE="$build/go-cache" GOPATH="$build/go-cache/gopath" \
  GOFLAGS=-mod=mod GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=1

echo "== machine"
echo "cpu:  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') ($(nproc) cores)"
echo "go:   $(go version)"
echo
raw=$(cd "$root/bindings/go" && go test -run '^$' -bench . -benchmem \
  -count "$count" -benchtime "$benchtime")
echo "$raw" | awk -v count="$count" '
  /^Benchmark/ {
    name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
    if (!(name in ns)) order[n++] = name
    if (!(name in ns) || $3 < ns[name]) { ns[name] = $3; bytes[name] = $5; allocs[name] = $7 }
  }
  END {
    ref = ns["NetDefaultResolverHosts"]
    printf "== best of %d runs (ns/op; ratio = ns/op / net.DefaultResolver %s ns/op, same run)\n", count, ref
    printf "| %-32s | %10s | %6s | %9s | %15s |\n", "benchmark", "ns/op", "B/op", "allocs/op", "vs net (ratio)"
    printf "|%s|%s|%s|%s|%s|\n", "----------------------------------", "------------", "--------", "-----------", "-----------------"
    for (i = 0; i < n; i++) {
      k = order[i]
      printf "| %-32s | %10.1f | %6s | %9s | %14.2fx |\n", k, ns[k], bytes[k], allocs[k], (ref > 0 ? ns[k] / ref : 0)
    }
  }'
