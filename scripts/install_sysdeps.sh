#!/usr/bin/env bash
# Installs the Debian system voices the project speaks with (flite, espeak-ng) when they are missing.
set -euo pipefail
missing=()
command -v flite >/dev/null || missing+=(flite)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing system voices: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing system voices: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
