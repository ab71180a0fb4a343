"""Probe: retrieval for cloning in the codec's latent space (the idea of kNN-VC). The reference recording's codec
latents form an index; each latent frame the embedded voice generates for the cloned speaker is blended with the
mean of its k nearest reference frames (cosine distance): (1 - s) * frame + s * neighbours. Reports Whisper's word
error rate, the similarity to the reference and to the nearest built-in voice, per voice, strength and index
(`quant`: the quantized latents the S2A predicts; `raw`: the encoder's latents before quantization; `tokens`: the
quantized latents, each generated frame matched to the reference frames whose semantic tokens are nearest to its own
in the tokenizer's codebook, the same position inside the token first: neighbours by content, not by spectrum).

    .venv/bin/python scripts/research/clone_retrieval_probe.py espeak-ng:en-gb,espeak-ng:en+f3 --json out.json
    .venv/bin/python scripts/research/clone_retrieval_probe.py espeak-ng:en+f3 --model BUNDLE --indexes quant"""

import argparse
import json

import torch
import torch.nn.functional as F

from whisperspeech.asr import corpus_wer, transcribe, word_errors
from whisperspeech.audio import resample
from whisperspeech.checkpoints import load_model
from whisperspeech.evaluate import (
    _cos,
    _embed,
    _is_system_voice,
    clone_recording,
    read_sentences,
    tokenizer_path,
    voice_reference,
)
from whisperspeech.pipeline import Pipeline
from whisperspeech.vocoder import SAMPLE_RATE
from whisperspeech.vq import encode_audio
from whisperspeech.whisper_models import load_whisper


def retrieve(frames: torch.Tensor, index: torch.Tensor, strength: float, k: int = 4, scores=None) -> torch.Tensor:
    """Latent `frames` (T, dim) blended with the mean of their `k` nearest rows of `index` (N, dim): by cosine
    distance, or by `scores` (T, N) where given."""
    scores = F.normalize(frames, dim=-1) @ F.normalize(index, dim=-1).T if scores is None else scores
    return (1 - strength) * frames + strength * index[scores.topk(k).indices].mean(1)


def token_scores(codebook: torch.Tensor, gen_tokens: torch.Tensor, ref_tokens: torch.Tensor) -> torch.Tensor:
    """(3 x len(gen_tokens), 3 x len(ref_tokens)) content scores of codec frames: the cosine of their semantic tokens'
    codebook vectors, plus 0.01 where both frames sit at the same place inside their token."""
    e = F.normalize(codebook, dim=-1)
    sim = (e[gen_tokens] @ e[ref_tokens].T).repeat_interleave(3, 0).repeat_interleave(3, 1)
    same = torch.arange(sim.shape[0])[:, None] % 3 == torch.arange(sim.shape[1])[None] % 3
    return sim + 0.01 * same


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("voices", help="comma-separated system voices the model lacks")
    ap.add_argument("--sentences", default="datasets/validation_sentences_en.txt")
    ap.add_argument("--limit", type=int, default=6)
    ap.add_argument("--strengths", default="0,0.5,0.8,1")
    ap.add_argument("--indexes", default="quant,raw,tokens")
    ap.add_argument("--model", default="embedded", help="embedded, or a model bundle folder")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    pipe = Pipeline(model=args.model, quiet=True)
    codec, asr = pipe.vocoder.codec, load_whisper("tiny.en")
    tok = load_model(tokenizer_path(pipe), kind="vq")
    codebook = tok.rq.layers[0]._codebook.embed[0]
    sentences = read_sentences(args.sentences)[: args.limit]
    builtin = [voice_reference(v) for v in pipe.voices if _is_system_voice(v)]
    report = {}
    for voice in args.voices.split(","):
        recording = clone_recording(voice)
        speaker, target = pipe.clone(recording), voice_reference(voice)
        with torch.no_grad():
            ref = resample(recording, 16000, SAMPLE_RATE)[None]
            quant = codec.quantizer.decode(codec.encode(ref).transpose(0, 1))[0].T
            ref_tokens = encode_audio(tok, recording)[0]
            ref_tokens = ref_tokens[: len(quant) // 3]
            indexes = dict(quant=quant, raw=codec._latents(ref)[0].T, tokens=quant[: 3 * len(ref_tokens)])
            indexes = {k: v for k, v in indexes.items() if k in args.indexes.split(",")}
        for s in map(float, args.strengths.split(",")):
            for name, index in indexes.items() if s else [("quant", None)]:
                hyps, sims, near = [], [], []
                for i, text in enumerate(sentences):
                    codes = pipe.generate_atoks(text, speaker=speaker, seed=i)[0]
                    with torch.no_grad():
                        frames = codec.quantizer.decode(codes[:, None, :])[0].T
                        scores = None
                        if name == "tokens":
                            gen_tokens = pipe.generate_stoks(text, speaker=speaker, seed=i)[0]
                            scores = token_scores(codebook, gen_tokens, ref_tokens)[: len(frames)]
                            frames = frames[: len(scores)]
                        if s:
                            frames = retrieve(frames, index, s, scores=scores)
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
