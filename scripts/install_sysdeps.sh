#!/usr/bin/env bash
# Installs the Debian packages the project speaks and reads with when they are missing: system voices
# (flite, espeak-ng, festival and its voices), corpus text (fortunes in en/de/pl, WordNet examples), and
# with --browser the headless Chromium + chromedriver the web UI test drives.
set -euo pipefail
want=(flite espeak-ng festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts fortunes fortunes-de fortunes-pl wordnet-base)
[ "${1:-}" = --browser ] && want+=(chromium chromium-driver)
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages: ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
