"""Probe: does a generative head (conditional flow matching) over the parallel S2A's frozen trunk bring a voice's
latents nearer its recording than the trunk's L1 regression, which averages? Trains a small ConvNeXt velocity head
on the residual (the codec's latents less the S2A's prediction, scaled by `--sigma`) on the committed token shards,
the S2A frozen and reading tokens alone; then, from each voice's own semantic tokens (no T2S), decodes the codec's
latents, the S2A's prediction and the prediction plus residuals sampled with `--ode-steps` Euler steps from noise
at each `--temps` scale, and reports their similarity to the voice's reference and their spread (per-dimension
temporal standard deviation) over the codec's.

    .venv/bin/python scripts/research/s2a_flow_probe.py --steps 3000 --out runs/s2a-flow-head.pt --json out.json
    .venv/bin/python scripts/research/s2a_flow_probe.py --eval-only --out runs/s2a-flow-head.pt --temps 1,1.3"""

import argparse
import json
import math
import time
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from eval_s2a import _langs, training_sample
from whisperspeech.codec import CodecVocoder  # noqa: F401 (first: lets vocos import torchaudio)
from whisperspeech.evaluate import _cos, _embed, clone_recording, read_sentences, voice_reference
from whisperspeech.layers import length_mask
from whisperspeech.pipeline import Pipeline
from whisperspeech.training import make_loader, s2a_parallel_batch
from whisperspeech.vocoder import SAMPLE_RATE
from vocos.modules import ConvNeXtBlock


class FlowHead(nn.Module):
    "Velocity (batch, frames, latent) of a residual `x` at time `t`, given the S2A's hidden frames and prediction."

    def __init__(self, hidden: int, latent: int, dim: int, layers: int):
        super().__init__()
        self.inp = nn.Conv1d(hidden + 2 * latent, dim, 1)
        self.t = nn.Sequential(nn.Linear(64, dim), nn.GELU(), nn.Linear(dim, dim))
        self.blocks = nn.ModuleList([ConvNeXtBlock(dim, 3 * dim, 1 / layers) for _ in range(layers)])
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, latent)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, t, h, mu, mask):
        "x, mu: (B, T, latent); h: (B, T, hidden); t: (B,); mask (B, 1, T)."
        freqs = torch.exp(torch.arange(32, device=x.device) * (-math.log(1000.0) / 32))
        angles = t[:, None] * 1000 * freqs
        te = self.t(torch.cat([torch.sin(angles), torch.cos(angles)], -1))
        y = (self.inp(torch.cat([x, h, mu], -1).transpose(1, 2)) + te[:, :, None]) * mask
        for b in self.blocks:
            y = b(y) * mask
        return self.out(self.norm(y.transpose(1, 2)))


class Trunk:
    "The frozen parallel S2A: its prediction and its last hidden frames (batch, frames, dim), tokens alone."

    def __init__(self, s2a):
        self.s2a = s2a.eval().requires_grad_(False)
        self.hidden = None
        s2a.frame_norm.register_forward_hook(lambda m, i, o: setattr(self, "hidden", o))

    @torch.no_grad()
    def __call__(self, stoks, speakers, langs, lengths):
        return self.s2a(stoks, speakers, langs, lengths), self.hidden


def train(trunk, head, args):
    "Conditional flow matching of the scaled residual, the trunk frozen; saves the head every 500 steps and at the end."
    cfg = replace(trunk.s2a.config, phones=None, prompt_layers=0)
    loader = make_loader(args.data, lambda s: s2a_parallel_batch(s, cfg), args.batch_size, seed=0)
    opt = torch.optim.AdamW(head.parameters(), lr=args.lr, weight_decay=0.01)
    cosine = lambda s: min(1, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, args.steps) / args.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    start, losses = time.time(), []
    for step, batch in enumerate(loader):
        if step >= args.steps:
            break
        mu, h = trunk(batch["stoks"], batch["speakers"], batch["langs"], batch["lengths"])
        x1 = (trunk.s2a.target(batch["atoks"]) - mu) / args.sigma
        mask = length_mask(batch["frames"], mu.shape[1], mu.device)
        x0, t = torch.randn_like(x1), torch.rand(len(x1))
        xt = (1 - t[:, None, None]) * x0 + t[:, None, None] * x1
        m = mask.transpose(1, 2)
        loss = (((head(xt, t, h, mu, mask) - (x1 - x0)) ** 2) * m).sum() / (m.sum() * x1.shape[-1])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (step + 1) % 100 == 0:
            per_step = (time.time() - start) / (step + 1)
            print(f"step {step + 1} loss {np.mean(losses[-100:]):.4f} {per_step:.2f} s/step", flush=True)
        if (step + 1) % 500 == 0:
            torch.save(head.state_dict(), args.out)
    torch.save(head.state_dict(), args.out)


