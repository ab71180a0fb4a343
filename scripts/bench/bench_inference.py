#!/usr/bin/env python
"""Inference speed: our engine vs the reference implementation (PyPI whisperspeech==0.8.9), same weights.

For each size (tiny, base) the reference code builds T2S and S2A with random weights (end token
disabled so both engines decode the same number of tokens) and saves them in its `.model` format;
both engines then load those files and generate, greedily, 250 semantic tokens and 746 acoustic
frames (about 10 s of speech), then decode them with a Vocos of the published architecture (random
weights: nothing can be downloaded here). float32, 2 threads, median of --runs rounds, each of which times every
engine once in turn (the host's speed drifts, 2x within an hour here: interleaving shares the drift out).
The reference runs in its own virtualenv (see scripts/make_parity_fixtures.py) as a subprocess.

    .venv/bin/python scripts/bench/bench_inference.py                 # tiny and base, 3 rounds
    .venv/bin/python scripts/bench/bench_inference.py --sizes tiny --runs 5 --profile
    .venv/bin/python scripts/bench/bench_inference.py --sizes tiny --skip-reference --variants compile-masked-int8 --runs 1 --profile
    .venv/bin/python scripts/bench/bench_inference.py --sizes tiny --variants float32 compile   # fewer of our variants
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"tiny": dict(depth=4, n_head=6), "base": dict(depth=6, n_head=8)}
TEXT = (
    "The quick brown fox jumps over the lazy dog, while the five boxing wizards jump quickly "
    "and a wizard's job is to vex chumps quickly in fog."
)
SENTENCES = [
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
]
T2S_TOKENS, SECONDS_PER_FRAME = 250, 1 / 75
VARIANTS = {
    "float32": ("ours", {}),
    "bf16kv": ("ours, bf16 KV", dict(kv_dtype="bfloat16")),  # name: (label, `engine` options)
    "masked": ("ours, masked pad", dict(pad_to_context=False)),
    "int8": ("ours, int8", dict(int8=True)),
    "compile": ("ours, compiled", dict(compile=True)),
    "compile-bf16kv": ("compiled, bf16 KV", dict(compile=True, kv_dtype="bfloat16")),
    "compile-masked-bf16kv": (
        "compiled, masked, bf16 KV",
        dict(compile=True, pad_to_context=False, kv_dtype="bfloat16"),
    ),
    "compile-masked": ("compiled, masked", dict(compile=True, pad_to_context=False)),
    "compile-int8": ("compiled, int8", dict(compile=True, int8=True)),
    "compile-masked-int8": ("compiled, masked, int8", dict(compile=True, pad_to_context=False, int8=True)),
}


def bench_speaker():
    "The random speaker embedding (192 wide) that both engines, in either venv, decode with."
    import torch

    return torch.randn(192, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- reference side (its own venv)
def reference(args):
    import importlib.util

    spec = importlib.util.spec_from_file_location("ws_compat", ROOT / "whisperspeech" / "compat.py")
    compat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compat)
    compat.import_torchaudio()
    import dataclasses
    import torch
    from encodec import EncodecModel
    from vocos import Vocos
    from vocos.feature_extractors import EncodecFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone
    from whisperspeech import s2a_delar_mup_wds_mlang as s2a_mod, t2s_up_wds_mlang_enclm as t2s_mod
    from whisperspeech.a2wav import Vocoder

    torch.set_num_threads(2)
    torch.set_float32_matmul_precision("highest")
    out = Path(args.out)
    size = SIZES[args.size]
    g = torch.Generator().manual_seed(0)

    def randomize(model):
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, torch.nn.Linear):
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * m.weight.shape[1] ** -0.5)
                    if m.bias is not None:
                        m.bias.zero_()
                elif isinstance(m, torch.nn.Embedding):
                    m.weight.copy_(0.2 * torch.randn(m.weight.shape, generator=g))

    t2s_cfg = dict(
        size,
        head_width=64,
        ffn_mult=4,
        stoks_width=64,
        ttoks_width=None,
        ttoks_len=550,
        stoks_len=750,
        ttoks_codes=256,
        stoks_codes=513,
    )
    t2s = t2s_mod.TSARTransformer(**t2s_cfg, tunables=t2s_mod.Tunables())
    randomize(t2s)
    with torch.no_grad():
        t2s.embeddings.embedding.special.weight.zero_()  # end token logit 0: never the argmax
    torch.save(
        dict(config=t2s_cfg, tunables=dataclasses.asdict(t2s.tunables), state_dict=t2s.state_dict()), out / "t2s.model"
    )
    s2a_cfg = dict(
        size,
        ctx_n=2250,
        stoks_len=750,
        stoks_codes=513,
        stoks_width=64,
        spk_width=192,
        atoks_width=None,
        head_width=64,
        ffn_mult=4,
        quantizers=4,
        speaker_map={"1": 0},
    )
    s2a = s2a_mod.SADelARTransformer(**s2a_cfg, tunables=s2a_mod.Tunables())
    randomize(s2a)
    torch.save(
        dict(config=s2a_cfg, tunables=dataclasses.asdict(s2a.tunables), state_dict=s2a.state_dict()), out / "s2a.model"
    )
    if args.only_save:
        return

    t2s = t2s_mod.TSARTransformer.load_model(local_filename=str(out / "t2s.model"), device="cpu")
    s2a = s2a_mod.SADelARTransformer.load_model(local_filename=str(out / "s2a.model"), device="cpu")
    t2s.optimize(max_batch_size=1, dtype=torch.float32, torch_compile=False)
    s2a.optimize(max_batch_size=1, dtype=torch.float32, torch_compile=False)
    original = EncodecModel.encodec_model_24khz
    EncodecModel.encodec_model_24khz = staticmethod(lambda *a, **kw: original(*a, **{**kw, "pretrained": False}))
    vocoder = Vocoder.__new__(Vocoder)  # its constructor downloads; same architecture, random weights
    vocoder.device = "cpu"
    vocoder.vocos = Vocos(
        EncodecFeatures("encodec_24khz", [1.5, 3.0, 6.0, 12.0]),
        VocosBackbone(input_channels=128, dim=384, intermediate_dim=1152, num_layers=8, adanorm_num_embeddings=4),
        ISTFTHead(dim=384, n_fft=1280, hop_length=320, padding="same"),
    ).eval()
    speaker = bench_speaker()

    def run():
        t0 = time.perf_counter()
        stoks = t2s.generate(TEXT, cps=15, lang="en", N=T2S_TOKENS + 1, T=0.0, show_progress_bar=False)[0]
        t1 = time.perf_counter()
        atoks = s2a.generate(stoks, speaker[None], T=0.0, show_progress_bar=False)
        t2 = time.perf_counter()
        wav = vocoder.decode(atoks)
        t3 = time.perf_counter()
        return (
            dict(
                t2s=t1 - t0,
                s2a=t2 - t1,
                vocoder=t3 - t2,
                total=t3 - t0,
                stoks=len(stoks),
                frames=atoks.shape[-1],
                samples=wav.shape[-1],
            ),
            stoks.tolist(),
            atoks[0].tolist(),
        )

    run()  # warm-up
    print("ready", flush=True)
    for line in sys.stdin:  # one timed run per request, so the parent can interleave them with its own
        if line.strip() != "run":
            break
        timing, stoks, atoks = run()
        print(json.dumps(dict(run=timing, stoks=stoks, atoks=atoks)), flush=True)


# ---------------------------------------------------------------- our side
def engine(
    files: Path,
    kv_dtype: str = "float32",
    pad_to_context: bool = True,
    int8: bool = False,
    compile: bool = False,
    batch_check: bool = False,
):
    """Our engine on the reference-format files, warmed up: `speak(texts) -> (timings, stoks, atoks)`.
    `pad_to_context=False` runs the same weights the way our own models work (padding masked, encoder
    sequences as long as the batch needs); `int8` decodes with int8 weights (`quantize_int8`); `compile`
    with `torch.compile`d steps (compiled here for every shape the timed runs use: not timed)."""
    import torch
    from whisperspeech.decoding import DecodingOptions
    from whisperspeech.languages import lang_id, text_tokens
    from whisperspeech.s2a import s2a_generate
    from whisperspeech.t2s import t2s_generate
    from whisperspeech.vocoder import Vocoder, build_vocos

    torch.set_num_threads(2)
    t2s, s2a = load_pair(files, int8)
    t2s.config.pad_to_context = s2a.config.pad_to_context = pad_to_context
    vocoder = Vocoder.__new__(Vocoder)
    vocoder.device, vocoder.random, vocoder.vocos = "cpu", True, build_vocos().eval()
    speaker = bench_speaker()
    decoding = DecodingOptions(compile=compile, kv_dtype=getattr(torch, kv_dtype))

    def speak(texts):
        t0 = time.perf_counter()
        stoks = t2s_generate(
            t2s,
            [text_tokens(t) for t in texts],
            lang_id("en"),
            15.0,
            temperature=0,
            max_tokens=T2S_TOKENS,
            decoding=decoding,
        )
        t1 = time.perf_counter()
        atoks = s2a_generate(s2a, stoks, speaker[None], temperature=0, decoding=decoding)
        t2 = time.perf_counter()
        wavs = [vocoder.decode(a) for a in atoks]
        t3 = time.perf_counter()
        return (
            dict(
                t2s=t1 - t0,
                s2a=t2 - t1,
                vocoder=t3 - t2,
                total=t3 - t0,
                stoks=len(stoks[0]),
                frames=atoks[0].shape[-1],
                samples=sum(w.shape[-1] for w in wavs),
            ),
            stoks,
            atoks,
        )

    speak([TEXT])  # warm-up
    if compile and batch_check:
        speak(SENTENCES), [speak([x]) for x in SENTENCES]
    speak.models = (t2s, s2a, speaker)
    return speak


def time_interleaved(engines: dict, ref, runs: int, batch_check: bool) -> dict:
    """Each round times the reference once, then each of our engines once, so a drift in the host's speed
    (common here: 2x within an hour) reaches every engine alike. Returns per engine its runs, its tokens and,
    with `batch_check`, 8 sentences one at a time vs as one batch, `runs` rounds of both."""
    out = {v: dict(runs=[]) for v in engines}
    if ref:
        out["reference"] = dict(runs=[])
    for _ in range(runs):
        if ref:
            r = ref.run()
            out["reference"]["runs"].append(r["run"])
            out["reference"].update(stoks=r["stoks"], atoks=r["atoks"])
        for v, speak in engines.items():
            timing, stoks, atoks = speak([TEXT])
            out[v]["runs"].append(timing)
            out[v].update(stoks=stoks[0].tolist(), atoks=atoks[0].tolist())
    if batch_check:
        parts = ("t2s", "s2a", "vocoder", "total")
        one, together = {v: [] for v in engines}, {v: [] for v in engines}
        for i in range(runs):  # each round pairs the two ways, in alternating order: the ratio is taken within a round
            for v, speak in engines.items():
                for way in ("one", "together")[:: 1 if i % 2 == 0 else -1]:
                    if way == "together":
                        together[v].append(speak(SENTENCES)[0])
                    else:
                        rs = [speak([x])[0] for x in SENTENCES]
                        one[v].append({k: sum(r[k] for r in rs) for k in parts})
        for v in engines:
            out[v]["batch8"] = dict(
                one_at_a_time={k: median(one[v], k) for k in parts},
                batched={k: median(together[v], k) for k in parts},
                ratios=sorted(o["total"] / t["total"] for o, t in zip(one[v], together[v])),
            )
    return out


def load_pair(files: Path, int8: bool = False):
    "T2S and S2A from the reference-format files, optionally with int8 weights."
    from whisperspeech.checkpoints import load_model
    from whisperspeech.layers import quantize_int8

    t2s, s2a = load_model(files / "t2s.model", kind="t2s").eval(), load_model(files / "s2a.model", kind="s2a").eval()
    return (quantize_int8(t2s), quantize_int8(s2a)) if int8 else (t2s, s2a)


def int8_agreement(files: Path, run: dict) -> dict:
    """How often the int8 models pick the float32 greedy token given the float32 prefix (teacher-forced
    on the float32 run's tokens), and their largest logit change relative to the logits' spread."""
    import torch
    from whisperspeech.languages import lang_id, text_tokens

    out = {}
    pairs = [load_pair(files, False), load_pair(files, True)]
    stoks, atoks = torch.tensor(run["stoks"]), torch.tensor(run["atoks"])
    speaker = bench_speaker()[None]
    with torch.inference_mode():
        logits = []
        for t2s, s2a in pairs:
            toks = text_tokens(TEXT)
            ttoks = t2s.text_batch([toks])
            inp = torch.cat([torch.tensor([t2s.config.eot]), stoks[:-1]])[None]
            t = t2s(ttoks, torch.tensor([lang_id("en")]), torch.tensor([15.0]), inp, lengths=[len(toks) + 1])[0]
            grid = s2a.pattern.build(atoks[None], s2a.config.start_code)
            a = s2a(s2a.stoks_batch([stoks]), speaker, grid[:, :, :-1])[0]
            logits.append((t, a, grid[0, :, 1:]))
    (t32, a32, target), (t8, a8, _) = logits
    valid = target != pairs[0][1].config.start_code
    out["t2s"] = dict(
        agree=float((t8.argmax(-1) == stoks).float().mean()), rel_change=float((t8 - t32).abs().max() / t32.std())
    )
    out["s2a"] = dict(
        agree=float((a8.argmax(-1) == target)[valid].float().mean()),
        rel_change=float((a8 - a32).abs().max() / a32.std()),
    )
    return out


def profile_steps(files: Path, options: dict, batches=(1, 8)) -> dict:
    """Where a decoding step spends its time, for one of our variants (`options` as `engine` takes them), one
    sequence and a batch: torch profiler over a whole T2S and S2A run, top operators by self CPU time in ms per
    step. Compiled steps are compiled here through inductor's Python wrapper (the engine uses its C++ wrapper, whose
    kernels the profiler cannot see): about as fast, and each kernel and library call shows."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from whisperspeech.decoding import DecodingOptions
    from whisperspeech.languages import lang_id, text_tokens
    from whisperspeech.s2a import s2a_generate
    from whisperspeech.t2s import t2s_generate

    torch.set_num_threads(2)
    compile = options.get("compile", False)
    decoding = DecodingOptions(compile=compile, kv_dtype=getattr(torch, options.get("kv_dtype", "float32")))
    speaker = bench_speaker()[None]
    report = {}
    for b in batches:
        t2s, s2a = load_pair(files, options.get("int8", False))
        t2s.config.pad_to_context = s2a.config.pad_to_context = options.get("pad_to_context", True)
        if compile:  # what `compiled_step` would build, less the C++ wrapper
            for m, fn in ((t2s, "decode"), (s2a, "_decode")):
                m.__dict__.setdefault("_compiled", {})[fn] = torch.compile(getattr(m, fn), fullgraph=True)
        stoks = [torch.randint(0, 512, (T2S_TOKENS,), generator=torch.Generator().manual_seed(i)) for i in range(b)]
        runs = [
            (
                "t2s",
                T2S_TOKENS,
                lambda: t2s_generate(
                    t2s,
                    [text_tokens(TEXT)] * b,
                    lang_id("en"),
                    15.0,
                    temperature=0,
                    max_tokens=T2S_TOKENS,
                    decoding=decoding,
                ),
            ),
            (
                "s2a",
                3 * T2S_TOKENS,
                lambda: s2a_generate(s2a, stoks, speaker, temperature=0, decoding=decoding),
            ),
        ]
        for name, steps, fn in runs:
            fn()  # warm-up (and compilation)
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                t0 = time.perf_counter()
                fn()
                total = time.perf_counter() - t0
            ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:8]
            lines = [f"{1000 * total / steps:6.2f} ms a step in all (under the profiler)"]
            lines += [
                f"{e.self_cpu_time_total / 1000 / steps:6.2f} ms  {e.count / steps:5.1f} calls  {e.key[:70]}"
                for e in ops
            ]
            report[f"{name}, batch of {b}"] = "\n".join(lines)
    return report


