"""Time to first audio: how soon `Pipeline.generate_stream` yields sound for a 3-sentence paragraph,
against waiting for `generate` (the whole paragraph), in the same process.

    .venv/bin/python scripts/bench/bench_ttfa.py                  # random-weight tiny models (sizes of the embedded voice)
    .venv/bin/python scripts/bench/bench_ttfa.py --model embedded  # the embedded voice

Random T2S weights never choose the end token (`tests/bundles.py`), so each sentence would run to
its length limit (twice its natural duration). With random models the script therefore measures
twice: as they run (an upper bound), and with each sentence's semantic tokens cut at its natural
length (characters / cps x 25 tokens per second), where a trained model stops."""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
import time

import torch

PARAGRAPH = (
    "The ferry leaves the harbour at seven. Pack your bags tonight and leave them by the door. "
    "We will have breakfast on the deck while the island slowly comes into view."
)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="a bundle folder or 'embedded' (default: random-weight tiny models)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--frames", type=int, default=25, help="acoustic frames per streamed piece (default: 25 = 1/3 s)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from bundles import random_bundle  # untrained models: the tests' helper
    from whisperspeech.pipeline import Pipeline

    model = args.model or random_bundle(tempfile.mkdtemp(prefix="ttfa-"), "tiny")
    pipe = Pipeline(model=model, quiet=True)
    print(f"model: {pipe.description}; {args.threads} threads; paragraph of 3 sentences; medians of {args.runs}")
    measure(pipe, args, "as the models run")
    if not args.model:
        import whisperspeech.pipeline as pl

        pl._token_limit = lambda chunk, cps: int(len(chunk.encode()) / cps * 25)  # where a trained T2S stops
        measure(pipe, args, "T2S cut at natural length")
    return 0


def measure(pipe, args, label):
    from whisperspeech.vocoder import SAMPLE_RATE

    list(pipe.generate_stream(PARAGRAPH, seed=0, frames=args.frames))  # warm-up: allocations, fused weights
    first, stream_total, whole, seconds = [], [], [], 0.0
    for run in range(args.runs):
        t0 = time.perf_counter()
        pieces = []
        for piece in pipe.generate_stream(PARAGRAPH, seed=run, frames=args.frames):
            if not pieces:
                first.append(time.perf_counter() - t0)
            pieces.append(piece)
        stream_total.append(time.perf_counter() - t0)
        seconds = sum(p.shape[0] for p in pieces) / SAMPLE_RATE
        t0 = time.perf_counter()
        pipe.generate(PARAGRAPH, seed=run)
        whole.append(time.perf_counter() - t0)
    med = statistics.median
    print(f"{label}: {seconds:.1f} s of speech")
    print(f"time to first audio, streamed:        {med(first):.3f} s")
    print(f"time to first audio, generate():      {med(whole):.3f} s  ({med(whole) / med(first):.1f}x later)")
    print(
        f"streamed total {med(stream_total):.2f} s vs generate() {med(whole):.2f} s (real-time factor {med(stream_total) / seconds:.2f})"
    )


if __name__ == "__main__":
    sys.exit(main())
