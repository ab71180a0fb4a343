"""Probe: where a clone's similarity to its voice is lost, stage by stage, and what tuning the S2A on the recording
buys. For each system voice (cloned from `clone_recording`, as `whisperspeech eval --clone` does), the similarity to
the voice's reference (the score of `whisperspeech eval`: each utterance's resemblyzer embedding against the mean of
the reference clips) of: the teacher's own audio of validation sentences; that audio through the bundle's codec, from
its codes and from its unquantized latents; the S2A's output from that audio's true semantic tokens (no T2S); and
the whole voice (T2S tokens, `Pipeline.generate`, with Whisper's word error rate). The S2A rows come twice: as
trained, and adapted: all its weights but the quantizer tuned for `--steps` steps of L1 on random crops of the
recording's own semantic tokens and codec latents (tokens alone: the recording has no transcript).

    .venv/bin/python scripts/research/clone_adaptation_probe.py espeak-ng:en+f3 --model BUNDLE --steps 60"""

import argparse
import json
import time

import torch

from whisperspeech.asr import corpus_wer, transcribe, word_errors
from whisperspeech.audio import resample
from whisperspeech.evaluate import _cos, _embed, clone_recording, read_sentences, voice_reference
from whisperspeech.languages import lang_id
from whisperspeech.pipeline import Pipeline
from whisperspeech.s2a_adapt import adapt_s2a, recording_targets
from whisperspeech.system_voices import speak_system
from whisperspeech.vocoder import SAMPLE_RATE
from whisperspeech.whisper_models import load_whisper


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("voices", help="comma-separated system voices to clone")
    ap.add_argument("--model", required=True, help="a model bundle folder with a parallel S2A, its codec and vq.model")
    ap.add_argument("--sentences", default="datasets/validation_sentences_en.txt")
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    pipe, asr = Pipeline(model=args.model, quiet=True), load_whisper("tiny.en")
    tok = pipe._semantic_tokenizer()  # the bundle's vq.model
    codec, base = pipe.vocoder.codec, pipe.s2a.float()
    sentences = read_sentences(args.sentences)[: args.limit]
    lang = torch.tensor([lang_id("en")]) if base.config.conditioned else None
    mean = lambda xs: round(sum(xs) / len(xs), 3)
    report = {}
    for voice in args.voices.split(","):
        recording, target = clone_recording(voice), voice_reference(voice)
        rec = pipe.clone(recording)
        spk = rec.embedding.float()

        def prompt(b):
            if rec.latents is None:
                return None, None
            return rec.latents[None].expand(b, -1, -1), torch.full((b,), len(rec.latents))

        t0 = time.perf_counter()
        stoks, codes = recording_targets(tok, codec, recording)
        adapted = adapt_s2a(base, stoks, codes, spk, lang_id("en"), args.steps, args.lr)
        row = dict(adapt_seconds=round(time.perf_counter() - t0, 1), recording_seconds=len(recording) / 16000)
        sims = {k: [] for k in ("teacher", "codec", "unquantized", "s2a_true_tokens", "adapted_true_tokens")}
        heard = lambda wav: _cos(_embed(resample(wav, codec.config.sample_rate, 16000), 16000), target)
        with torch.no_grad():
            for text in sentences:
                wav = speak_system(text, voice, sr=16000)
                sims["teacher"].append(_cos(_embed(wav, 16000), target))
                st, cd = recording_targets(tok, codec, wav)
                sims["codec"].append(heard(codec.decode(cd[None])[0]))
                w24 = resample(wav, 16000, codec.config.sample_rate)[None]
                sims["unquantized"].append(heard(codec.decode_latents(codec._latents(w24))[0]))
                for name, m in (("s2a_true_tokens", base), ("adapted_true_tokens", adapted)):
                    sims[name].append(
                        heard(codec.decode(m.quantize(m(st[None], spk[None], lang, None, None, *prompt(1))))[0])
                    )
        row.update({k: mean(v) for k, v in sims.items()})
        for name, m in (("voice", base), ("adapted_voice", adapted)):
            pipe.s2a, hyps, own = m, [], []
            for i, text in enumerate(sentences):
                wav = pipe.generate(text, speaker=rec, seed=i)
                hyps.append(transcribe(asr, resample(wav, SAMPLE_RATE, 16000)))
                own.append(_cos(_embed(wav, SAMPLE_RATE), target))
            row[name] = mean(own)
            row[f"{name}_wer"] = round(corpus_wer(word_errors(sentences, hyps)), 3)
        pipe.s2a = base
        report[voice] = row
        print(voice, row, flush=True)
    if args.json:
        json.dump(
            dict(model=str(args.model), steps=args.steps, lr=args.lr, rows=report), open(args.json, "w"), indent=1
        )


if __name__ == "__main__":
    main()
