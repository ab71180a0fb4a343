"""Probe: tune the codec's decoder (encoder and quantizer frozen) with APNet's anti-wrapping phase losses beside the
reconstruction loss: instantaneous phase, group delay (along frequency) and instantaneous angular frequency (along
time) of the decoded audio's STFT against the original's, weighted by the original's magnitude. `--phase-weight 0`
is the control: the same tuning on the reconstruction loss alone. Exports the codec every 500 steps.

    .venv/bin/python scripts/research/codec_phase_probe.py --data 'DATA/corpus/*.tar' -o runs/codec-phase.model

Judge an export with `scripts/research/eval_codec.py EXPORT`."""

import argparse
import math
import time
from pathlib import Path

import torch

from whisperspeech.checkpoints import load_model, save_model
from whisperspeech.codec import reconstruction_loss
from whisperspeech.training import batch_maker, make_loader

VOICE = Path(__file__).resolve().parents[2] / "whisperspeech" / "voice"


def wrapped(x: torch.Tensor) -> torch.Tensor:
    "Distance of phase differences `x` from the nearest multiple of 2 pi (APNet's anti-wrapping function)."
    return (x - 2 * math.pi * torch.round(x / (2 * math.pi))).abs()


def phase_losses(y_hat, y, n_fft: int = 1280, hop: int = 320):
    "Magnitude-weighted instantaneous phase, group delay and instantaneous frequency errors of `y_hat` against `y`."
    win = torch.hann_window(n_fft, device=y.device)
    spec = lambda x: torch.stft(x, n_fft, hop, window=win, return_complex=True)
    target = spec(y)
    ph, p = spec(y_hat).angle(), target.angle()
    w = target.abs()
    w = w / w.mean(dim=(1, 2), keepdim=True).clamp(min=1e-8)
    ip = (wrapped(ph - p) * w).mean()
    gd = (wrapped(ph.diff(dim=1) - p.diff(dim=1)) * w[:, 1:]).mean()
    iaf = (wrapped(ph.diff(dim=2) - p.diff(dim=2)) * w[:, :, 1:]).mean()
    return ip, gd, iaf


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="corpus shards (audio)")
    ap.add_argument("-o", "--out", required=True, help="the codec export, rewritten every 500 steps")
    ap.add_argument("--codec", default=str(VOICE / "codec.model"))
    ap.add_argument("--phase-weight", type=float, default=0.3)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch-size", type=int, default=8)
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    codec = load_model(args.codec, kind="codec").float()
    codec.requires_grad_(False)
    params = [*codec.decoder.parameters(), *codec.head.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.8, 0.99), weight_decay=0.01)
    cosine = lambda s: min(1, (s + 1) / 100) * max(0.05, 0.5 * (1 + math.cos(math.pi * s / args.steps)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    loader = make_loader(args.data, batch_maker("codec", codec.config), args.batch_size, seed=1)
    codec.train()
    t0, acc = time.time(), []
    for i, batch in enumerate(loader, 1):
        wav = batch["wav"]
        with torch.no_grad():
            latents = codec.quantizer.decode(codec.encode(wav).transpose(0, 1))
        y_hat = codec.decode_latents(latents)[..., : wav.shape[-1]]
        rec, (ip, gd, iaf) = reconstruction_loss(y_hat, wav), phase_losses(y_hat, wav)
        loss = rec + args.phase_weight * (ip + gd + iaf)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        acc.append([rec.item(), ip.item(), gd.item(), iaf.item()])
        if i % 50 == 0:
            m = torch.tensor(acc).mean(0).tolist()
            print(i, "rec %.3f ip %.3f gd %.3f iaf %.3f" % tuple(m), f"{(time.time() - t0) / i:.2f} s/step", flush=True)
            acc = []
        if i % 500 == 0 or i == args.steps:
            save_model(codec.eval(), args.out, step=i)
            codec.train()
        if i == args.steps:
            break


if __name__ == "__main__":
    main()
