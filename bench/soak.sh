#!/usr/bin/env bash
# Soak run: bench/soak.c for MINUTES (default 5; 60 for the hour on demand)
# against a flapping upstream on loopback, built optimised in build/.
#   bench/soak.sh [MINUTES] [THREADS] [NAMES]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-5}
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target bench_soak >/dev/null
exec build/bench/bench_soak $((minutes * 60)) "${2:-2}" "${3:-200}"
