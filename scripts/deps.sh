#!/usr/bin/env bash
# Install what xsvc needs from Debian's packages, only if something is missing.
# Safe to run repeatedly; needs root (or sudo) only when it installs.
set -euo pipefail
pkgs=(cmake make gcc pkg-config libc-ares-dev libyaml-dev libcmocka-dev
      knot knot-dnsutils dnsmasq-base python3 curl valgrind clang libclang-rt-14-dev
      golang-go iproute2 util-linux)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "xsvc: installing ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
