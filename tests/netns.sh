#!/bin/sh
# Run a test inside a fresh network namespace where only the loopback
# interface exists (brought up), so that even code under test that is wrong
# cannot send a packet off the machine.
#   tests/netns.sh [--required] program [args...]
# Where unshare -n is not permitted (not root, no user namespaces): with
# --required (the test names addresses outside 127.0.0.0/8 and ::1) the
# test is skipped, exit 77, saying so; without it the program runs as is.
required=0
if [ "${1:-}" = --required ]; then
  required=1
  shift
fi
if [ "${XSVC_IN_NETNS:-}" = 1 ]; then
  exec "$@"
fi
if unshare -n true 2>/dev/null && command -v ip >/dev/null 2>&1; then
  XSVC_IN_NETNS=1 exec unshare -n sh -c 'ip link set lo up && exec "$@"' netns "$@"
fi
if [ "$required" = 1 ]; then
  echo "SKIPPED: $1 needs a network namespace (unshare -n) and none can be made here" >&2
  exit 77
fi
exec "$@"
