#!/usr/bin/env bash
# Fails when notebooks are not clean (nbdev_clean changes them) or the package is out of sync with
# the notebooks (nbdev_export changes whisperspeech/). Works in a dirty checkout: it compares
# content before and after, not against git.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
digest() { find "$@" -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/__pycache__/*' | sort | xargs md5sum | md5sum; }
before=$(digest nbs)
"$bin/nbdev_clean"
if [ "$before" != "$(digest nbs)" ]; then
  echo "notebooks were not clean: nbdev_clean has cleaned nbs/ now; review and commit them" >&2
  exit 1
fi
before=$(digest whisperspeech)
"$bin/nbdev_export"
if [ "$before" != "$(digest whisperspeech)" ]; then
  echo "whisperspeech/ was out of sync with nbs/: nbdev_export has rewritten it; review and commit" >&2
  exit 1
fi
echo "notebooks clean, package in sync with nbs/"
