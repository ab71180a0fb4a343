"""Held-out utterances for the evaluation scripts: the sentences of datasets/eval_sentences_en.txt
(written for evaluation, in no training text) spoken by the corpus voices, different sentences per voice;
with --unused-by, corpus sentences no training shard speaks instead (validation; the embedded voice's validation
sentences are fixed in datasets/validation_sentences_en.txt, for --sentences with --per-voice 4)."""

import argparse
from pathlib import Path

from whisperspeech.corpus import VOICES
from whisperspeech.evaluate import read_sentences
from whisperspeech.system_voices import speak_system

ROOT = Path(__file__).resolve().parents[2]


def heldout_parser(doc: str, model: str, model_help: str, per_voice: int) -> argparse.ArgumentParser:
    "The evaluation scripts' shared options: the model under test, sentences, voices, count, JSON output."
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument(model, help=model_help)
    ap.add_argument("--sentences", default=str(ROOT / "datasets/eval_sentences_en.txt"))
    ap.add_argument(
        "--unused-by",
        metavar="DATA",
        help="instead of --sentences: corpus sentences that no shard of "
        "DATA speaks (a validation set for stopping decisions; the evaluation sentences stay unseen)",
    )
    ap.add_argument("--voices", default=",".join(v for v in VOICES["en"] if not v.startswith("espeak")))
    ap.add_argument("--per-voice", type=int, default=per_voice, help=f"sentences per voice (default: {per_voice})")
    ap.add_argument("--json", help="write the results here too")
    return ap


def heldout_texts(args):
    "Yields `(voice, [text, ...])` per voice of `args.voices`: different sentences per voice."
    voices = args.voices.split(",")
    if args.unused_by:
        lines = unused_sentences(args.unused_by, len(voices) * args.per_voice)
    else:
        lines = read_sentences(args.sentences)
    for v, voice in enumerate(voices):
        yield voice, [lines[(v * args.per_voice + i) % len(lines)] for i in range(args.per_voice)]


def heldout_utterances(args, sr: int):
    "Yields `(voice, [(text, waveform at sr), ...])` per voice of `args.voices`."
    for voice, texts in heldout_texts(args):
        yield voice, [(text, speak_system(text, voice, sr=sr)) for text in texts]


def cross_entropy(kind: str, model, samples, batch: int) -> float:
    "Mean teacher-forced cross-entropy of a T2S or S2A `model` (a parallel S2A: its L1 loss) over batches of `samples` (shard-style dicts)."
    import dataclasses

    import torch
    from whisperspeech.training import _loss, batch_maker

    config = model.config
    if kind == "s2a-parallel":
        # whole utterances, not training crops; a model that hears phonemes hears those of aligned samples
        aligned = all("dur.npy" in s for s in samples)
        config = dataclasses.replace(
            config, crop_tokens=10**6, phone_dropout=0.0, phones=config.phones if aligned else None
        )
    make = batch_maker(kind, config)
    with torch.no_grad():
        losses = [float(_loss(kind, model, make(samples[i : i + batch]))) for i in range(0, len(samples), batch)]
    return sum(losses) / len(losses)


def unused_sentences(data: str, n: int, lang: str = "en") -> list[str]:
    "`n` sentences of the corpus text pool that no shard of `data` speaks, spread over the pool."
    from whisperspeech.corpus import sentences, spoken_sentences

    used = spoken_sentences(data)
    pool = [s for s in sentences(lang) if s not in used]
    return pool[:: max(1, len(pool) // n)][:n]


def dnsmos_of_variants(args, variants, scores=("overall", "signal", "background", "p808")) -> dict:
    """Mean DNSMOS `scores` of each signal that `variants(wav)` (name -> waveform at 24 kHz) makes of every held-out
    utterance of `args`: printed as a table and, with `args.json`, written beside the codec's name."""
    import json

    import torch
    from whisperspeech.quality import dnsmos

    heard, count = {}, 0
    for voice, utterances in heldout_utterances(args, sr=24000):
        for _, wav in utterances:
            for name, x in variants(wav).items():
                d = dnsmos(x.clamp(-1, 1), 24000)
                heard.setdefault(name, []).append([d[k] for k in scores])
        count += len(utterances)
        print(f"{voice}: {len(utterances)} utterances", flush=True)
    summary = {name: dict(zip(scores, torch.tensor(v).mean(0).tolist())) for name, v in heard.items()}
    width = max(map(len, summary))
    for name, s in summary.items():
        print(f"{name:{width}s}  " + "  ".join(f"{k} {s[k]:.2f}" for k in scores))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(codec=args.codec, utterances=count, scores=summary), indent=1))
    return summary


def speak_and_hear(pipe, asr, sentences, speaker) -> tuple[list[str], list]:
    """`pipe` speaks each of `sentences` as `speaker` (utterance i with seed i): what Whisper `asr` hears of each, and
    each one's resemblyzer embedding, for similarities to the references a probe compares."""
    from whisperspeech.asr import transcribe
    from whisperspeech.audio import resample
    from whisperspeech.evaluate import _embed
    from whisperspeech.vocoder import SAMPLE_RATE

    hyps, embs = [], []
    for i, text in enumerate(sentences):
        wav = pipe.generate(text, speaker=speaker, seed=i)
        hyps.append(transcribe(asr, resample(wav, SAMPLE_RATE, 16000)))
        embs.append(_embed(wav, SAMPLE_RATE))
    return hyps, embs
