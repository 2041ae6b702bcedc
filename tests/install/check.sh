#!/usr/bin/env bash
# Install the build into a temporary prefix, then build a consumer with
# find_package(xsvc CONFIG) and another with pkg-config, and run both.
set -euo pipefail
build=$1
src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
libdir=$(find "$tmp/prefix" -name 'libxsvc.so.0' -printf '%h\n' | head -1)
test -n "$libdir"
# exported symbols: only xs_*
bad=$(nm -D --defined-only "$libdir/libxsvc.so.0" | awk '$2 ~ /[TDB]/ {print $3}' | grep -v '^xs_' || true)
if [ -n "$bad" ]; then echo "unexpected exported symbols: $bad"; exit 1; fi
readelf -d "$libdir/libxsvc.so" | grep -q 'SONAME.*libxsvc.so.0'
# the license notice is installed with the library
grep -q '^MIT License' "$tmp/prefix/share/doc/xsvc/LICENSE"
cmake -S "$src/consumer" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cmake-build/consumer"
PKG_CONFIG_PATH="$libdir/pkgconfig" 
flags=$(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs xsvc)
cc -std=c99 -Wall -Wextra -Werror "$src/consumer/main.c" $flags -o "$tmp/pc-consumer"
LD_LIBRARY_PATH="$libdir" "$tmp/pc-consumer"
# the header is C++-clean
if command -v g++ >/dev/null; then
  echo '#include <xsvc.h>
int main() { return xs_version_number() == XSVC_VERSION ? 0 : 1; }' > "$tmp/cpp.cc"
  g++ -Wall -Wextra -Werror -I"$tmp/prefix/include" "$tmp/cpp.cc" -L"$libdir" -lxsvc -o "$tmp/cpp"
  LD_LIBRARY_PATH="$libdir" "$tmp/cpp"
fi
echo "install check: ok"
