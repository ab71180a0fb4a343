"""Probe: a clone's speaker embedding pushed away from the built-in voices' mean embedding, e + g (e - mean), at
several scales g (g = 0: the clone as `Pipeline.clone` makes it). Reports per voice and scale Whisper's word error
rate, the similarity to the voice's own recording and to the nearest built-in voice.

    .venv/bin/python scripts/research/clone_guidance_probe.py espeak-ng:en+f3,espeak-ng:en-gb-scotland+f4 --scales 0,1,2"""

import argparse
import json

import torch
import torch.nn.functional as F

from heldout import speak_and_hear
from whisperspeech.asr import corpus_wer, word_errors
from whisperspeech.evaluate import _cos, _is_system_voice, clone_recording, read_sentences, voice_reference
from whisperspeech.pipeline import Pipeline, Recording
from whisperspeech.whisper_models import load_whisper


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("voices", help="comma-separated system voices to clone")
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--scales", default="0,0.5,1,2", help="comma-separated guidance scales g")
    ap.add_argument("--sentences", default="datasets/validation_sentences_en.txt")
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    pipe, asr = Pipeline(model=args.model, quiet=True), load_whisper("tiny.en")
    sentences = read_sentences(args.sentences)[: args.limit]
    builtin = {v: voice_reference(v) for v in pipe.voices if _is_system_voice(v)}
    mean = torch.stack([F.normalize(e.float(), dim=-1) for e in pipe.voices.values()]).mean(0)
    report = {}
    for voice in args.voices.split(","):
        rec, target = pipe.clone(clone_recording(voice)), voice_reference(voice)
        e = F.normalize(rec.embedding.float(), dim=-1)
        for g in map(float, args.scales.split(",")):
            speaker = Recording(e + g * (e - mean), rec.latents)
            hyps, embs = speak_and_hear(pipe, asr, sentences, speaker)
            own = [_cos(x, target) for x in embs]
            near = [max(_cos(x, b) for b in builtin.values()) for x in embs]
            avg = lambda xs: round(sum(xs) / len(xs), 3)
            row = dict(
                wer=round(corpus_wer(word_errors(sentences, hyps)), 3), similarity=avg(own), nearest_builtin=avg(near)
            )
            report[f"{voice} g={g:g}"] = row
            print(voice, f"g={g:g}", row, flush=True)
    if args.json:
        json.dump(dict(model=str(args.model), sentences=len(sentences), rows=report), open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