class Reference:
    """The reference package in its own virtualenv, a subprocess: it writes the random weights to `out`, then
    (unless `only_save`) loads them, warms up and times one run per `run()`."""

    def __init__(self, size, out, only_save=False):
        python = ROOT / ".venv-reference" / "bin" / "python"
        if not python.exists():
            sys.exit("the reference virtualenv is missing: run scripts/make_parity_fixtures.py once to create it")
        cmd = [str(python), __file__, "--inside-reference", "--size", size, "--out", str(out)]
        if only_save:
            r = subprocess.run(cmd + ["--only-save"], capture_output=True, text=True, cwd="/tmp")
            if r.returncode != 0:
                sys.exit(r.stderr[-3000:])
            self.proc = None
            return
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/tmp")
        self._read("ready")

    def _read(self, prefix):
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return line
        sys.exit(f"the reference stopped (exit status {self.proc.wait()})")

    def run(self) -> dict:
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return json.loads(self._read("{"))

    def close(self):
        if self.proc:
            self.proc.stdin.close(), self.proc.wait()


def median(runs, key):
    return statistics.median(r[key] for r in runs)


def memory_bandwidth() -> float:
    """GB/s of a 200 MB tensor copy (bytes read + written), 2 threads: one-token decoding streams the
    weights and cached keys/values from memory, so this host figure sets every ratio below."""
    import torch

    torch.set_num_threads(2)
    x = torch.ones(50_000_000)
    y = torch.empty_like(x)
    y.copy_(x)
    t0 = time.perf_counter()
    for _ in range(5):
        y.copy_(x)
    return 5 * 2 * x.numel() * x.element_size() / (time.perf_counter() - t0) / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", default=["tiny", "base"], choices=list(SIZES))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument(
        "--profile",
        action="store_true",
        help="print a per-operator profile of decoding steps, one sequence and a batch of 8, for the first variant",
    )
    p.add_argument(
        "--skip-reference", action="store_true", help="time only our engine (the reference still writes the weights)"
    )
    p.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="which of our variants to time"
    )
    p.add_argument("--inside-reference", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--only-save", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--size", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inside_reference:
        return reference(args)
    sys.path.insert(0, str(ROOT))
    print(f"memory bandwidth (tensor copy, 2 threads): {memory_bandwidth():.1f} GB/s")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as d:
            ref_proc = Reference(size, d, only_save=args.skip_reference)
            batch_check = size == "tiny"
            engines = {v: engine(Path(d), **VARIANTS[v][1], batch_check=batch_check) for v in args.variants}
            timed = time_interleaved(engines, ref_proc if ref_proc.proc else None, args.runs, batch_check)
            ref_proc.close()
            ref = timed.pop("reference", None)
            mine = timed
            agreement = (
                int8_agreement(
                    Path(d),
                    mine.get("float32") or time_interleaved({"float32": engine(Path(d))}, None, 1, False)["float32"],
                )
                if "int8" in mine
                else None
            )
            profiles = profile_steps(Path(d), VARIANTS[args.variants[0]][1]) if args.profile else {}
        first = next(iter(mine.values()))
        audio = first["runs"][0]["samples"] / 24000
        print(
            f"\n== {size}/{size}: {first['runs'][0]['stoks']} semantic tokens, {first['runs'][0]['frames']} frames, {audio:.2f} s of audio"
        )
        rows = [(VARIANTS[v][0], r) for v, r in mine.items()] + ([("reference 0.8.9", ref)] if ref else [])
        print(f"medians of {args.runs} rounds; each round times every engine once, in turn")
        print(
            f"{'engine':25} {'T2S s':>7} {'S2A s':>7} {'vocoder s':>9} {'total s':>8} {'RTF':>6}  ms/T2S token  ms/S2A frame"
        )
        for name, r in rows:
            tot = median(r["runs"], "total")
            print(
                f"{name:25} {median(r['runs'], 't2s'):7.2f} {median(r['runs'], 's2a'):7.2f} {median(r['runs'], 'vocoder'):9.2f} "
                f"{tot:8.2f} {tot / audio:6.3f}  {1000 * median(r['runs'], 't2s') / r['runs'][0]['stoks']:12.1f}"
                f"  {1000 * median(r['runs'], 's2a') / r['runs'][0]['frames']:12.1f}"
            )
        for (name, r), v in zip(rows, mine):
            if ref:  # masking the padding is a different model (the same number of tokens): no token comparison
                same = (
                    f"identical tokens: {ref['stoks'] == r['stoks'] and ref['atoks'] == r['atoks']}"
                    if VARIANTS[v][1].get("pad_to_context", True)
                    else "padding masked, tokens not compared"
                )
                print(
                    f"{name}: {median(ref['runs'], 'total') / median(r['runs'], 'total'):.1f}x faster than the reference ({same})"
                )
            if "batch8" in r:
                one, together = r["batch8"]["one_at_a_time"], r["batch8"]["batched"]
                split = ", ".join(f"{k} {one[k]:.2f}/{together[k]:.2f}" for k in ("t2s", "s2a", "vocoder"))
                ratios = r["batch8"]["ratios"]
                print(
                    f"{name}: 8 sentences one at a time {one['total']:.2f} s, as one batch {together['total']:.2f} s (medians): "
                    f"{statistics.median(ratios):.2f}x the throughput, median of {len(ratios)} rounds' ratios "
                    f"[{ratios[0]:.2f}-{ratios[-1]:.2f}] ({split} s)"
                )
        if agreement:
            print(
                "int8 weights, teacher-forced on the float32 tokens: "
                + ", ".join(
                    f"{k} picks the same token {v['agree']:.1%} of the time (largest logit change {v['rel_change']:.2f} std)"
                    for k, v in agreement.items()
                )
            )
        for name, table in profiles.items():
            print(f"\n-- profile of {name} decoding ({VARIANTS[args.variants[0]][0]}; self CPU time per step)\n{table}")


if __name__ == "__main__":
    main()
