#!/usr/bin/env bash
# Trains the embedded offline voice (whisperspeech/voice/) from nothing but this repository, offline:
# every step skips work already done (finished shards, committed models) and every training resumes
# from its last checkpoint, so rerunning this script continues where it stopped.
#
#   bash scripts/train_embedded_voice.sh            # data in ./data, runs in ./runs
#   DATA=/big/disk RUNS=/big/runs bash scripts/train_embedded_voice.sh
#
# On 2 CPU cores: corpora 20 min, Whisper features 47 min, codec ~30 min, tokens ~20 min, tokenizer and T2S/S2A hours.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}; RUNS=${RUNS:-runs}; VOICE=whisperspeech/voice
ws=.venv/bin/whisperspeech
# bf16 autocast on CPUs with AMX or AVX512-BF16 (scripts/bench_training.py: 1.3-1.6x more data per second); PRECISION=32-true elsewhere
PRECISION=${PRECISION:-bf16-mixed}
mkdir -p "$VOICE"

# 1. 3 hours of synthetic speech: 9 English voices (flite, festival, Piper), German and Polish (espeak-ng)
$ws prepare corpus -o "$DATA/corpus" --hours 3 --workers 2 --seed 0 --languages en:0.8,de:0.1,pl:0.1 --quiet
# 2. Whisper tiny.en encoder features of the speech frames (the tokenizer trains on them; stoks reuses them)
$ws prepare wenc -i "$DATA/corpus" -o "$DATA/wenc" --workers 2 --quiet
# 12 more hours (T2S memorized the 3,000 sentences of the first 3, scripts/eval_t2s.py): ~50 minutes
$ws prepare corpus -o "$DATA/corpus-12h" --hours 12 --workers 2 --seed 1 --languages en:0.8,de:0.1,pl:0.1 --quiet
$ws prepare wenc -i "$DATA/corpus-12h" -o "$DATA/wenc-12h" --workers 2 --quiet

# 3. the acoustic codec (log-mel encoder, EnCodec residual VQ 4 x 1024, Vocos decoder), 24 kHz, 75 Hz
if [ ! -f "$VOICE/codec.model" ]; then
  $ws train codec --data "$DATA/corpus" --config tiny -o "$RUNS/codec" --steps 3000 --batch-size 16 --lr 1e-3 \
      --warmup 200 --save-every 250 --log-every 25 --quiet
  $ws train codec --config tiny -o "$RUNS/codec" --export-only --half && cp "$RUNS/codec/codec.model" "$VOICE/codec.model"
fi

# 4. the semantic tokenizer over Whisper tiny.en, trained through its frozen decoder: 3,000 steps on the
#    3-hour corpus, then 3,500 more on all 15 hours (a new schedule from the first one's export)
if [ ! -f "$VOICE/vq.model" ]; then
  start="$VOICE/partial/vq.model"  # a committed partial export of the second run
  if [ ! -f "$start" ]; then
    $ws train vq --data "$DATA/wenc" --config tiny.en -o "$RUNS/vq" --steps 3000 --batch-size 32 --lr 2e-3 \
        --warmup 100 --save-every 200 --log-every 20 --precision "$PRECISION" --quiet
    $ws train vq --config tiny.en -o "$RUNS/vq" --export-only --half
    start="$RUNS/vq/vq.model"
  fi
  $ws train vq --data "$DATA/{wenc,wenc-12h}/*.tar" --config tiny.en -o "$RUNS/vq2" --steps 3500 --batch-size 32 --lr 1e-3 \
      --warmup 100 --save-every 200 --log-every 20 --precision "$PRECISION" --quiet --init "$start"
  $ws train vq --config tiny.en -o "$RUNS/vq2" --export-only --half && cp "$RUNS/vq2/vq.model" "$VOICE/vq.model"
fi

# 5. acoustic tokens, speaker embeddings, then semantic tokens (last: a new tokenizer redoes only this stage)
for part in "" -12h; do
  $ws prepare atoks -i "$DATA/wenc$part" -o "$DATA/atoks$part" --codec "$VOICE/codec.model" --workers 2 --quiet
  $ws prepare spk -i "$DATA/atoks$part" -o "$DATA/spk$part" --workers 2 --quiet
  $ws prepare stoks -i "$DATA/spk$part" -o "$DATA/final$part" --tokenizer "$VOICE/vq.model" --workers 2 --quiet
done

# 6. T2S and S2A (compact presets: 8.4M + 9.3M parameters); a fresh machine continues from committed partial exports
for kind in t2s s2a; do
  init=(); [ -f "$VOICE/partial/$kind.model" ] && [ ! -f "$RUNS/$kind/checkpoints/last.ckpt" ] && init=(--init "$VOICE/partial/$kind.model")
  $ws train $kind --data "$DATA/{final,final-12h}/*.tar" --config compact -o "$RUNS/$kind" --steps "${TTS_STEPS:-20000}" --batch-size 32 \
      --lr 1e-3 --warmup 200 --save-every 200 --log-every 20 --precision "$PRECISION" --quiet "${init[@]}"
done

# 7. the bundle: models in float16 and one speaker embedding per corpus voice
.venv/bin/python scripts/make_voice_bundle.py --t2s "$RUNS/t2s/t2s.model" --s2a "$RUNS/s2a/s2a.model" \
    --codec "$VOICE/codec.model" --spk "$DATA/final" -o "$VOICE"
