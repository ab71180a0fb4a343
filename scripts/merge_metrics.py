#!/usr/bin/env python
"""One loss-per-step CSV for a training run that was stopped and resumed: the `metrics.csv` files of
its Lightning versions joined in step order, keeping, for a step logged twice (the steps between
the last checkpoint and a stop are trained again after resuming), the later version's row. Rows
already in the output file come first, so a run continued on another machine (from a committed
export, with only its new versions here) extends the committed history instead of replacing it.

    .venv/bin/python scripts/merge_metrics.py runs/t2s --until whisperspeech/voice/partial/t2s.model \\
        -o docs/logs/t2s-metrics.csv

`--until` takes an exported model and keeps the steps before the one it records (the steps that
model has trained). A run that continued a committed export's schedule (`train --init
--continue-schedule`) logs its steps from 0: they are shifted by the step it started at, which its
checkpoint records.
"""

import argparse
import csv
import sys
from pathlib import Path


def run_start(run_dir: Path) -> int:
    "The schedule step a run started at: 0, or the export's step for a run continued from one."
    import torch
    from whisperspeech.training import last_checkpoint

    ckpt = last_checkpoint(run_dir)
    if ckpt is None:
        return 0
    return (torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True).get("whisperspeech") or {}).get(
        "start_step", 0
    )


def merged_rows(run_dir: Path, until: int | None = None, earlier: Path | None = None) -> list[dict]:
    """Rows with a loss, one per step of the schedule, from every `logs/version_*/metrics.csv` under
    `run_dir` (shifted by `run_start`), after those of `earlier` (a CSV merged before) when it exists."""
    versions = sorted((run_dir / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name.split("_")[1]))
    if not versions:
        raise SystemExit(f"no logs/version_*/metrics.csv under {run_dir}: is it a training output folder?")
    start = run_start(run_dir)
    sources = [(earlier, 0)] if earlier is not None and earlier.exists() else []
    by_step = {}
    for path, shift in sources + [
        (v, start) for v in versions
    ]:  # later versions overwrite earlier rows of the same step
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                step = int(row["step"]) + shift
                if row.get("loss") and (until is None or step < until):
                    by_step[step] = dict(row, step=str(step))
    return [by_step[s] for s in sorted(by_step)]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="a `whisperspeech train -o` folder")
    ap.add_argument("--until", help="an exported model: keep only the steps it has trained")
    ap.add_argument("-o", "--output", required=True)
    args = ap.parse_args(argv)
    until = None
    if args.until:
        from whisperspeech.checkpoints import trained_steps

        until = trained_steps(args.until)
        if until is None:
            raise SystemExit(
                f"{args.until} records no training step: export it with `whisperspeech train --export-only`"
            )
    from whisperspeech.core import atomic_write

    out = Path(args.output)
    rows = merged_rows(Path(args.run), until, earlier=out)
    with atomic_write(out) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "loss", "step"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    print(f"{out}: {len(rows)} rows, steps {rows[0]['step']}-{rows[-1]['step']}" if rows else f"{out}: no rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