@torch.inference_mode()
def sample(head, mu, h, scale: float, steps: int, sigma: float, seed: int):
    "The prediction plus a residual drawn by Euler steps from noise of standard deviation `scale`."
    x = scale * torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed))
    mask = torch.ones(1, 1, mu.shape[1])
    for k in range(steps):
        x = x + head(x, torch.full((1,), k / steps), h, mu, mask) / steps
    return mu + sigma * x


def evaluate(pipe, trunk, head, args) -> dict:
    "Per voice and way of decoding: similarity to the voice's reference and spread over the codec's latents."
    tok, voc = pipe._semantic_tokenizer(), pipe.vocoder
    sentences = read_sentences(args.sentences)[: args.per_voice]
    scales, report = [float(x) for x in args.temps.split(",")], {}
    for voice in args.voices.split(","):
        ref = voice_reference(voice)
        spk = pipe.voices[voice] if voice in pipe.voices else pipe.clone(clone_recording(voice)).embedding
        res = {}
        for i, text in enumerate(sentences):
            s = training_sample(tok, voc.codec, text, voice)
            stoks = torch.as_tensor(np.asarray(s["stoks.npy"], dtype=np.int64))[None]
            codes = torch.as_tensor(np.asarray(s["atoks.npy"], dtype=np.int64))[None]
            with torch.inference_mode():
                mu, h = trunk(stoks, spk.float()[None], _langs(trunk.s2a, s), torch.tensor([stoks.shape[1]]))
                true = trunk.s2a.target(codes)
            n = min(true.shape[1], mu.shape[1])
            ways = {"codec": true, "predicted": mu}
            for scale in scales:
                ways[f"sampled x{scale:g}"] = sample(head, mu, h, scale, args.ode_steps, args.sigma, i)
            for k, lat in ways.items():
                lat = lat[0, :n]
                wav = voc.decode(lat.T.contiguous().float())[0]
                got = res.setdefault(k, dict(sim=[], spread=[]))
                got["sim"].append(_cos(_embed(wav, SAMPLE_RATE), ref))
                got["spread"].append(float(lat.std(0).mean() / true[0, :n].std(0).mean()))
        report[voice] = {
            k: dict(similarity=round(float(np.mean(r["sim"])), 3), spread_ratio=round(float(np.mean(r["spread"])), 3))
            for k, r in res.items()
        }
        print(voice, report[voice], flush=True)
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="datasets/voice-tokens/*/*.tar.gz", help="token shards to train the head on")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--dim", type=int, default=256, help="the head's width")
    ap.add_argument("--layers", type=int, default=4, help="the head's ConvNeXt blocks")
    ap.add_argument("--sigma", type=float, default=0.5, help="the residual is modelled divided by this")
    ap.add_argument(
        "--out", default="runs/s2a-flow-head.pt", help="the head's weights (written, or read by --eval-only)"
    )
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--voices", default="espeak-ng:en+f3,espeak-ng:en-gb-scotland+f4,espeak-ng:en+klatt3,flite:slt")
    ap.add_argument("--sentences", default="datasets/validation_sentences_en.txt")
    ap.add_argument("--per-voice", type=int, default=6)
    ap.add_argument("--ode-steps", type=int, default=16)
    ap.add_argument("--temps", default="0,0.7,1", help="comma-separated scales of the starting noise")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    pipe = Pipeline(model="embedded", quiet=True)
    trunk = Trunk(pipe.s2a)
    c = pipe.s2a.config
    head = FlowHead(c.dim, c.codebook_dim, args.dim, args.layers)
    if not args.eval_only:
        train(trunk, head, args)
    head.load_state_dict(torch.load(args.out, weights_only=True))
    report = evaluate(pipe, trunk, head.eval(), args)
    if args.json:
        out = dict(head=args.out, sentences=args.per_voice, ode_steps=args.ode_steps, voices=report)
        json.dump(out, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
