#!/usr/bin/env bash
# Trains the embedded offline voice (whisperspeech/voice/) from nothing but this repository, offline:
# every step skips work already done (finished shards, committed models) and every training resumes
# from its last checkpoint, so rerunning this script continues where it stopped.
#
#   bash scripts/train_embedded_voice.sh            # data in ./data, runs in ./runs
#   DATA=/big/disk RUNS=/big/runs bash scripts/train_embedded_voice.sh
#   export OMP_NUM_THREADS=1; KINDS=t2s bash scripts/train_embedded_voice.sh & KINDS=s2a bash scripts/train_embedded_voice.sh &
#   bash scripts/train_embedded_voice.sh snapshot   # export the T2S/S2A runs so far to whisperspeech/voice/partial/
#                                                   # and their loss per step to docs/logs/
#
# On 2 CPU cores: corpora 30 min, Whisper features 40 min, codec ~30 min, tokens ~20 min, tokenizer and T2S/S2A hours.
# The T2S/S2A training tokens are committed (datasets/voice-tokens/, made with the committed tokenizer and
# codec): with them, a fresh machine goes straight to step 6.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-data}; RUNS=${RUNS:-runs}; VOICE=whisperspeech/voice; TOKENS=${TOKENS:-datasets/voice-tokens}
KINDS=${KINDS:-t2s s2a}
# schedule lengths; T2S and S2A are the parallel ones (`train t2s-parallel`, `train s2a-parallel`), their runs in
# $RUNS/t2s-parallel and $RUNS/s2a-parallel (then $RUNS/s2a-phones: S2A hearing the phonemes too)
STEPS_t2s=${T2S_STEPS:-4000}; STEPS_s2a=${S2A_STEPS:-10000}
run_kind() { echo "$1-parallel"; }
ws=.venv/bin/whisperspeech
py=.venv/bin/python

if [ "${1:-}" = snapshot ]; then
  mkdir -p "$VOICE/partial" "docs/logs"
  for kind in $KINDS; do
    rk=$(run_kind $kind)
    $ws train $rk -o "$RUNS/$rk" --export-only --half && cp "$RUNS/$rk/$rk.model" "$VOICE/partial/$kind.model"
    $py scripts/merge_metrics.py "$RUNS/$rk" --until "$VOICE/partial/$kind.model" -o "docs/logs/$kind-metrics.csv"
  done
  exit 0
fi
# bf16 autocast on CPUs with AMX or AVX512-BF16 (scripts/bench/bench_training.py: 1.3-1.6x more data per second); PRECISION=32-true elsewhere
PRECISION=${PRECISION:-bf16-mixed}
mkdir -p "$VOICE"

