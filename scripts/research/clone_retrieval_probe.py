"""Probe: retrieval for cloning in the codec's latent space (the idea of kNN-VC). The reference recording's codec
latents form an index; each latent frame the embedded voice generates for the cloned speaker is blended with the
mean of its k nearest reference frames (cosine distance): (1 - s) * frame + s * neighbours. Reports Whisper's word
error rate, the similarity to the reference and to the nearest built-in voice, per voice, strength and index
(`quant`: the quantized latents the S2A predicts; `raw`: the encoder's latents before quantization).

    .venv/bin/python scripts/research/clone_retrieval_probe.py espeak-ng:en-gb,espeak-ng:en+f3 --json out.json"""

import argparse
import json

import torch
import torch.nn.functional as F

from whisperspeech.asr import corpus_wer, transcribe, word_errors
from whisperspeech.audio import resample
from whisperspeech.evaluate import _cos, _embed, _is_system_voice, clone_recording, read_sentences, voice_reference
from whisperspeech.pipeline import Pipeline
from whisperspeech.vocoder import SAMPLE_RATE
from whisperspeech.whisper_models import load_whisper


def retrieve(frames: torch.Tensor, index: torch.Tensor, strength: float, k: int = 4) -> torch.Tensor:
    "Latent `frames` (T, dim) blended with the mean of their `k` nearest rows of `index` (N, dim) by cosine distance."
    near = (F.normalize(frames, dim=-1) @ F.normalize(index, dim=-1).T).topk(k).indices
    return (1 - strength) * frames + strength * index[near].mean(1)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("voices", help="comma-separated system voices the model lacks")
    ap.add_argument("--sentences", default="datasets/validation_sentences_en.txt")
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--strengths", default="0,0.5,0.8,1")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    pipe = Pipeline(model="embedded", quiet=True)
    codec, asr = pipe.vocoder.codec, load_whisper("tiny.en")
    sentences = read_sentences(args.sentences)[: args.limit]
    builtin = [voice_reference(v) for v in pipe.voices if _is_system_voice(v)]
    report = {}
    for voice in args.voices.split(","):
        recording = clone_recording(voice)
        speaker, target = pipe.speaker(recording), voice_reference(voice)
        with torch.no_grad():
            ref = resample(recording, 16000, SAMPLE_RATE)[None]
            indexes = dict(
                quant=codec.quantizer.decode(codec.encode(ref).transpose(0, 1))[0].T, raw=codec._latents(ref)[0].T
            )
        for s in map(float, args.strengths.split(",")):
            for name, index in indexes.items() if s else [("quant", None)]:
                hyps, sims, near = [], [], []
                for i, text in enumerate(sentences):
                    codes = pipe.generate_atoks(text, speaker=speaker, seed=i)[0]
                    with torch.no_grad():
                        frames = codec.quantizer.decode(codes[:, None, :])[0].T
                        if s:
                            frames = retrieve(frames, index, s)
                        wav = codec.decode_latents(frames.T[None])[0]
                    hyps.append(transcribe(asr, resample(wav, SAMPLE_RATE, 16000)))
                    emb = _embed(wav, SAMPLE_RATE)
                    sims.append(_cos(emb, target))
                    near.append(max(_cos(emb, b) for b in builtin))
                row = dict(
                    wer=round(corpus_wer(word_errors(sentences, hyps)), 3),
                    similarity=round(sum(sims) / len(sims), 3),
                    nearest_builtin=round(sum(near) / len(near), 3),
                )
                report[f"{voice} strength {s:g} {name}"] = row
                print(voice, f"strength {s:g}", name, row, flush=True)
    if args.json:
        json.dump(report, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
