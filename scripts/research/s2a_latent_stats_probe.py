"""Probe: how the parallel S2A's latents, predicted from a voice's own semantic tokens (no T2S), differ from the
codec's latents of the same audio, and whether correcting their per-dimension mean and spread brings the decoded
speech nearer the voice. Per voice: L1 distance, the spread (temporal standard deviation) of the prediction over the
truth's, and the similarity to the voice's reference of the decoded truth, the prediction, the prediction with the
truth's mean, spread or both (oracles), with the spread or mean and spread of the voice's recording (what a clone
has), and the prediction mapped per dimension by the affine fit of the S2A's output on the recording to its truth.

    .venv/bin/python scripts/research/s2a_latent_stats_probe.py espeak-ng:en+f3,flite:slt --json out.json"""

import argparse
import json

import numpy as np
import torch

from eval_s2a import _langs, _phones, align, training_sample
from whisperspeech.checkpoints import load_model
from whisperspeech.evaluate import _cos, _embed, clone_recording, read_sentences, voice_reference
from whisperspeech.languages import lang_id
from whisperspeech.pipeline import Pipeline
from whisperspeech.s2a_adapt import recording_targets
from whisperspeech.s2a_parallel import parallel_s2a_generate
from whisperspeech.vocoder import SAMPLE_RATE


def spread(x):
    "Per-dimension temporal standard deviation of latents (frames, dim)."
    return x.std(0)


def corrections(pred, true, rec_mean, rec_std, fit):
    "The variants (each frames, dim) of one utterance's predicted latents `pred` that the probe decodes."
    mp, mt, sp, st = pred.mean(0), true.mean(0), spread(pred), spread(true)
    a, b = fit
    return dict(
        true=true,
        predicted=pred,
        oracle_mean=pred - mp + mt,
        oracle_spread=(pred - mp) * (st / sp) + mp,
        oracle_both=(pred - mp) * (st / sp) + mt,
        recording_spread=(pred - mp) * (rec_std / sp) + mp,
        recording_both=(pred - mp) * (rec_std / sp) + rec_mean,
        recording_fit=a * pred + b,
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("voices", help="comma-separated system voices (the model's own, or ones to clone)")
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--sentences", default="datasets/validation_sentences_en.txt")
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    pipe = Pipeline(model=args.model, quiet=True)
    s2a, voc = pipe.s2a, pipe.vocoder
    if getattr(s2a, "reads_phones", False):
        s2a.aligner = load_model("datasets/voice-aligner.model", kind="aligner").eval()
    tok, codec = pipe._semantic_tokenizer(), voc.codec
    sentences = read_sentences(args.sentences)[: args.limit]
    report = {}
    for voice in args.voices.split(","):
        ref, recording = voice_reference(voice), clone_recording(voice)
        spk = pipe.voices[voice] if voice in pipe.voices else pipe.clone(recording).embedding
        rstoks, rcodes = recording_targets(tok, codec, recording)
        with torch.inference_mode():
            rtrue = s2a.target(torch.as_tensor(rcodes)[None])[0]
            langs = torch.tensor([lang_id("en")]) if s2a.config.conditioned else None  # the recordings are English
            rpred = parallel_s2a_generate(s2a, [torch.as_tensor(rstoks)], spk.float()[None], langs, latents=True)[0].T
        n = min(len(rtrue), len(rpred))
        rtrue, rpred = rtrue[:n], rpred[:n]
        scale = spread(rtrue) / spread(rpred)
        fit = (scale, rtrue.mean(0) - scale * rpred.mean(0))
        sims, stats = {}, []
        for text in sentences:
            s = training_sample(tok, codec, text, voice)
            align(s2a, [s])
            stoks = torch.as_tensor(np.asarray(s["stoks.npy"], dtype=np.int64))
            codes = torch.as_tensor(np.asarray(s["atoks.npy"], dtype=np.int64))
            with torch.inference_mode():
                true = s2a.target(codes[None])[0]
                pred = parallel_s2a_generate(
                    s2a, [stoks], spk.float()[None], _langs(s2a, s), latents=True, phones_list=_phones(s2a, s)
                )[0].T
            n = min(len(true), len(pred))
            true, pred = true[:n], pred[:n]
            stats.append([float((pred - true).abs().mean()), float(spread(pred).mean() / spread(true).mean())])
            for name, lat in corrections(pred, true, rtrue.mean(0), spread(rtrue), fit).items():
                wav = voc.decode(lat.T.contiguous().float())[0]
                sims.setdefault(name, []).append(_cos(_embed(wav, SAMPLE_RATE), ref))
        l1, ratio = np.mean(stats, 0)
        row = dict(
            l1=round(float(l1), 3),
            spread_ratio=round(float(ratio), 3),
            recording_spread_ratio=round(float(spread(rpred).mean() / spread(rtrue).mean()), 3),
            similarity={k: round(float(np.mean(v)), 3) for k, v in sims.items()},
        )
        report[voice] = row
        print(voice, row, flush=True)
    if args.json:
        json.dump(dict(model=str(args.model), sentences=len(sentences), voices=report), open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
