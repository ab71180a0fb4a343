#!/usr/bin/env python
"""Record reference outputs of the published WhisperSpeech code (PyPI `whisperspeech==0.8.9`).

Builds T2S, S2A (plain and conditioned) and the VQ semantic tokenizer with random weights in small
configurations the reference accepts, saves them in the reference `.model` format, and records
inputs and outputs: teacher-forced logits and greedily decoded tokens. Our tests load the same
files into our modules and must reproduce them (tests/test_parity.py).

The reference shares our package name, so it lives in its own virtualenv (.venv-reference/) and
runs in a subprocess; the product and the default tests never import it.

    .venv/bin/python scripts/make_parity_fixtures.py            # writes tests/fixtures/parity/
"""

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REF_VENV = ROOT / ".venv-reference"
OUT = ROOT / "tests" / "fixtures" / "parity"
REF_PACKAGES = [
    "torch==2.13.0",
    "torchaudio==2.11.0",
    "whisperspeech==0.8.9",
    "vector-quantize-pytorch==1.6.22",
    "openai-whisper==20250625",
    "webdataset",
    "matplotlib",
    "pandas",
    "ipython",
    "setuptools<81",
]


def ensure_reference_venv() -> Path:
    python = REF_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(REF_VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('whisperspeech'))"],
        capture_output=True,
        text=True,
    )
    if probe.stdout.strip() != "0.8.9":
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REF_PACKAGES], check=True)
    return python


