"""Training recipes on the prepared 20-utterance corpus: falling losses, resume, DDP, two nodes, Pipeline."""

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from whisperspeech.checkpoints import load_model, trained_steps
from whisperspeech.training import train

WS = str(Path(sys.executable).parent / "whisperspeech")


def losses(run: Path) -> list[float]:
    rows = [r for f in sorted(run.glob("logs/*/metrics.csv")) for r in csv.DictReader(open(f))]
    return [float(r["loss"]) for r in rows if r.get("loss")]


def fixed_batch(shards, kind, config, n):
    import webdataset as wds
    from whisperspeech.stages import expand_shards
    from whisperspeech.training import batch_maker

    samples = []
    for s in wds.WebDataset([str(p) for p in expand_shards(shards)], shardshuffle=False).decode():
        samples.append(s)
        if len(samples) == n:
            break
    return batch_maker(kind, config)(samples)


@pytest.mark.parametrize(
    "kind,steps,batch,lr", [("t2s", 30, 8, 3e-3), ("s2a", 30, 8, 3e-3), ("vq", 48, 2, 3e-3), ("codec", 30, 4, 3e-3)]
)
def test_each_model_learns(prepared, tmp_path, kind, steps, batch, lr):
    "Loss on a fixed batch of the corpus: the model as training starts (same seed) vs as it ends."
    import lightning as L
    from whisperspeech.training import _loss, build_model, preset

    config = preset(kind, "tiny.en" if kind == "vq" else "micro")
    L.seed_everything(0, verbose=False)
    fresh = build_model(kind, config).eval()
    data = fixed_batch(prepared["spk"], kind, config, 4 if kind != "vq" else 2)
    path = train(
        kind,
        prepared["spk"],
        tmp_path,
        "tiny.en" if kind == "vq" else "micro",
        steps=steps,
        batch_size=batch,
        lr=lr,
        warmup=3,
        log_every=2,
        progress=False,
    )
    trained = load_model(path, kind=kind)
    with torch.no_grad():
        before, after = float(_loss(kind, fresh, data)), float(_loss(kind, trained, data))
    print(
        kind,
        f"loss on a fixed batch: fresh {before:.2f}, trained {after:.2f}; logged",
        [round(x, 2) for x in losses(tmp_path)],
    )
    # the tokenizer learns slowest: its signal comes through a frozen Whisper decoder (CE + KL to the teacher)
    assert after < (0.97 if kind == "vq" else 0.8) * before


