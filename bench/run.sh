#!/bin/sh
# Build the benchmarks against a Release build of the library and print the
# result tables (bench/RESULTS.md records them).
#
# usage: bench/run.sh [SIZE...]      sizes for bench_load (10000 100000)
# env:   BUILD_DIR (default build-bench), RUNS (best of, default 5)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
runs=${RUNS:-5}

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DXSVC_BUILD_TESTS=OFF -DXSVC_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_load bench_answer bench_resolve bench_connect bench_reload \
  >/dev/null

echo "== machine"
echo "cpu:    $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //') ($(nproc) cores)"
echo "kernel: $(uname -sr)"
echo "cc:     $(${CC:-cc} --version | head -n1)"
echo "libs:   libyaml $(pkg-config --modversion yaml-0.1), c-ares $(pkg-config --modversion libcares)"
echo
echo "== load: libyaml bare parse vs xs_registry_load (best of $runs)"
"$build/bench/bench_load" --runs "$runs" "$@"
echo
echo "== answer (10,000 services)"
"$build/bench/bench_answer"
echo
echo "== resolver: cache, engine, async (DNS server on 127.0.0.1)"
"$build/bench/bench_resolve"
echo
echo "== connect: xs_connect on loopback (listeners on 127.0.0.x)"
"$build/bench/bench_connect"
echo
echo "== reload and stats: write -> new answer through a watcher; stats on/off"
"$build/bench/bench_reload"