def outer():
    from whisperspeech.whisper_models import offline_checkpoint

    whisper_ckpt = offline_checkpoint("tiny.en")
    python = ensure_reference_venv()
    OUT.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [str(python), __file__, "--inside", "--whisper", str(whisper_ckpt), "--out", str(OUT)], check=True, cwd="/tmp"
    )  # not the repo root: our own `whisperspeech/` folder must not shadow the reference
    hashes = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(OUT.iterdir()) if p.name != "SHA256SUMS.json"
    }
    (OUT / "SHA256SUMS.json").write_text(json.dumps(hashes, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(hashes)} files, {total / 1e6:.1f} MB, to {OUT}")


# ---------------------------------------------------------------- inside the reference venv
def randomize(model, torch, seed):
    "Lively random weights (the reference's muP init zeroes query heads, which makes every logit tie)."
    g = torch.Generator().manual_seed(seed)
    rnd = lambda p, std, mean=0.0: p.copy_(mean + std * torch.randn(p.shape, generator=g))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                rnd(m.weight, m.weight.shape[1] ** -0.5)
                if m.bias is not None:
                    rnd(m.bias, 0.02)
            elif isinstance(m, torch.nn.Embedding):
                rnd(m.weight, 0.2)
            elif isinstance(m, torch.nn.LayerNorm):
                rnd(m.weight, 0.1, 1.0)
                rnd(m.bias, 0.02)
        for p in model.parameters():  # what an fp16 checkpoint holds: both sides read identical values
            p.copy_(p.half().float())


def build_and_save(cls, config, tunables, path, torch, seed):
    """The reference `.model` layout: dict(config, tunables, state_dict), fp16 weights.

    (The reference's own save_model needs fastcore's removed `__stored_args__`; the layout is the same.)"""
    import dataclasses

    torch.manual_seed(0)
    model = cls(**config, tunables=tunables)
    randomize(model, torch, seed)
    state = {
        k: (v.half() if torch.is_tensor(v) and v.is_floating_point() else v) for k, v in model.state_dict().items()
    }
    torch.save(dict(config=config, tunables=dataclasses.asdict(tunables), state_dict=state), str(path))


def inside(args):
    import importlib.util  # our compat.py (stdlib only), under another name: lets torchaudio import

    spec = importlib.util.spec_from_file_location("ws_compat", ROOT / "whisperspeech" / "compat.py")
    compat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compat)
    compat.import_torchaudio()
    # The reference's utils.py patches torio (removed from torchaudio 2.9) at import time, for
    # streaming decoding we never use: give it an empty module to patch.
    import types

    for name in ("torio", "torio.io", "torio.io._streaming_media_decoder"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["torio"].io = sys.modules["torio.io"]
    sys.modules["torio.io"]._streaming_media_decoder = sys.modules["torio.io._streaming_media_decoder"]
    import torch
    import torch.nn.functional as F
    import whisper
    from whisperspeech import languages, s2a_delar_mup_wds_mlang as s2a_plain, s2a_delar_mup_wds_mlang_cond as s2a_cond
    from whisperspeech import t2s_up_wds_mlang_enclm as t2s_ref, vq_stoks

    torch.set_num_threads(2)
    # the reference's train.py (imported by vq_stoks) sets 'medium', which lets CPU matmuls run in
    # bf16; parity is defined in true float32
    torch.set_float32_matmul_precision("highest")
    out = Path(args.out)
    rec = {}

    # T2S: width 128, 1 encoder + 3 decoder blocks; the published lengths and vocabularies
    config = dict(
        depth=2,
        n_head=2,
        head_width=64,
        ffn_mult=4,
        stoks_width=64,
        ttoks_width=None,
        ttoks_len=550,
        stoks_len=750,
        ttoks_codes=256,
        stoks_codes=513,
    )
    build_and_save(t2s_ref.TSARTransformer, config, t2s_ref.Tunables(), out / "t2s-ref.model", torch, 1)
    t2s = t2s_ref.TSARTransformer.load_model(local_filename=str(out / "t2s-ref.model"), device="cpu")
    cases = [("Hello world, this is a test.", "en", 15.0), ("Zażółć gęślą jaźń.", "pl", 9.0)]
    g = torch.Generator().manual_seed(2)
    t2s_cases = []
    for text, lang, cps in cases:
        toks = list(bytes(text, "utf-8"))
        ttoks = F.pad(torch.tensor(toks), (1, 550 - len(toks) - 1), value=0)[None]
        in_stoks = torch.cat([torch.tensor([513]), torch.randint(0, 512, (24,), generator=g)])[None]
        with torch.no_grad():
            logits, _ = t2s(
                ttoks,
                None,
                torch.tensor([languages.to_id(lang)]),
                torch.tensor([cps]),
                in_stoks,
                in_stoks_positions=torch.arange(in_stoks.shape[1]),
                loss=None,
            )
        t2s_cases.append(dict(text=text, lang=lang, cps=cps, in_stoks=in_stoks, logits=logits))
    t2s.optimize(max_batch_size=1, dtype=torch.float32, torch_compile=False)
    for case in t2s_cases:
        torch.manual_seed(0)
        case["greedy"] = t2s.generate(
            case["text"], cps=case["cps"], lang=case["lang"], N=40, T=0.0, show_progress_bar=False
        )[0]
    rec["t2s"] = t2s_cases

    # S2A, plain and conditioned: width 128, 1 encoder + 3 decoder blocks, 4 quantizers, RoPE
    for name, mod in [("s2a", s2a_plain), ("s2a-cond", s2a_cond)]:
        config = dict(
            depth=2,
            ctx_n=2250,
            stoks_len=750,
            stoks_codes=513,
            stoks_width=64,
            spk_width=192,
            atoks_width=None,
            n_head=2,
            head_width=64,
            ffn_mult=4,
            quantizers=4,
            speaker_map={"1": 0},
        )
        build_and_save(mod.SADelARTransformer, config, mod.Tunables(), out / f"{name}-ref.model", torch, 3)
        s2a = (
            mod.SADelARTransformer.load_model(ref=str(out / f"{name}-ref.model"), device="cpu")
            if name == "s2a-cond"
            else mod.SADelARTransformer.load_model(local_filename=str(out / f"{name}-ref.model"), device="cpu")
        )
        g = torch.Generator().manual_seed(4)
        stoks = torch.randint(0, 512, (20,), generator=g)
        speaker = torch.randn(192, generator=g)
        atoks = torch.randint(0, 1024, (1, 4, 30), generator=g)
        atoks[:, :, 0] = 1025
        padded = F.pad(stoks, (1, 750 - len(stoks) - 1), value=512)[None]
        with torch.no_grad():
            if name == "s2a":
                logits = s2a(padded, atoks, speaker[None], noloss=True)
            else:
                logits = s2a(
                    padded, atoks, [dict(speaker=speaker, snr=60.0, c50=60.0, lang=languages.to_id("pl"))], noloss=True
                )
        s2a.optimize(max_batch_size=1, dtype=torch.float32, torch_compile=False)
        torch.manual_seed(0)
        greedy = s2a.generate(stoks, speaker[None], T=0.0, show_progress_bar=False)
        rec[name] = dict(stoks=stoks, speaker=speaker, atoks=atoks, logits=logits, greedy=greedy)

    # VQ semantic tokenizer over the real Whisper tiny.en encoder (the offline conversion)
    config = dict(
        codebook_dim=64,
        vq_codes=512,
        q_depth=1,
        n_head=6,
        head_width=64,
        ffn_mult=1,
        depth=1,
        use_cosine_sim=True,
        downsample=2,
        whisper_model_name="tiny.en",
    )
    build_and_save(vq_stoks.RQBottleneckTransformer, config, vq_stoks.Tunables(), out / "vq-ref.model", torch, 5)
    vq = vq_stoks.RQBottleneckTransformer.load_model(local_filename=str(out / "vq-ref.model"))
    vq.whmodel = [whisper.load_model(args.whisper, device="cpu")]
    g = torch.Generator().manual_seed(6)
    t = torch.arange(16000 * 3) / 16000
    audio = (
        0.3 * torch.sin(2 * torch.pi * (150 + 80 * torch.sin(2 * torch.pi * 0.7 * t)) * t)
        + 0.05 * torch.randn(t.shape, generator=g)
    ) * (0.6 + 0.4 * torch.sin(2 * torch.pi * 3 * t)).abs()
    with torch.no_grad():
        mel = whisper.log_mel_spectrogram(audio)[None]
        stoks = vq.encode_mel(mel)
    rec["vq"] = dict(audio=audio, stoks=stoks)
    torch.save(rec, out / "reference-outputs.pt")
    print(
        {
            k: {
                kk: (tuple(vv.shape) if torch.is_tensor(vv) else vv)
                for kk, vv in (v[0] if isinstance(v, list) else v).items()
            }
            for k, v in rec.items()
        }
    )


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--whisper", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    inside(args) if args.inside else outer()
