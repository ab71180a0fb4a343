#!/usr/bin/env python
"""Training step time on CPU: float32 vs bf16 autocast, random vs length-bucketed batches, in one process.

    .venv/bin/python scripts/bench/bench_training.py --data data/final --kinds t2s s2a --steps 3
    .venv/bin/python scripts/bench/bench_training.py --data data/wenc --kinds vq --config tiny.en

Each cell: the same model (fresh, seed 0) trains `--steps` steps after one warm-up step on the first
batches the loader gives; prints seconds per step (median), the share of padded positions, and the
throughput in positions holding data (frames or tokens) per second, which the ratios compare.
"""

import argparse
import statistics
import time

import torch

from whisperspeech.training import (
    _loss,
    batch_maker,
    build_model,
    keep_freed_memory,
    make_loader,
    preset,
    sample_length,
)


def real_and_padded(kind, batch):
    "Positions holding data in a batch, and the padded ones."
    mask = {
        "s2a": lambda: batch["out_atoks"] != -100,
        "t2s": lambda: batch["out_stoks"] != -100,
        "vq": lambda: batch["mask"].bool(),
    }[kind]()
    return int(mask.sum()), int((~mask).sum())


def time_steps(kind, config, batches, bf16, steps):
    torch.manual_seed(0)
    model = build_model(kind, config).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 1e-4)
    times = []
    for i, batch in enumerate(batches):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = _loss(kind, model, batch)
        loss.backward()
        opt.step()
        opt.zero_grad()
        if i:
            times.append(time.perf_counter() - t)  # the first step warms up
    return statistics.median(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="prepared shards (spk stage for t2s/s2a, wenc for vq)")
    p.add_argument("--kinds", nargs="+", default=["t2s", "s2a"])
    p.add_argument("--config", default="compact")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    for kind in args.kinds:
        config = preset(kind, args.config)
        rows = {}
        for bucketed in (False, True):
            loader = make_loader(
                args.data,
                batch_maker(kind, config),
                args.batch_size,
                seed=0,
                length=sample_length(kind) if bucketed else None,
            )
            it = iter(loader)
            batches = [next(it) for _ in range(args.steps + 1)]
            counts = [real_and_padded(kind, b) for b in batches[1:]]
            real = statistics.mean(r for r, _ in counts)
            pad = sum(p for _, p in counts) / sum(r + p for r, p in counts)
            for bf16 in (False, True):
                step = time_steps(kind, config, batches, bf16, args.steps)
                rows[bucketed, bf16] = real / step
                print(
                    f"{kind} {'bucketed' if bucketed else 'random  '} {'bf16-mixed' if bf16 else '32-true   '} "
                    f"{step:6.2f} s/step  padding {pad:4.0%}  {real / step:8.0f} positions/s",
                    flush=True,
                )
        base = rows[False, False]
        print(
            f"{kind}: throughput vs float32 random batches: bf16 {rows[False, True] / base:.1f}x, "
            f"buckets {rows[True, False] / base:.1f}x, both {rows[True, True] / base:.1f}x"
        )


if __name__ == "__main__":
    main()