def test_resume_continues_from_the_last_checkpoint(prepared, tmp_path):
    train("t2s", prepared["spk"], tmp_path, steps=6, batch_size=4, save_every=3, log_every=1, progress=False)
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(ckpt, weights_only=False)["global_step"] == 6
    train("t2s", prepared["spk"], tmp_path, steps=10, batch_size=4, save_every=3, log_every=1, progress=False)
    assert torch.load(ckpt, weights_only=False)["global_step"] == 10  # the last step too, though not a multiple of 3
    # a run's last checkpoint exports on its own (the checkpoint records the model's kind and config)
    full, size = load_model(tmp_path / "t2s.model", kind="t2s"), (tmp_path / "t2s.model").stat().st_size
    r = subprocess.run(
        [WS, "train", "t2s", "-o", str(tmp_path), "--export-only", "--half"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    half = load_model(tmp_path / "t2s.model", kind="t2s")
    assert trained_steps(tmp_path / "t2s.model") == 10
    assert half.config == full.config and (tmp_path / "t2s.model").stat().st_size < 0.6 * size
    for (k, a), b in zip(full.state_dict().items(), half.state_dict().values()):
        assert b.dtype == a.dtype and torch.allclose(a, b, rtol=1e-3, atol=1e-4), k
    # a new run can start from the exported weights (how training continues on another machine)
    again = train(
        "t2s",
        prepared["spk"],
        tmp_path / "again",
        steps=1,
        batch_size=2,
        lr=1e-12,
        warmup=1,
        progress=False,
        init=str(tmp_path / "t2s.model"),
    )
    for (k, a), b in zip(half.state_dict().items(), load_model(again, kind="t2s").state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k
    steps = [int(r["step"]) for f in sorted(tmp_path.glob("logs/*/metrics.csv")) for r in csv.DictReader(open(f))]
    assert max(steps) == 9 and min(s for s in steps if s >= 6) == 6  # the second run started at step 6, not 0
    # resuming with other checkpoint settings still writes (and next time resumes from) last.ckpt
    train("t2s", prepared["spk"], tmp_path, steps=12, batch_size=4, save_every=2, log_every=1, progress=False)
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["last.ckpt"]
    assert torch.load(ckpt, weights_only=False)["global_step"] == 12


def test_a_continued_run_picks_up_the_schedule(prepared, tmp_path):
    "--init with --continue-schedule: the exported step is where the LR schedule and the step count go on."
    from whisperspeech.checkpoints import trained_steps
    from whisperspeech.core import WhisperSpeechError
    from whisperspeech.training import OptimConfig

    o = OptimConfig(lr=1.0, warmup=3, steps=10)
    assert [OptimConfig(lr=1.0, warmup=1, steps=10, start=4).lr_factor(s) for s in range(3)] == [
        o.lr_factor(s) for s in (4, 5, 6)
    ]
    assert OptimConfig(lr=1.0, warmup=3, steps=10, start=4).lr_factor(0) == pytest.approx(o.lr_factor(4) / 3)
    first = train("t2s", prepared["spk"], tmp_path / "a", steps=4, batch_size=2, log_every=1, progress=False)
    assert trained_steps(first) == 4
    more = train(
        "t2s",
        prepared["spk"],
        tmp_path / "b",
        steps=7,
        batch_size=2,
        save_every=1,
        log_every=1,
        progress=False,
        init=str(first),
        continue_schedule=True,
        keep_every=2,
    )
    kept = sorted((tmp_path / "b" / "kept").iterdir())  # exports at multiples of 2 of the whole schedule's steps
    assert [p.name for p in kept] == ["t2s-step6.model"] and trained_steps(kept[0]) == 6
    assert (
        trained_steps(more) == 7
        and max(int(r["step"]) for f in (tmp_path / "b").glob("logs/*/metrics.csv") for r in csv.DictReader(open(f)))
        == 2
    )  # 3 steps left of 7
    # resumed from its last checkpoint, the continued run still counts from step 4
    assert trained_steps(train("t2s", prepared["spk"], tmp_path / "b", steps=9, batch_size=2, progress=False)) == 9
    with pytest.raises(WhisperSpeechError, match="positive"):
        train("t2s", prepared["spk"], tmp_path / "d", steps=4, keep_every=0, progress=False)
    with pytest.raises(WhisperSpeechError, match="raise --steps"):
        train("t2s", prepared["spk"], tmp_path / "c", steps=4, init=str(first), continue_schedule=True, progress=False)


def test_a_t2s_grows_a_speaker_input(prepared, tmp_path):
    "--init from a T2S without speaker input (as the published ones): the new projection starts at zero."
    from whisperspeech.core import WhisperSpeechError
    from whisperspeech.training import _loss, preset

    plain = train(
        "t2s", prepared["spk"], tmp_path / "plain", steps=3, batch_size=2, progress=False, overrides=dict(spk_width=0)
    )
    start = load_model(plain, kind="t2s")
    assert start.spk_to_hidden is None
    grown = load_model(
        train(
            "t2s",
            prepared["spk"],
            tmp_path / "grown",
            steps=1,
            batch_size=2,
            lr=1e-12,
            warmup=1,
            progress=False,
            init=str(plain),
        ),
        kind="t2s",
    )
    assert grown.config == preset("t2s", "micro") and grown.config.spk_width == 256
    batch = fixed_batch(prepared["spk"], "t2s", grown.config, 4)
    assert batch["speakers"].shape == (4, 256)
    with torch.no_grad():  # computes what it started from...
        assert float(_loss("t2s", grown, batch)) == pytest.approx(float(_loss("t2s", start, batch)), abs=1e-4)
        grown.spk_to_hidden.weight.normal_()  # ...until the projection has learned something
        assert abs(float(_loss("t2s", grown, batch)) - float(_loss("t2s", start, batch))) > 1e-3
    with pytest.raises(WhisperSpeechError, match="another config"):  # only inputs grow, not the architecture
        train(
            "t2s",
            prepared["spk"],
            tmp_path / "other",
            steps=1,
            progress=False,
            init=str(plain),
            overrides=dict(ffn_mult=4),
        )


def test_a_run_continues_with_another_dropout(prepared, tmp_path):
    "--init accepts an export trained with another dropout (a training-only field); the run trains and exports with its own."
    from whisperspeech.training import _loss

    plain = train("s2a", prepared["spk"], tmp_path / "plain", steps=2, batch_size=2, progress=False)
    start = load_model(plain, kind="s2a")
    assert start.config.dropout == 0.0
    dropped = train(
        "s2a",
        prepared["spk"],
        tmp_path / "drop",
        steps=1,
        batch_size=2,
        lr=1e-12,
        warmup=1,
        progress=False,
        init=str(plain),
        overrides=dict(dropout=0.2),
    )
    more = load_model(dropped, kind="s2a")
    assert more.config.dropout == 0.2
    from whisperspeech.checkpoints import average_models  # exports of one model, whatever dropout each trained with

    assert load_model(average_models([plain, dropped], tmp_path / "avg.model"), kind="s2a").config.dropout == 0.2
    batch = fixed_batch(prepared["spk"], "s2a", more.config, 2)
    logits = lambda m: m(batch["stoks"], batch["speakers"], batch["in_atoks"], batch["langs"], batch["lengths"])
    with torch.no_grad():  # the same weights: equal in inference, not while dropping
        assert float(_loss("s2a", more.eval(), batch)) == pytest.approx(
            float(_loss("s2a", start.eval(), batch)), abs=1e-4
        )
        torch.manual_seed(0)
        # a barely trained S2A is near uniform, so its loss hardly moves; its logits move by a good part of their size
        dropped_logits, plain_logits = logits(more.train()), logits(start)
        assert (dropped_logits - plain_logits).abs().max() > 0.05 * plain_logits.abs().max()


def test_codebook_weights_weigh_each_code_by_its_codebook():
    "S2A's loss with codebook weights is the weighted mean of every code's cross-entropy (a slow loop's), padding left out."
    from whisperspeech.training import codebook_loss

    torch.manual_seed(0)
    logits, targets = torch.randn(2, 4, 7, 11), torch.randint(0, 11, (2, 4, 7))
    targets[0, 1, 5:] = targets[1, 3, 2:] = -100  # codebooks with fewer codes (delay pattern, shorter rows)
    weights = [3.0, 1.0, 0.5, 1.0]
    num = den = 0.0
    for b in range(2):
        for q in range(4):
            for t in range(7):
                if targets[b, q, t] == -100:
                    continue
                num += weights[q] * float(torch.nn.functional.cross_entropy(logits[b, q, t], targets[b, q, t]))
                den += weights[q]
    assert float(codebook_loss(logits, targets, weights)) == pytest.approx(num / den, abs=1e-5)
    plain = float(codebook_loss(logits, targets))
    assert abs(num / den - plain) > 0.01  # the weights moved it...
    assert float(codebook_loss(logits, targets, [2.0] * 4)) == pytest.approx(plain, abs=1e-5)  # ...equal ones do not


def test_a_run_trains_with_codebook_weights(prepared, tmp_path):
    "--codebook-weights: recorded in the export (a training-only field, so --init takes the export); one per codebook."
    from whisperspeech.core import WhisperSpeechError

    plain = train("s2a", prepared["spk"], tmp_path / "plain", steps=1, batch_size=2, progress=False)
    weighted = train(
        "s2a",
        prepared["spk"],
        tmp_path / "w",
        steps=1,
        batch_size=2,
        progress=False,
        init=str(plain),
        overrides=dict(codebook_weights=[2.0, 1.0, 1.0, 1.0]),
    )
    model = load_model(weighted, kind="s2a").eval()
    assert model.config.codebook_weights == [2.0, 1.0, 1.0, 1.0]
    from whisperspeech.training import _loss, codebook_loss

    batch = fixed_batch(prepared["spk"], "s2a", model.config, 2)
    with torch.no_grad():  # the training loss is the weighted one, with the weights the config records
        logits = model(batch["stoks"], batch["speakers"], batch["in_atoks"], batch["langs"], batch["lengths"])
        targets, q = batch["out_atoks"], model.config.quantizers
        per_codebook = [  # each codebook's own cross-entropy, computed without codebook_loss
            float(F.cross_entropy(logits[:, k].flatten(0, -2), targets[:, k].flatten(), ignore_index=-100))
            for k in range(q)
        ]
        for k in range(q):  # all the weight on one codebook: the training loss is that codebook's alone
            w = [1.0 if i == k else 0.0 for i in range(q)]
            model.config.codebook_weights = w
            loss = float(_loss("s2a", model, batch))
            assert loss == pytest.approx(float(codebook_loss(logits, targets, w)), abs=1e-6)
            assert loss == pytest.approx(per_codebook[k], abs=1e-4)
        assert max(per_codebook) - min(per_codebook) > 1e-3  # so the weights, reaching the loss, change it
    with pytest.raises(WhisperSpeechError, match="3 codebook weights for an S2A of 4 codebooks"):
        train(
            "s2a",
            prepared["spk"],
            tmp_path / "bad",
            steps=1,
            progress=False,
            overrides=dict(codebook_weights=[1.0] * 3),
        )


@pytest.mark.parametrize("kind", ["t2s", "s2a"])
def test_a_model_grows_deeper(prepared, tmp_path, kind):
    "--init from a shallower export with a greater depth: its blocks are kept, the new ones start as identities."
    from whisperspeech.core import WhisperSpeechError
    from whisperspeech.training import _block_stacks, _loss

    plain = train(kind, prepared["spk"], tmp_path / "plain", steps=3, batch_size=2, progress=False)
    start = load_model(plain, kind=kind).eval()
    deep = train(
        kind,
        prepared["spk"],
        tmp_path / "deep",
        steps=1,
        batch_size=2,
        lr=1e-12,
        warmup=1,
        progress=False,
        init=str(plain),
        overrides=dict(depth=2),
    )
    grown = load_model(deep, kind=kind).eval()
    assert grown.config.depth == 2 and start.config.depth == 1
    before, after = _block_stacks(start), _block_stacks(grown)
    assert len(after["decoder"]) > len(before["decoder"])  # so its last block is a new one
    batch = fixed_batch(prepared["spk"], kind, grown.config, 2)
    with torch.no_grad():  # computes what it started from...
        assert float(_loss(kind, grown, batch)) == pytest.approx(float(_loss(kind, start, batch)), abs=1e-4)
        after["decoder"][-1].mlp[-1].weight.normal_()  # ...until a new block has learned something
        assert abs(float(_loss(kind, grown, batch)) - float(_loss(kind, start, batch))) > 1e-3
    with pytest.raises(WhisperSpeechError, match="grow, not shrink"):
        train(
            kind,
            prepared["spk"],
            tmp_path / "shallow",
            steps=1,
            progress=False,
            init=str(deep),
            overrides=dict(depth=1),
        )


def _keys(prefix: Path):
    return [set(Path(f"{prefix}.rank{r}").read_text().split()) for r in (0, 1)]


def test_two_process_ddp_sees_disjoint_data(prepared, tmp_path):
    r = subprocess.run(
        [
            WS,
            "train",
            "t2s",
            "--data",
            str(prepared["spk"]),
            "-o",
            str(tmp_path / "run"),
            "--steps",
            "4",
            "--batch-size",
            "2",
            "--devices",
            "2",
            "--strategy",
            "ddp",
            "--quiet",
            "--keys-log",
            str(tmp_path / "keys"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = _keys(tmp_path / "keys")
    assert a and b and not a & b
    assert (tmp_path / "run" / "t2s.model").exists()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_simulated_two_node_launch_with_torchrun(prepared, tmp_path):
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    launchers = [
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "torchrun"),
                "--nnodes=2",
                "--nproc-per-node=1",
                f"--node-rank={rank}",
                "--master-addr=127.0.0.1",
                f"--master-port={port}",
                WS,
                "train",
                "t2s",
                "--data",
                str(prepared["spk"]),
                "-o",
                str(tmp_path / "run"),
                "--steps",
                "4",
                "--batch-size",
                "2",
                "--num-nodes",
                "2",
                "--devices",
                "1",
                "--strategy",
                "ddp",
                "--quiet",
                "--keys-log",
                str(tmp_path / "keys"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in launchers]
    assert [p.returncode for p in launchers] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    a, b = _keys(tmp_path / "keys")
    assert a and b and not a & b


def test_trained_models_load_in_the_pipeline(prepared, tmp_path):
    from whisperspeech.pipeline import Pipeline

    t2s = train("t2s", prepared["spk"], tmp_path / "t2s", steps=3, batch_size=4, progress=False)
    s2a = train("s2a", prepared["spk"], tmp_path / "s2a", steps=3, batch_size=4, progress=False)
    pipe = Pipeline(t2s, s2a, random_vocoder_ok=True)
    assert pipe.speaker_backend == "resemblyzer" and not pipe.t2s.config.pad_to_context
    codes = pipe.generate_atoks("Hello there.", seed=0, speaker=torch.randn(256), temperature=1.0)
    assert len(codes) == 1 and codes[0].shape[0] == 4
    assert pipe.generate("Hello there.", seed=0, speaker=torch.randn(256), temperature=1.0).ndim == 1


def test_length_buckets_cut_padding_and_keep_every_sample():
    "Batches from sorted pools: every sample exactly once, far less padding than random batches, random batch order."
    import random
    from whisperspeech.training import length_buckets

    samples = [{"n": n} for n in random.Random(0).sample(range(1, 1000), 256)]
    batches = list(length_buckets(8, lambda s: s["n"], buffer=4, seed=0)(iter(samples)))
    assert all(len(b) == 8 for b in batches)
    assert sorted(s["n"] for b in batches for s in b) == sorted(s["n"] for s in samples)

    def padding(bs):
        return sum(8 * max(s["n"] for s in b) - sum(s["n"] for s in b) for b in bs)

    assert padding(batches) < padding([samples[i : i + 8] for i in range(0, 256, 8)]) / 3
    firsts = [b[0]["n"] for b in batches[:4]]  # one pool: its batches come out shuffled, not shortest first
    assert firsts != sorted(firsts)


def test_fresh_s2a_starts_near_uniform():
    "A new S2A predicts near-uniform codes (cross-entropy ~ ln(codes + 2)), not the ~70 of default-init tied logits."
    import math
    from whisperspeech.training import _loss, build_model, preset

    torch.manual_seed(0)
    config = preset("s2a", "compact")
    model = build_model("s2a", config)
    q, n = config.quantizers, 60
    batch = dict(
        stoks=torch.randint(0, 512, (2, 22)),
        speakers=torch.randn(2, config.spk_width),
        langs=None,
        lengths=torch.tensor([20, 20]),
        in_atoks=torch.randint(0, 1024, (2, q, n)),
        out_atoks=torch.randint(0, 1024, (2, q, n)),
    )
    assert abs(float(_loss("s2a", model, batch)) - math.log(config.codes + 2)) < 0.5


def test_keep_freed_memory_on_glibc():
    from whisperspeech.training import keep_freed_memory
    import platform

    assert keep_freed_memory() == (platform.system() == "Linux" and platform.libc_ver()[0] == "glibc")


def test_dropout_only_while_training():
    "Residual dropout changes training outputs and leaves inference exactly as without it."
    from whisperspeech.training import build_model, preset
    from dataclasses import replace

    config = preset("t2s", "micro")
    torch.manual_seed(0)
    plain = build_model("t2s", config)
    dropped = build_model("t2s", replace(config, dropout=0.5))
    dropped.load_state_dict(plain.state_dict())
    args = (
        torch.randint(0, 256, (2, 12)),
        torch.zeros(2, dtype=torch.long),
        torch.tensor([14.0, 15.0]),
        torch.randint(0, 512, (2, 9)),
        torch.tensor([12, 10]),
    )
    plain.eval(), dropped.eval()
    assert torch.equal(plain(*args), dropped(*args))
    dropped.train()
    torch.manual_seed(1)
    assert not torch.allclose(plain(*args), dropped(*args))


@pytest.fixture(scope="module")
def base_codec(prepared, tmp_path_factory):
    "A codec trained two steps with reconstruction losses: what an adversarial run tunes."
    out = tmp_path_factory.mktemp("base-codec")
    return train("codec", prepared["spk"], out, steps=2, batch_size=2, warmup=1, progress=False)


def test_adversarial_codec_tunes_its_decoder_only_and_resumes(prepared, base_codec, tmp_path):
    "`train codec --adversarial --init`: the codes keep their meaning (encoder, quantizer unchanged), the decoder moves."
    from whisperspeech.core import WhisperSpeechError

    base = base_codec
    gan = dict(batch_size=2, warmup=1, save_every=2, log_every=1, progress=False, overrides={"adversarial": True})
    with pytest.raises(WhisperSpeechError, match="give --init"):
        train("codec", prepared["spk"], tmp_path / "fresh", steps=1, **gan)
    path = train("codec", prepared["spk"], tmp_path / "gan", steps=3, init=str(base), **gan)
    ckpt = torch.load(tmp_path / "gan" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 3  # one step trains both players, and counts once
    assert any(k.startswith("discriminators.") for k in ckpt["state_dict"]) and len(ckpt["optimizer_states"]) == 2
    before, after = load_model(base, kind="codec"), load_model(path, kind="codec")
    assert after.config.adversarial and trained_steps(path) == 3
    old, new = before.state_dict(), after.state_dict()
    frozen = [k for k in old if k.startswith(("encoder.", "to_codes.", "quantizer."))]
    assert frozen and all(torch.equal(old[k], new[k]) for k in frozen)
    assert not all(torch.equal(old[k], new[k]) for k in old if k.startswith("decoder."))
    rows = [r for f in sorted((tmp_path / "gan").glob("logs/*/metrics.csv")) for r in csv.DictReader(open(f))]
    assert {"loss", "d_loss", "adv", "fm"} <= set(rows[0])
    train("codec", prepared["spk"], tmp_path / "gan", steps=5, **gan)  # resumes both players
    assert torch.load(tmp_path / "gan" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 5


def test_decoder_only_codec_run_keeps_the_codes(prepared, base_codec, tmp_path):
    "`train codec --decoder-only --init`: the decoder learns new audio, every code keeps its meaning (no codebook update)."
    from whisperspeech.core import WhisperSpeechError

    tune = dict(batch_size=2, warmup=1, save_every=2, log_every=1, progress=False, overrides={"decoder_only": True})
    with pytest.raises(WhisperSpeechError, match="give --init"):
        train("codec", prepared["spk"], tmp_path / "fresh", steps=1, **tune)
    path = train("codec", prepared["spk"], tmp_path / "dec", steps=2, init=str(base_codec), **tune)
    before, after = load_model(base_codec, kind="codec"), load_model(path, kind="codec")
    assert after.config.decoder_only and trained_steps(path) == 2
    old, new = before.state_dict(), after.state_dict()
    frozen = [k for k in old if k.startswith(("encoder.", "to_codes.", "quantizer."))]
    assert any(".embed" in k for k in frozen)  # the codebooks (buffers) are among what must not move
    assert all(torch.equal(old[k], new[k]) for k in frozen)
    assert not all(torch.equal(old[k], new[k]) for k in old if k.startswith(("decoder.", "head.")))


def test_harmonic_codec_grows_from_a_plain_one(prepared, base_codec, tmp_path):
    "`train codec --decoder-only --harmonic --init`: the F0 predictor and source filter are added, the codes kept."
    over = {"decoder_only": True, "harmonic": True}
    tune = dict(batch_size=2, warmup=1, save_every=2, log_every=1, progress=False, overrides=over)
    path = train("codec", prepared["spk"], tmp_path / "harm", steps=2, init=str(base_codec), **tune)
    before, after = load_model(base_codec, kind="codec"), load_model(path, kind="codec")
    assert after.config.harmonic and not before.config.harmonic
    old, new = before.state_dict(), after.state_dict()
    assert set(new) - set(old) and all(k.startswith("harmonic_") for k in set(new) - set(old))
    assert all(torch.equal(old[k], new[k]) for k in old if k.startswith(("encoder.", "to_codes.", "quantizer.")))
    rows = [r for f in sorted((tmp_path / "harm").glob("logs/*/metrics.csv")) for r in csv.DictReader(open(f))]
    assert {"loss", "reconstruction", "pitch"} <= set(rows[0])  # each term of the loss is logged
    wav = torch.randn(1, 24000) * 0.1
    assert after.decode(after.encode(wav)).shape == (1, 24000)


def test_a_codec_decoder_grows_deeper_and_keeps_its_codes(prepared, base_codec, tmp_path):
    "`train codec --decoder-only --depth N --init`: the decoder gains blocks that start as identities; codes unchanged."
    from whisperspeech.core import WhisperSpeechError
    from whisperspeech.training import _block_stacks

    tune = dict(batch_size=2, warmup=1, lr=1e-12, progress=False, init=str(base_codec))
    start = load_model(base_codec, kind="codec").eval()
    deeper = start.config.dec_layers + 2
    path = train(
        "codec",
        prepared["spk"],
        tmp_path / "deep",
        steps=1,
        overrides=dict(decoder_only=True, dec_layers=deeper),
        **tune,
    )
    grown = load_model(path, kind="codec").eval()
    assert len(_block_stacks(grown)["decoder.convnext"]) == deeper
    assert len(_block_stacks(grown)["encoder.convnext"]) == start.config.enc_layers
    torch.manual_seed(0)
    wav = torch.randn(1, 12000) * 0.1
    with torch.no_grad():
        codes = start.encode(wav)
        assert torch.equal(grown.encode(wav), codes)
        assert torch.allclose(grown.decode(codes), start.decode(codes), atol=1e-4)  # computes what it started from
        _block_stacks(grown)["decoder.convnext"][-1].pwconv2.weight.normal_()  # until a new block learns something
        assert not torch.allclose(grown.decode(codes), start.decode(codes), atol=1e-3)
    with pytest.raises(WhisperSpeechError, match="grow, not shrink"):
        train(
            "codec",
            prepared["spk"],
            tmp_path / "shallow",
            steps=1,
            overrides=dict(decoder_only=True),
            **tune | {"init": str(path)},
        )


def test_adversarial_discriminators_learn_alone_first_and_faster(prepared, base_codec, tmp_path):
    "`--disc-warmup 2 --disc-lr-scale 3`: two steps move only the discriminators, at three times the decoder's rate."
    over = {"adversarial": True, "disc_warmup": 2, "disc_lr_scale": 3.0}
    gan = dict(batch_size=2, warmup=1, save_every=1, log_every=1, progress=False, lr=1e-3, overrides=over)
    path = train("codec", prepared["spk"], tmp_path / "gan", steps=2, init=str(base_codec), **gan)
    ckpt = torch.load(tmp_path / "gan" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 2
    (decoder, discs), (g_sched, d_sched) = ckpt["optimizer_states"], ckpt["lr_schedulers"]
    assert decoder["state"] == {} and g_sched["last_epoch"] == 0  # the decoder has not moved, nor its schedule
    assert discs["state"] and d_sched["last_epoch"] == 2
    assert discs["param_groups"][0]["initial_lr"] == pytest.approx(3 * decoder["param_groups"][0]["initial_lr"])
    old, new = load_model(base_codec, kind="codec").state_dict(), load_model(path, kind="codec").state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old)
    assert load_model(path, kind="codec").config.disc_warmup == 2
    rows = [r for f in sorted((tmp_path / "gan").glob("logs/*/metrics.csv")) for r in csv.DictReader(open(f))]
    assert rows and all(r["d_loss"] for r in rows)
    assert "adv" not in rows[0]  # no adversarial loss before the decoder moves
    path = train("codec", prepared["spk"], tmp_path / "gan", steps=3, **gan)  # the third step moves the decoder
    new = load_model(path, kind="codec").state_dict()
    assert not all(torch.equal(old[k], new[k]) for k in old if k.startswith("decoder."))
    ckpt = torch.load(tmp_path / "gan" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["lr_schedulers"][0]["last_epoch"] == 1  # the decoder's schedule counts its one step
