#!/usr/bin/env bash
# Long fuzzing runs: builds the libFuzzer targets with clang into
# build-fuzz/ (-DXSVC_FUZZ=ON: ASan+UBSan, coverage), runs each fuzz-<name>
# for SECONDS on a copy of tests/fuzz/corpus/<name> (libFuzzer writes new
# inputs into its first corpus directory; the seeds stay as they are), and
# prints executions, speed, coverage and crashes per target as a table.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default 600 s, every target
#
# Environment: JOBS (build, default 2), WORK (default build-fuzz/runs),
# NICE (default 19). Crash inputs and logs stay in $WORK/<name>/. Exit
# status 1 if any target crashed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
jobs=${JOBS:-2}
work=${WORK:-build-fuzz/runs}
nice_level=${NICE:-19}

CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DXSVC_FUZZ=ON -DXSVC_BUILD_BENCH=OFF -DXSVC_BUILD_EXAMPLES=OFF >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do
    n=$(basename "$f" .c)
    targets+=("${n#fuzz_}")
  done
fi
build=()
for t in "${targets[@]}"; do build+=(--target "fuzz-$t"); done
cmake --build build-fuzz -j"$jobs" "${build[@]}" >/dev/null

printf '%-10s %8s %14s %10s %8s %8s %8s %8s\n' target seconds execs exec/s cov ft corpus crashes
crashed=0
for t in "${targets[@]}"; do
  dir=$work/$t
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp tests/fuzz/corpus/"$t"/* "$dir/corpus/"
  set +e
  nice -n "$nice_level" build-fuzz/tests/fuzz/fuzz-"$t" "$dir/corpus" \
    -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$dir/artifacts/" >"$dir/log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$dir/log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  crashes=$(find "$dir/artifacts" -type f | wc -l)
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then crashed=1; fi
  printf '%-10s %8s %14s %10s %8s %8s %8s %8s\n' "$t" "$secs" "${execs:-?}" \
    "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes"
done
exit $crashed
