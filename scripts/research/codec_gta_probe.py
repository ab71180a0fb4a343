"""Probe: tune the codec's decoder on the codes a parallel S2A predicts from the training tokens (as vocoders are
tuned on a TTS model's predicted features). The target is the frozen decoder's audio of the true codes; a share of
the crops keeps the true codes so that plain resynthesis is not forgotten. Exports the codec every 250 steps.

    .venv/bin/python scripts/research/codec_gta_probe.py -o runs/codec-gta --steps 2000

Judge an export with `scripts/research/eval_s2a.py whisperspeech/voice/s2a.model --codec EXPORT`."""

import argparse
import copy
import dataclasses
import math
import random
import time
from pathlib import Path

import torch

from whisperspeech.checkpoints import load_model, save_model
from whisperspeech.codec import reconstruction_loss
from whisperspeech.training import make_loader, s2a_parallel_batch

ROOT = Path(__file__).resolve().parents[2]
VOICE = ROOT / "whisperspeech" / "voice"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", required=True, help="folder for the exports")
    ap.add_argument("--data", default=str(ROOT / "datasets" / "voice-tokens" / "*" / "*.tar.gz"))
    ap.add_argument("--codec", default=str(VOICE / "codec.model"))
    ap.add_argument("--s2a", default=str(VOICE / "s2a.model"))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--true-share", type=float, default=0.25, help="share of crops decoded from their true codes")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--crop-tokens", type=int, default=50, help="semantic tokens per crop (25 a second)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    frozen = load_model(args.codec, kind="codec").eval()
    s2a = load_model(args.s2a, kind="s2a-parallel").eval()
    codec = copy.deepcopy(frozen).eval()  # encoder and quantizer stay as they are: the shards' codes stay valid
    params = list(codec.decoder.parameters()) + list(codec.head.parameters())
    for p in codec.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    codec.decoder.train()
    codec.head.train()
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    config, rng = dataclasses.replace(s2a.config, crop_tokens=args.crop_tokens), random.Random(0)
    loader = make_loader(args.data, lambda s: s2a_parallel_batch(s, config, rng), args.batch_size, seed=0)
    out, hop, start, avg = Path(args.out), codec.config.hop_length, time.time(), None
    out.mkdir(parents=True, exist_ok=True)
    for step, b in enumerate(loader, 1):
        with torch.no_grad():
            codes = s2a.quantize(s2a(b["stoks"], b["speakers"], b["langs"], b["lengths"]))
            keep = torch.rand(len(codes)) < args.true_share
            codes[keep] = b["atoks"][keep]
            target = frozen.decode(b["atoks"])
        for g in opt.param_groups:  # 50 warmup steps, then a cosine
            g["lr"] = args.lr * min(1, step / 50) * 0.5 * (1 + math.cos(math.pi * step / args.steps))
        wav = codec.decode(codes)
        frames = b["frames"].tolist()
        loss = sum(
            reconstruction_loss(wav[i : i + 1, : f * hop], target[i : i + 1, : f * hop]) for i, f in enumerate(frames)
        )
        loss = loss / len(frames)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        avg = loss.item() if avg is None else 0.95 * avg + 0.05 * loss.item()
        if step % 25 == 0:
            print(f"step {step} loss {avg:.4f} {time.time() - start:.0f}s", flush=True)
        if step % 250 == 0 or step == args.steps:
            save_model(codec, out / f"codec-step{step}.model", half=True, step=step)
        if step >= args.steps:
            break


if __name__ == "__main__":
    main()
