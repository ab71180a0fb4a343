"""Assemble a voice bundle: T2S, S2A and codec models (stored in float16) and `voices.pt`, one speaker
embedding per corpus voice (the normalized mean of its utterances' resemblyzer embeddings), `rates.json`,
each voice's own speaking rate (the median over its utterances, where the shards hold text and semantic
tokens), and optionally `sampling.json`, the decoding temperatures per stage that measured best on
validation sentences.

    .venv/bin/python scripts/make_voice_bundle.py --t2s runs/t2s/t2s.model --s2a runs/s2a/s2a.model \\
        --codec whisperspeech/voice/codec.model --spk data/final -o whisperspeech/voice
    .venv/bin/python scripts/make_voice_bundle.py --only-rates --spk 'datasets/voice-tokens/*/*.tar.gz' -o whisperspeech/voice
"""

import argparse
import collections
import json
import sys
from pathlib import Path

import numpy as np
import torch


def voice_stats(shards, embeddings: bool = True):
    """Per voice (the json `voice` field): the normalized mean resemblyzer embedding over the shards' `spk.npy`,
    the number of those utterances (both empty with `embeddings=False`), and the median speaking rate over
    utterances with text and semantic tokens."""
    import io
    import statistics
    import webdataset as wds
    from whisperspeech.core import speaking_rate
    from whisperspeech.stages import expand_shards

    sums, counts, rates = {}, collections.Counter(), collections.defaultdict(list)
    for s in wds.WebDataset([str(p) for p in expand_shards(shards)], shardshuffle=False):
        voice = json.loads(s["json"]).get("voice")
        if voice is None:
            continue
        if "txt" in s and "stoks.npy" in s:
            rates[voice].append(speaking_rate(s["txt"].decode("utf-8"), len(np.load(io.BytesIO(s["stoks.npy"])))))
        if not embeddings or "spk.npy" not in s:
            continue
        e = torch.from_numpy(np.load(io.BytesIO(s["spk.npy"]))).float()
        sums[voice] = sums.get(voice, 0) + e
        counts[voice] += 1
    means = {v: torch.nn.functional.normalize(sums[v] / counts[v], dim=0) for v in sorted(sums)}
    return means, counts, {v: statistics.median(r) for v, r in sorted(rates.items())}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--t2s")
    ap.add_argument("--s2a")
    ap.add_argument("--codec")
    ap.add_argument("--spk", required=True, help="shards with spk.npy, txt and stoks.npy, and the voice name in json")
    ap.add_argument("--first-voice", default="flite:slt", help="the default voice (listed first)")
    ap.add_argument(
        "--t2s-temperature", type=float, help="record in sampling.json the T2S temperature that measured best"
    )
    ap.add_argument(
        "--s2a-temperature", type=float, help="the same for S2A (a stage not given follows the package default)"
    )
    ap.add_argument(
        "--s2a-guidance",
        type=float,
        help="the classifier-free guidance scale S2A decodes with (recorded in its "
        "config; it must have been trained with --uncond-rate)",
    )
    ap.add_argument("--sampling-note", help="how the temperatures were chosen (kept in sampling.json)")
    ap.add_argument("--only-rates", action="store_true", help="write only rates.json into an existing bundle")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    if not args.only_rates and not (args.t2s and args.s2a and args.codec):
        ap.error("--t2s, --s2a and --codec are required (unless --only-rates)")
    from whisperspeech.bundle import save_rates, save_sampling, save_voices
    from whisperspeech.checkpoints import load_export, save_model
    from whisperspeech.core import WhisperSpeechError
    from whisperspeech.s2a import check_guidance, set_guidance

    try:
        if args.s2a_guidance is not None:
            check_guidance(args.s2a_guidance)  # before the shards are read
    except WhisperSpeechError as e:
        ap.error(str(e))
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    voices, counts, rates = voice_stats(args.spk, embeddings=not args.only_rates)
    if rates:
        save_rates(
            out / "rates.json", rates, measured_on="the median speaking rate of each voice's utterances in " + args.spk
        )
    for v, r in rates.items():
        print(f"{v:20s} {r:5.1f} characters per second")
    if args.only_rates:
        return 0
    for kind, src in (("t2s", args.t2s), ("s2a", args.s2a), ("codec", args.codec)):
        if Path(src).resolve() != (out / f"{kind}.model").resolve() or (
            kind == "s2a" and args.s2a_guidance is not None
        ):
            model, record = load_export(src, kind=kind)
            if kind == "s2a" and args.s2a_guidance is not None:
                try:
                    set_guidance(model, args.s2a_guidance)
                except WhisperSpeechError as e:
                    ap.error(f"{src}: {e}")
            save_model(model, out / f"{kind}.model", half=True, **record)  # keeps its record
    order = (
        [args.first_voice] + [v for v in voices if v != args.first_voice]
        if args.first_voice in voices
        else list(voices)
    )
    save_voices(out / "voices.pt", {v: voices[v] for v in order})
    for v in order:
        print(f"{v:20s} {counts[v]:5d} utterances")
    if args.t2s_temperature is not None or args.s2a_temperature is not None:
        notes = dict(chosen_on=args.sampling_note) if args.sampling_note else {}
        save_sampling(out / "sampling.json", args.t2s_temperature, args.s2a_temperature, **notes)
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"bundle {out}: {size / 2**20:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
