#!/usr/bin/env python
"""Train T2S or S2A on a lease machine with the recipe's settings (scripts/train_embedded_voice.sh step
6) for at most SECONDS more, then export the weights in float16 beside the run.

    python runner.py KIND SHARDS RUN_DIR INIT_MODEL SCHEDULE_STEPS SECONDS WORKERS

Continues INIT_MODEL's schedule (`--init --continue-schedule`), or resumes RUN_DIR's last checkpoint.
It stops at a step boundary when SECONDS are up (Lightning's `max_time`, counted from this start even
when resuming: a checkpoint carries the time already spent) or when RUN_DIR/STOP appears (another call
ends it), so `train` exports the exact step reached; prints the loss every 200 steps."""
import os
import sys
import time
from pathlib import Path

kind, data, out_dir, init, steps, seconds, workers = sys.argv[1:8]
out_dir = Path(out_dir)
out_dir.mkdir(parents=True, exist_ok=True)
(out_dir / "pid").write_text(str(os.getpid()))
import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from whisperspeech.checkpoints import load_model, save_model, trained_steps
from whisperspeech.training import last_checkpoint, train


class Progress(Callback):
    t0 = time.time()

    def on_train_batch_end(self, trainer, *args):
        s = trainer.global_step
        if s in (1, 10, 50) or s % 200 == 0:
            loss = float(trainer.callback_metrics.get("loss", float("nan")))
            print(f"[{kind}] step {s} {time.time() - self.t0:.1f}s loss {loss:.3f}", flush=True)
        if (out_dir / "STOP").exists(): trainer.should_stop = True


def time_spent(ckpt) -> float:
    "Training seconds a checkpoint's Lightning Timer recorded (0 without one)."
    if ckpt is None: return 0.0
    callbacks = torch.load(ckpt, map_location="cpu", weights_only=False, mmap=True).get("callbacks") or {}
    return next((float(v["time_elapsed"].get("train", 0)) for k, v in callbacks.items() if "Timer" in str(k)), 0.0)


budget = int(seconds) + time_spent(last_checkpoint(out_dir))
_init = L.Trainer.__init__
def _with_time_limit(self, *args, **kw):
    kw["max_time"] = {"seconds": budget}
    kw["callbacks"] = list(kw.get("callbacks") or []) + [Progress()]
    _init(self, *args, **kw)
L.Trainer.__init__ = _with_time_limit

print("cuda", torch.cuda.is_available(), torch.__version__, L.__version__, flush=True)
t0 = time.time()
path = train(kind, data, out_dir, "compact", steps=int(steps), batch_size=32, lr=1e-3, warmup=50,
             precision="bf16-mixed", workers=int(workers), save_every=200, log_every=20, progress=False,
             init=init, continue_schedule=True)
step = trained_steps(path)
save_model(load_model(path, kind=kind), out_dir / f"{kind}-half.model", half=True, step=step)
print(f"[{kind}] DONE step {step} in {time.time() - t0:.0f}s", flush=True)
(out_dir / "done").write_text(str(step))
