#!/usr/bin/env bash
# The main job: install what is missing, build, and run the seed walkthrough
# offline (a stand-in for the internet's DNS on a loopback port).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null
exec examples/demo.sh build