# The tokens of corpus $DATA/corpus$1 in $TOKENS/$2: acoustic tokens, speaker embeddings, then semantic tokens
# (last: a new tokenizer redoes only this stage), as gzipped slim shards (no audio, no features)
tokens() {
  $ws prepare atoks -i "$DATA/wenc$1" -o "$DATA/atoks$1" --codec "$VOICE/codec.model" --workers 2 --quiet
  $ws prepare spk -i "$DATA/atoks$1" -o "$DATA/spk$1" --workers 2 --quiet
  $ws prepare stoks -i "$DATA/spk$1" -o "$DATA/final$1" --tokenizer "$VOICE/vq.model" --workers 2 --quiet
  rm -rf "$TOKENS/$2"
  $ws prepare slim -i "$DATA/final$1" -o "$TOKENS/$2" --workers 2 --quiet
  gzip -9 -n "$TOKENS/$2"/*.tar  # webdataset reads .tar.gz as it is; a quarter of the bytes
}

if [ ! -f "$VOICE/codec.model" ] || [ ! -f "$VOICE/vq.model" ] || ! $py scripts/voice_tokens.py check "$TOKENS"; then
[ "$KINDS" = "t2s s2a" ] || { echo "the training tokens are missing or stale: build them first (without KINDS)" >&2; exit 1; }
# 1. 3 hours of synthetic speech: 9 English voices (flite, festival, Piper), German and Polish (espeak-ng)
$ws prepare corpus -o "$DATA/corpus" --hours 3 --workers 2 --seed 0 --languages en:0.8,de:0.1,pl:0.1 --quiet
# 2. Whisper tiny.en encoder features of the speech frames (the tokenizer trains on them; stoks reuses them)
$ws prepare wenc -i "$DATA/corpus" -o "$DATA/wenc" --workers 2 --quiet
# 12 more hours (T2S memorized the 3,000 sentences of the first 3, scripts/research/eval_t2s.py): ~50 minutes
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

# 5. what T2S and S2A train on, kept as slim shards in $TOKENS (3h/, 12h/, new-text/) with a manifest
rm -rf "$TOKENS/new-text" "$TOKENS/more-text"
tokens "" 3h
tokens -12h 12h
cp -r "$DATA/corpus/LICENSES" "$TOKENS/"  # the text sources' licences travel with their tokens
fi
if [ "$KINDS" = "t2s s2a" ] && [ ! -f "$TOKENS/new-text/done" ]; then
# 5b. 12 hours of sentences the first 15 do not speak: T2S learns its sentences by heart (held-out loss
#     flat from step 3,400 on 13,400 sentences), so it needs new text, not more passes over the old;
#     ~1 h 25 min on 2 cores (synthesis 20 min, Whisper features 53 min, tokens 10 min)
$ws prepare corpus -o "$DATA/corpus-new" --hours 12 --workers 2 --seed 2 --languages en:0.8,de:0.1,pl:0.1 \
    --exclude-text "$TOKENS/{3h,12h}/*.tar.gz" --quiet
$ws prepare wenc -i "$DATA/corpus-new" -o "$DATA/wenc-new" --workers 2 --quiet
tokens -new new-text
touch "$TOKENS/new-text/done"
$py scripts/voice_tokens.py write "$TOKENS"
fi
if [ "$KINDS" = "t2s s2a" ] && [ ! -f "$TOKENS/more-text/done" ]; then
# 5c. 6 hours more of new sentences, none of the 27 hours' nor the validation or evaluation sentences
#     (~45 min on 2 cores)
$ws prepare corpus -o "$DATA/corpus-more" --hours 6 --workers 2 --seed 3 --languages en:0.8,de:0.1,pl:0.1 \
    --exclude-text "$TOKENS/{3h,12h,new-text}/*.tar.gz" --exclude-text datasets/validation_sentences_en.txt \
    --exclude-text datasets/eval_sentences_en.txt --quiet
$ws prepare wenc -i "$DATA/corpus-more" -o "$DATA/wenc-more" --workers 2 --quiet
tokens -more more-text
touch "$TOKENS/more-text/done"
$py scripts/voice_tokens.py write "$TOKENS"
fi
if [ "$KINDS" = "t2s s2a" ] && [ ! -f "$TOKENS/voices/done" ]; then
# 5d. 4 hours of English spoken by 240 perturbed voices (the clear system voices with their formants, pitch and tempo
#     changed; docs/training.md): speakers enough for the speaker embedding to generalise to voices it never heard
$ws prepare corpus -o "$DATA/corpus-voices" --hours 4 --workers 2 --seed 4 --languages en:1 --perturbed-voices 240 \
    --exclude-text "$TOKENS/{3h,12h,new-text,more-text}/*.tar.gz" --exclude-text datasets/validation_sentences_en.txt \
    --exclude-text datasets/eval_sentences_en.txt --quiet
$ws prepare wenc -i "$DATA/corpus-voices" -o "$DATA/wenc-voices" --workers 2 --quiet
tokens -voices voices
touch "$TOKENS/voices/done"
$py scripts/voice_tokens.py write "$TOKENS"
fi
for seed in 5 6; do
  # 5e. 4 hours of English by 480 perturbed espeak-ng voices (two sets of 240, seeds 5 and 6): formant synthesis, a
  #     kind of voice the clear ones lack, from espeak-ng's other English dialects and variants (never those of
  #     whisperspeech.voice_perturb.HELD_OUT_VOICES, kept for `eval --clone`); folders espeak/ and espeak6/
  name=espeak; [ $seed = 5 ] || name=espeak$seed
  if [ "$KINDS" = "t2s s2a" ] && [ ! -f "$TOKENS/$name/done" ]; then
    exclude=(); [ $seed = 5 ] || exclude=(--exclude-text "$DATA/corpus-espeak/*.tar")
    $ws prepare corpus -o "$DATA/corpus-$name" --hours 2 --workers 2 --seed $seed --languages en:1 \
        --perturbed-voices 240 --perturbed-kind espeak --exclude-text "$TOKENS/{3h,12h,new-text,more-text,voices}/*.tar.gz" \
        "${exclude[@]}" --exclude-text datasets/validation_sentences_en.txt --exclude-text datasets/eval_sentences_en.txt --quiet
    $ws prepare wenc -i "$DATA/corpus-$name" -o "$DATA/wenc-$name" --workers 2 --quiet
    tokens -$name $name
    touch "$TOKENS/$name/done"
    $py scripts/voice_tokens.py write "$TOKENS"
  fi
done

# 6a. phoneme durations for the parallel T2S: a CTC aligner (semantic tokens + speaker -> phonemes, 2.5M parameters)
#     and the `align` stage, which writes each sample's phonemes and the tokens each lasts into $DATA/aligned
#     (~1 s a step in bf16 on 2 cores, 750 steps; alignment ~5 minutes); the committed datasets/voice-aligner.model
#     is that aligner, so a fresh machine only aligns
aligner=datasets/voice-aligner.model
if [ -n "$KINDS" ]; then  # T2S reads the phonemes and their durations; S2A's last stage hears the phonemes
  if [ ! -f "$aligner" ]; then
    $ws train aligner --data "$TOKENS/*/*.tar.gz" --config compact -o "$RUNS/aligner" --steps 750 --batch-size 48 \
        --lr 2e-3 --warmup 100 --save-every 250 --log-every 25 --precision "$PRECISION" --quiet
    $ws train aligner -o "$RUNS/aligner" --export-only --half && cp "$RUNS/aligner/aligner.model" "$aligner"
  fi
  for d in "$TOKENS"/*/; do
    $ws prepare align --aligner "$aligner" -i "$d*.tar.gz" -o "$DATA/aligned/$(basename "$d")" --workers 2 --quiet
  done
fi

# 6b. the parallel T2S (compact preset, phonemes -> durations -> all tokens) on the aligned tokens, and the
#    parallel S2A (compact, 11M) on the tokens; on a machine without the runs, each continues from its committed
#    partial export (and that export's place in the schedule, when it records one). The parallel S2A predicts the
#    codec's latents of the codes the shards hold (it takes the codebooks of --codec) and trains 0.5 s a step in
#    bf16 on 2 cores; the parallel T2S 0.6 s a step
for kind in $KINDS; do
  rk=$(run_kind $kind)
  if [ -f "$VOICE/$kind.model" ] && [ ! -f "$RUNS/$rk/checkpoints/last.ckpt" ]; then
    echo "$VOICE/$kind.model is the shipped model: skipping $kind (delete it to train it again)" >&2; continue
  fi
  init=(); warmup=200
  if [ -f "$VOICE/partial/$kind.model" ] && [ ! -f "$RUNS/$rk/checkpoints/last.ckpt" ]; then
    init=(--init "$VOICE/partial/$kind.model")
    if [ -n "$($py -c "from whisperspeech.checkpoints import trained_steps as t; print(t('$VOICE/partial/$kind.model') or '')")" ]; then
      init+=(--continue-schedule); warmup=50  # only the fresh optimizer state warms up
    fi
  fi
  steps=STEPS_$kind
  if [ "$kind" = t2s ]; then
    $ws train t2s-parallel --data "$DATA/aligned/{3h,12h,new-text,more-text}/*.tar.gz" --config compact -o "$RUNS/$rk" --steps "${!steps}" \
        --batch-size 32 --lr 1e-3 --warmup $warmup --save-every 250 --log-every 25 --precision "$PRECISION" --quiet \
        "${init[@]}" --keep-every 1000
  else
    $ws train s2a-parallel --data "$TOKENS/*/*.tar.gz" --config compact --codec "$VOICE/codec.model" -o "$RUNS/$rk" \
        --steps "${!steps}" --batch-size 16 --lr 1e-3 --warmup $warmup --save-every 250 --log-every 50 \
        --precision "$PRECISION" --quiet "${init[@]}" --keep-every 1000
  fi
done
# 6c. S2A hears each token's phoneme too (T2S hands it the phonemes it read), and the 240 perturbed voices: 3,000
#     steps more from the 10,000-step export, on the aligned shards (0.8 s a step in bf16 on 2 cores, 40 minutes)
if [[ " $KINDS " == *" s2a "* ]] && [ -f "$RUNS/s2a-parallel/s2a-parallel.model" ]; then
  $ws train s2a-parallel --data "$DATA/aligned/{3h,12h,new-text,more-text,voices}/*.tar.gz" --config compact \
      --init "$RUNS/s2a-parallel/s2a-parallel.model" --phonemes -o "$RUNS/s2a-phones" --steps 3000 --batch-size 16 \
      --lr 3e-4 --warmup 100 --seed 1 --save-every 250 --log-every 50 --precision "$PRECISION" --quiet
fi
# 6d. the codec learns many voices (step 3's learned eleven: a clone of a voice it never heard lost its timbre
#     there). Only where step 3 trained the codec here: the committed tokens already carry this step's codes, and
#     with them 6b-6c train on those directly. Step 3's codec trained whole on the 3-hour, clear perturbed and
#     espeak-ng corpora, 13,000 steps in three runs (~85 min); every token folder recoded with it from the corpus it
#     was made of (a sample whose rebuilt audio has another length than its codes, as Piper's can, is heard from its
#     codes) and aligned again; then S2A moved onto its codebooks: 4,000 steps from 6c's export on all of them, the
#     espeak-ng voices' twice (links in espeak-again/, a fifth of what it hears), 0.4 s a step in bf16 on 2 cores,
#     28 minutes
s2a="$RUNS/s2a-phones/s2a-parallel.model"
if [[ " $KINDS " == *" s2a "* ]] && [ -f "$RUNS/codec/codec.model" ] && [ -f "$s2a" ]; then
  codec="$RUNS/codec-voices3/codec.model"
  if [ ! -f "$codec" ]; then
    prev="$RUNS/codec/codec.model"; corpora="$DATA/{corpus,corpus-voices,corpus-espeak}/*.tar"
    for run in "voices 3000 3e-4 0" "voices2 6000 2e-4 1" "voices3 4000 2e-4 2"; do
      set -- $run
      $ws train codec --init "$prev" --data "$corpora" --config tiny -o "$RUNS/codec-$1" --steps $2 --batch-size 16 \
          --lr $3 --warmup 100 --seed $4 --save-every 500 --log-every 25 --quiet
      $ws train codec --config tiny -o "$RUNS/codec-$1" --export-only --half
      prev="$RUNS/codec-$1/codec.model"; corpora="$DATA/{corpus,corpus-voices,corpus-espeak,corpus-espeak6}/*.tar"
    done
  fi
  if [ ! -f "$DATA/aligned-voices/done" ]; then
    for d in 3h:"" 12h:-12h new-text:-new more-text:-more voices:-voices espeak:-espeak espeak6:-espeak6; do
      folder=${d%%:*}; rm -rf "$DATA/recoded/$folder"
      $ws prepare atoks -i "$TOKENS/$folder/*.tar.gz" -o "$DATA/recoded/$folder" --codec "$codec" \
          --codes-from "$RUNS/codec/codec.model" --audio-from "$DATA/corpus${d#*:}" --workers 2 --quiet
      $ws prepare align --aligner "$aligner" -i "$DATA/recoded/$folder/*.tar.gz" -o "$DATA/aligned-voices/$folder" \
          --workers 2 --quiet
    done
    mkdir -p "$DATA/aligned-voices/espeak-again"
    for f in "$DATA"/aligned-voices/espeak{,6}/*.tar.gz; do
      ln -sf "$(realpath "$f")" "$DATA/aligned-voices/espeak-again/$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    touch "$DATA/aligned-voices/done"
  fi
  $ws train s2a-parallel --data "$DATA/aligned-voices/*/*.tar.gz" --config compact --init "$s2a" --codec "$codec" \
      --phonemes -o "$RUNS/s2a-voices" --steps 4000 --batch-size 16 --lr 3e-4 --warmup 100 --seed 1 --save-every 250 \
      --log-every 50 --precision "$PRECISION" --quiet
  s2a="$RUNS/s2a-voices/s2a-parallel.model"
  if [ ! -f "$TOKENS/recoded" ]; then  # the tokens to commit: recoded by the codec the voice ships
    for d in "$DATA"/recoded/*/; do cp "$d"*.tar.gz "$TOKENS/$(basename "$d")/"; done
    cp "$codec" "$VOICE/codec.model" && $py scripts/voice_tokens.py write "$TOKENS" && touch "$TOKENS/recoded"
  fi
fi
# 6e. the codec's voiced frames take the phases of a pulse train at an F0 it predicts from the codes (a decoder that
#     sounded buzzy and phasey with its own): its decoder and a small F0 predictor (Praat's pitch as its targets)
#     tuned 5,000 steps on 3 hours of audio: the built-in voices (1.5 h), the clear perturbed ones (1 h) and the
#     espeak-ng ones (0.5 h), corpora made for this step (10 minutes); encoder and quantizer frozen, so every
#     committed token keeps its meaning; 0.3 s a step on 2 cores, 25 minutes
harmonic() { $py -c "import sys; from whisperspeech.checkpoints import load_model as m; sys.exit(not m('$1', kind='codec').config.harmonic)"; }
if [[ " $KINDS " == *" s2a "* ]] && ! harmonic "$VOICE/codec.model"; then
  for c in "corpus 1.5 0 en:0.8,de:0.1,pl:0.1" "voices 1 4 en:1 --perturbed-voices 240" \
      "espeak 0.5 5 en:1 --perturbed-voices 240 --perturbed-kind espeak"; do
    set -- $c
    $ws prepare corpus -o "$DATA/pitch-$1" --hours $2 --workers 2 --seed $3 --languages $4 "${@:5}" --quiet
  done
  $ws train codec --decoder-only --harmonic --init "$VOICE/codec.model" --data "$DATA/pitch-{corpus,voices,espeak}/*.tar" \
      --config tiny -o "$RUNS/codec-harmonic" --steps 5000 --batch-size 8 --lr 5e-4 --warmup 200 --save-every 250 --keep-every 1000 \
      --seed 0 --quiet
  $ws train codec --config tiny -o "$RUNS/codec-harmonic" --export-only --half
  cp "$RUNS/codec-harmonic/codec.model" "$VOICE/codec.model"
fi
[ "$KINDS" = "t2s s2a" ] || exit 0

# 7. the bundle: models in float16 and one speaker embedding per corpus voice (once both are trained here); the
#    parallel T2S decodes greedily (sampling.json: T2S temperature 0)
[ -f "$RUNS/t2s-parallel/t2s-parallel.model" ] && [ -f "$s2a" ] || exit 0
$py scripts/make_voice_bundle.py --t2s "$RUNS/t2s-parallel/t2s-parallel.model" --s2a "$s2a" \
    --codec "$VOICE/codec.model" --spk "$TOKENS/{3h,12h,new-text}/*.tar.gz" --first-voice festival:slt-hts -o "$VOICE" \
    --t2s-temperature 0 --sampling-note "the parallel T2S reads the most likely token of every position"
