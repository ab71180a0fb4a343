"""Probe: does a voice's timbre move by the statistics of the codec's latents alone? Audio of built-in voices is
encoded, its quantized latents converted towards a target voice's recording, and decoded: `mean` shifts each latent
dimension's mean to the recording's, `meanstd` its mean and spread, `knnS` blends each frame with the mean of its 4
nearest recording frames at strength S (kNN-VC's step), `mknnS` shifts the mean first. Reports Whisper's word error
rate, the similarity to the target's reference and to the nearest other built-in voice.

    .venv/bin/python scripts/research/latent_conversion_probe.py whisperspeech/voice/codec.model --json out.json"""

import argparse
import json

import torch
from clone_retrieval_probe import retrieve  # this folder's retrieval probe: kNN blending of latent frames

from whisperspeech.asr import corpus_wer, transcribe, word_errors
from whisperspeech.audio import resample
from whisperspeech.checkpoints import load_model
from whisperspeech.corpus import VOICES
from whisperspeech.evaluate import _cos, _embed, clone_recording, read_sentences, voice_reference
from whisperspeech.system_voices import speak_system
from whisperspeech.whisper_models import load_whisper

BUILTIN = [v for voices in VOICES.values() for v in voices]


def latents(codec, wav16: torch.Tensor) -> torch.Tensor:
    "Quantized latents (frames, dim) of 16 kHz audio."
    x = resample(wav16, 16000, codec.config.sample_rate)[None]
    with torch.no_grad():
        return codec.quantizer.decode(codec.encode(x).transpose(0, 1))[0].T


def convert(z: torch.Tensor, ref: torch.Tensor, how: str) -> torch.Tensor:
    "Latents `z` (frames, dim) moved towards recording latents `ref` by `how` (see the module's text)."
    shifted = z - z.mean(0) + ref.mean(0)
    if how == "none":
        return z
    if how == "mean":
        return shifted
    if how == "meanstd":
        return (z - z.mean(0)) / (z.std(0) + 1e-5) * ref.std(0) + ref.mean(0)
    if how.startswith("mknn"):
        return retrieve(shifted, ref, float(how[4:]))
    if how.startswith("knn"):
        return retrieve(z, ref, float(how[3:]))
    raise ValueError(f"unknown conversion {how!r}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("codec", help="codec checkpoint (.model)")
    ap.add_argument("--sources", default="flite:slt,piper:joe", help="comma-separated built-in voices")
    ap.add_argument("--targets", default="espeak-ng:en+f3,espeak-ng:en-gb-scotland+f4")
    ap.add_argument("--hows", default="none,mean,meanstd,knn0.5,knn1,mknn0.5")
    ap.add_argument("--sentences", default="datasets/validation_sentences_en.txt")
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    codec, asr = load_model(args.codec, kind="codec").float().eval(), load_whisper("tiny.en")
    sentences = read_sentences(args.sentences)[: args.limit]
    builtin = {v: voice_reference(v) for v in BUILTIN}
    report = {}
    for target in args.targets.split(","):
        ref, target_ref = latents(codec, clone_recording(target)), voice_reference(target)
        for source in args.sources.split(","):
            zs = [latents(codec, speak_system(s, source, sr=16000)) for s in sentences]
            for how in args.hows.split(","):
                hyps, sims, near = [], [], []
                for z in zs:
                    with torch.no_grad():
                        wav = codec.decode_latents(convert(z, ref, how).T[None])[0]
                    hyps.append(transcribe(asr, resample(wav, codec.config.sample_rate, 16000)))
                    emb = _embed(wav, codec.config.sample_rate)
                    sims.append(_cos(emb, target_ref))
                    near.append(max(_cos(emb, b) for v, b in builtin.items() if v != source))
                row = dict(
                    wer=round(corpus_wer(word_errors(sentences, hyps)), 3),
                    similarity=round(sum(sims) / len(sims), 3),
                    nearest_other_builtin=round(sum(near) / len(near), 3),
                )
                report[f"{target} <- {source} {how}"] = row
                print(target, "<-", source, how, row, flush=True)
    if args.json:
        json.dump(report, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
