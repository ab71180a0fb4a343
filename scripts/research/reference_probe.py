"""Probe: how much of a clone's voice an S2A that hears a reference recording (`--reference-layers`) takes from the
recording and how much from its speaker embedding. Each system voice is cloned four ways: with both (what a user
gets), with the embedding alone, with the reference alone (a zero embedding), and with the reference beside the
embedding of the model's default voice. Reports Whisper's word error rate, the similarity to the voice's own
recording, to the nearest built-in voice and to the default voice, per voice and way.

    .venv/bin/python scripts/research/reference_probe.py espeak-ng:en+f3,espeak-ng:en+klatt3 --model BUNDLE"""

import argparse
import json

import torch

from heldout import speak_and_hear
from whisperspeech.asr import corpus_wer, word_errors
from whisperspeech.evaluate import _cos, _is_system_voice, clone_recording, read_sentences, voice_reference
from whisperspeech.pipeline import Pipeline, Recording
from whisperspeech.whisper_models import load_whisper


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("voices", help="comma-separated system voices to clone")
    ap.add_argument("--model", required=True, help="a model bundle folder whose S2A hears a reference")
    ap.add_argument("--sentences", default="datasets/validation_sentences_en.txt")
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    pipe, asr = Pipeline(model=args.model, quiet=True), load_whisper("tiny.en")
    if not pipe.s2a.hears_reference:
        ap.error(f"{args.model}: its S2A hears no reference (train it with --reference-layers)")
    sentences = read_sentences(args.sentences)[: args.limit]
    builtin = {v: voice_reference(v) for v in pipe.voices if _is_system_voice(v)}
    default, report = pipe.default_voice, {}
    for voice in args.voices.split(","):
        rec, target = pipe.clone(clone_recording(voice)), voice_reference(voice)
        ways = dict(
            both=rec,
            embedding=Recording(rec.embedding),
            reference=Recording(torch.zeros_like(rec.embedding), rec.latents),
            reference_default_embedding=Recording(pipe.voices[default], rec.latents),
        )
        for way, speaker in ways.items():
            hyps, embs = speak_and_hear(pipe, asr, sentences, speaker)
            own = [_cos(e, target) for e in embs]
            near = [max(_cos(e, b) for b in builtin.values()) for e in embs]
            to_default = [_cos(e, builtin[default]) for e in embs]
            mean = lambda xs: round(sum(xs) / len(xs), 3)
            row = dict(
                wer=round(corpus_wer(word_errors(sentences, hyps)), 3),
                similarity=mean(own),
                nearest_builtin=mean(near),
                to_default_voice=mean(to_default),
            )
            report[f"{voice} {way}"] = row
            print(voice, way, row, flush=True)
    if args.json:
        json.dump(dict(model=str(args.model), default_voice=default, rows=report), open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
