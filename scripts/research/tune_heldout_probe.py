"""Probe: how tuning the S2A on a recording generalises within that recording. For each system voice (cloned from
`clone_recording`, as `whisperspeech eval --clone` does), the S2A is tuned (`adapt_s2a`) on the first three quarters
of the recording's semantic tokens and codec codes, and its L1 distance to the last quarter's latents (never trained
on) is printed before tuning and after every `--every` steps (each stretch a fresh optimizer).

    .venv/bin/python scripts/research/tune_heldout_probe.py espeak-ng:en+f3,piper:joe --model BUNDLE"""

import argparse

import torch

from whisperspeech.evaluate import clone_recording
from whisperspeech.languages import lang_id
from whisperspeech.pipeline import Pipeline
from whisperspeech.s2a_adapt import adapt_s2a, recording_targets


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("voices", help="comma-separated system voices to clone")
    ap.add_argument("--model", required=True, help="a model bundle folder with a parallel S2A, its codec and vq.model")
    ap.add_argument("--every", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    pipe, en = Pipeline(model=args.model, quiet=True), lang_id("en")
    for voice in args.voices.split(","):
        wav = clone_recording(voice)
        spk = pipe.clone(wav).embedding
        stoks, codes = recording_targets(pipe._semantic_tokenizer(), pipe.vocoder.codec, wav)
        cut = len(stoks) * 3 // 4

        def held_out(model):
            with torch.no_grad():
                pred = model(stoks[None, cut:], spk[None], torch.tensor([en]))
                return round(float((pred - model.target(codes[None, :, 3 * cut :])).abs().mean()), 4)

        model, row = pipe.s2a, [held_out(pipe.s2a)]
        for k in range(args.rounds):
            model = adapt_s2a(model, stoks[:cut], codes[:, : 3 * cut], spk, en, steps=args.every, seed=k)
            row.append(held_out(model))
        print(voice, f"{len(stoks)} tokens; held-out L1 every {args.every} steps:", row, flush=True)


if __name__ == "__main__":
    main()
