"""The parallel T2S: phonemes, the aligner and its preparation stage, training, and every surface of a bundle that holds one."""

import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from whisperspeech.checkpoints import load_model
from whisperspeech.core import WhisperSpeechError
from whisperspeech.pipeline import Pipeline

TEXT = "The ferry leaves at 7:45. Pack your bags tonight, and do not forget the 2 tickets!"
WS = str(Path(sys.executable).parent / "whisperspeech")


def test_phonemes_read_numbers_times_and_abbreviations_as_words():
    from whisperspeech.phonemes import is_phone, phonemize, text_symbols

    assert phonemize("It is 10:30.") == phonemize("It is ten thirty.")
    assert phonemize("In 1999, we left.").replace(" ", "") == phonemize(
        "In nineteen hundred ninety nine, we left."
    ).replace(" ", "")
    assert "dˈɑːktɚ" in phonemize("Dr. Smith") and "pɔɪnt" in phonemize("It weighs 4.5 tons.")
    symbols = text_symbols("Yes, 3 cats?")
    assert symbols[-1] == "?" and "," in symbols and " " in symbols
    assert "".join(symbols) == phonemize("Yes, 3 cats?")  # the symbols spell the IPA they came from
    assert sum(is_phone(s) for s in symbols) > 6
    with pytest.raises(WhisperSpeechError, match="espeak-ng cannot read language"):
        phonemize("hello", "xx")


def test_without_espeak_ng_the_error_says_how_to_install_it(monkeypatch):
    from phonemizer.backend import EspeakBackend
    from whisperspeech import phonemes

    phonemes._backend.cache_clear()
    monkeypatch.setattr(EspeakBackend, "is_available", classmethod(lambda cls: False))
    try:
        with pytest.raises(WhisperSpeechError, match="apt-get install espeak-ng"):
            phonemes.phonemize("Hello.")
    finally:
        phonemes._backend.cache_clear()


@pytest.fixture(scope="module")
def parallel_bundle(tmp_path_factory):
    from bundles import random_bundle

    return random_bundle(
        tmp_path_factory.mktemp("t2s-parallel-bundle"), "micro", s2a="s2a-parallel", t2s="t2s-parallel"
    )


@pytest.fixture(scope="module")
def pipe(parallel_bundle):
    return Pipeline(model=parallel_bundle, quiet=True)


def test_the_bundle_reads_phonemes_in_one_pass(pipe):
    assert pipe.parallel_t2s and type(pipe.t2s).__name__ == "ParallelT2S"
    stoks = pipe.generate_stoks(TEXT, seed=0)
    assert len(stoks) >= 1 and all(len(s) >= 1 and int(s.max()) < 513 for s in stoks)
    codes = pipe.generate_atoks(TEXT, seed=0)
    assert [c.shape[1] for c in codes] == [3 * len(s) for s in stoks]  # the S2A speaks exactly the T2S's tokens


def test_stream_and_batches_equal_generate(pipe):
    pieces = list(pipe.generate_stream(TEXT, speaker="flite:rms", seed=7, frames=6))
    assert torch.allclose(torch.cat(pieces), pipe.generate(TEXT, speaker="flite:rms", seed=7), atol=1e-5)
    reqs = [
        dict(text="Hello there.", speaker="flite:slt", seed=1),
        dict(text=TEXT, speaker="flite:rms", cps=12, seed=2),
        dict(text="Guten Morgen.", lang="de", seed=3),
    ]
    for r, wav in zip(reqs, pipe.generate_many(reqs)):
        alone = pipe.generate(
            r["text"], speaker=r.get("speaker"), lang=r.get("lang", "en"), cps=r.get("cps"), seed=r["seed"]
        )
        assert torch.allclose(wav, alone, atol=1e-5)


def test_the_cli_speaks_with_it(parallel_bundle, tmp_path):
    "`say` with a bundle of both parallel models (the embedded voice's kinds), digits in the text."
    out = tmp_path / "hello.wav"
    r = subprocess.run(
        [WS, "say", "It is 10:30.", "--model", str(parallel_bundle), "-o", str(out), "--seed", "0"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    import soundfile as sf

    wav, sr = sf.read(out)
    assert sr == 24000 and len(wav) > 0


def test_a_parallel_t2s_serves_as_t2s_only(parallel_bundle):
    assert type(load_model(parallel_bundle / "t2s.model", kind="t2s")).__name__ == "ParallelT2S"
    with pytest.raises(
        WhisperSpeechError, match="is a parallel text-to-semantic \\(T2S\\) model, but a semantic-to-acoustic"
    ):
        load_model(parallel_bundle / "t2s.model", kind="s2a")


def test_durations_set_the_length_and_each_row_samples_alone():
    "Sampled or greedy, one pass: an utterance lasts what its rounded durations add up to, in a batch or alone."
    from whisperspeech.t2s_parallel import ParallelT2S, ParallelT2SConfig, parallel_t2s_generate

    torch.manual_seed(0)
    m = ParallelT2S(
        ParallelT2SConfig(phones=["a", "b", " ", "."], width=32, n_head=2, text_depth=1, token_depth=1)
    ).eval()
    with torch.no_grad():
        m.duration.out.weight.zero_(), m.duration.out.bias.fill_(1.5)  # e^1.5 - 1 = 3.48 tokens a symbol
    ids = m.symbol_ids(list("ab ba."))
    (toks,) = parallel_t2s_generate(m, [ids], 0, 15.0, torch.randn(256))
    assert len(toks) == round(len(ids) * 3.4817)  # rounded once, not per symbol (that would give 3 x 8)
    gens = [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)]
    a, b = parallel_t2s_generate(m, [ids, ids[:3]], 0, 15.0, torch.randn(256), temperature=1.0, generator=gens)
    alone = parallel_t2s_generate(
        m, [ids[:3]], 0, 15.0, torch.randn(256), temperature=1.0, generator=[torch.Generator().manual_seed(2)]
    )[0]
    assert torch.equal(b, alone)
    assert len(parallel_t2s_generate(m, [ids], 0, 15.0, torch.randn(256), max_tokens=5)[0]) == 5


def test_aligner_stage_and_training_recipe(prepared, micro_codec, tmp_path):
    """The aligner learns, `prepare align` writes durations that add up to each sample's tokens, and a parallel T2S
    trains on them and resumes; a parallel S2A learns to hear them too."""
    import webdataset as wds
    from test_training import fixed_batch
    from whisperspeech.stages import STAGES, expand_shards, run_stage
    from whisperspeech.training import _loss, build_model, train

    aligner = train(
        "aligner",
        prepared["spk"],
        tmp_path / "aligner",
        "micro",
        steps=30,
        batch_size=8,
        lr=3e-3,
        warmup=3,
        progress=False,
    )
    model = load_model(aligner, kind="aligner")
    assert " " in model.config.phones and len(model.config.phones) > 30  # en, de and pl symbols
    summary = run_stage(
        "align", STAGES["align"], prepared["spk"], tmp_path / "aligned", dict(model=str(aligner)), progress=False
    )
    assert summary["samples_out"] >= summary["samples_in"] - 2, summary
    seen = 0
    for s in wds.WebDataset([str(p) for p in expand_shards(tmp_path / "aligned")], shardshuffle=False).decode():
        dur, phones = s["dur.npy"], s["json"]["phones"]
        assert len(dur) == len(phones) + 2 and int(dur.sum()) == len(s["stoks.npy"]) and dur.min() >= 0
        seen += 1
    assert seen == summary["samples_out"]
    with pytest.raises(WhisperSpeechError, match="prepare align"):
        train("t2s-parallel", prepared["spk"], tmp_path / "unaligned", "micro", steps=1, batch_size=2, progress=False)
    run = tmp_path / "t2s"
    train(
        "t2s-parallel",
        tmp_path / "aligned",
        run,
        "micro",
        steps=20,
        batch_size=8,
        lr=3e-3,
        warmup=3,
        save_every=10,
        progress=False,
    )
    path = train(
        "t2s-parallel",
        tmp_path / "aligned",
        run,
        "micro",
        steps=40,
        batch_size=8,
        lr=3e-3,
        warmup=3,
        save_every=10,
        progress=False,
    )  # resumes with the inventory it has
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 40
    trained = load_model(path, kind="t2s")
    fresh = build_model("t2s-parallel", trained.config)
    data = fixed_batch(tmp_path / "aligned", "t2s-parallel", trained.config, 8)
    with torch.no_grad():
        before, after = float(_loss("t2s-parallel", fresh.eval(), data)), float(_loss("t2s-parallel", trained, data))
    assert after < 0.9 * before, (before, after)  # random tokenizer's tokens: little to learn but durations
    masked = train(
        "t2s-masked", tmp_path / "aligned", tmp_path / "masked", "micro", steps=6, batch_size=8, progress=False
    )  # the alignment-free design trains on the same shards, durations unread
    model = load_model(masked, kind="t2s")
    assert type(model).__name__ == "MaskedT2S" and model.config.phones == trained.config.phones
    # a parallel S2A grows a phoneme input from a tokens-only export and learns it on the aligned shards
    plain = train(
        "s2a-parallel",
        tmp_path / "aligned",
        tmp_path / "s2a",
        "micro",
        steps=2,
        batch_size=4,
        progress=False,
        codec=micro_codec,
    )
    grow = dict(init=str(plain), overrides=dict(phones=[]), batch_size=8, lr=3e-3, warmup=2, progress=False)
    with pytest.raises(WhisperSpeechError, match="prepare align"):
        train("s2a-parallel", prepared["spk"], tmp_path / "s2a-unaligned", "micro", steps=1, **grow)
    heard = load_model(train("s2a-parallel", tmp_path / "aligned", tmp_path / "s2a-phones", "micro", steps=8, **grow))
    again = dict(batch_size=8, progress=False)  # resumed or continued without asking again, a run keeps hearing them
    resumed = train("s2a-parallel", tmp_path / "aligned", tmp_path / "s2a-phones", "micro", steps=9, **again)
    assert load_model(resumed).config.phones == heard.config.phones
    continued = train(
        "s2a-parallel", tmp_path / "aligned", tmp_path / "s2a-more", "micro", steps=1, init=str(resumed), **again
    )
    assert load_model(continued).config.phones == heard.config.phones
    assert heard.reads_phones and heard.config.phones == trained.config.phones  # the symbols of the same shards
    whole = replace(heard.config, phone_dropout=0.0, crop_tokens=10**6)
    data = fixed_batch(tmp_path / "aligned", "s2a-parallel", whole, 4)
    assert data["phones"].shape == data["stoks"].shape and int(data["phones"][:, 0].min()) >= 1
    noisy = fixed_batch(tmp_path / "aligned", "s2a-parallel", replace(whole, token_noise=0.5), 4)
    valid = torch.arange(data["stoks"].shape[1])[None] < data["lengths"][:, None]
    changed = float((noisy["stoks"] != data["stoks"])[valid].float().mean())
    assert torch.equal(noisy["phones"], data["phones"]) and 0.3 < changed < 0.7, changed
    hidden = fixed_batch(tmp_path / "aligned", "s2a-parallel", replace(whole, token_noise=0.5, phone_dropout=1.0), 4)
    assert torch.equal(hidden["stoks"], data["stoks"]) and not hidden["phones"].any()  # noise only beside phonemes
    with torch.no_grad():
        args = (data["stoks"], data["speakers"], data["langs"], data["lengths"])
        assert not torch.allclose(heard(*args, phones=data["phones"]), heard(*args))  # it hears them


def _subsequence(part, whole) -> bool:
    it = iter(whole)
    return all(x in it for x in part)


def test_an_s2a_that_hears_phonemes_hears_the_t2s_s(tmp_path):
    """A parallel S2A with phoneme input speaks T2S's tokens with each token's phoneme (mapped between the two
    inventories); streaming and batching still equal generate."""
    from bundles import random_bundle

    bundle = random_bundle(tmp_path / "bundle", "micro", s2a="s2a-parallel", t2s="t2s-parallel", s2a_phones=True)
    pipe = Pipeline(model=bundle, quiet=True)
    s2a, t2s = pipe.s2a.config.phones, pipe.t2s.config.phones
    assert pipe.s2a.reads_phones and s2a != t2s and sorted(s2a) == sorted(t2s)
    with torch.no_grad():  # every symbol lasts two tokens (an untrained duration head gives some none)
        pipe.t2s.duration.out.weight.zero_()
        pipe.t2s.duration.out.bias.fill_(math.log1p(2))
    jobs = pipe._jobs(TEXT, "flite:slt", "en", None, 0)
    stoks, _, phones = pipe._semantic(jobs, torch.stack([j.speaker for j in jobs]), 0.0, None)
    for job, st, ph in zip(jobs, stoks, phones):
        assert len(ph) == len(st) and ph[0] == 1  # the start symbol's tokens come first
        heard = [s2a[i - 4] for i in torch.unique_consecutive(ph).tolist() if i >= 4]
        said = [t2s[i - 4] for i in job.tokens if i >= 4]
        assert len(heard) > 5 and _subsequence(heard, said) and len(ph) == 2 * len(job.tokens)
    with_phones = pipe.generate_atoks(TEXT, seed=0)
    pipe._phone_lookup = None  # the same models, the S2A hearing tokens alone
    assert not all(torch.equal(a, b) for a, b in zip(with_phones, pipe.generate_atoks(TEXT, seed=0)))
    pipe = Pipeline(model=bundle, quiet=True)
    pieces = list(pipe.generate_stream(TEXT, speaker="flite:rms", seed=7, frames=6))
    assert torch.allclose(torch.cat(pieces), pipe.generate(TEXT, speaker="flite:rms", seed=7), atol=1e-5)
    reqs = [dict(text="Hello there.", speaker="flite:slt", seed=1), dict(text=TEXT, speaker="flite:rms", seed=2)]
    for r, wav in zip(reqs, pipe.generate_many(reqs)):
        assert torch.allclose(wav, pipe.generate(r["text"], speaker=r["speaker"], seed=r["seed"]), atol=1e-5)


def test_a_masked_t2s_writes_the_length_its_rate_gives(tmp_path):
    "A masked T2S bundle: every chunk lasts characters x 25 / cps tokens, and streaming equals generate."
    from bundles import random_bundle
    from whisperspeech.t2s_masked import masked_length

    bundle = random_bundle(tmp_path / "bundle", "micro", s2a="s2a-parallel", t2s="t2s-masked")
    pipe = Pipeline(model=bundle, quiet=True)
    assert pipe.parallel_t2s and type(pipe.t2s).__name__ == "MaskedT2S"
    chunks = pipe._chunks(TEXT, 12.0)
    stoks = pipe.generate_stoks(TEXT, speaker="flite:slt", cps=12.0, seed=0)
    assert [len(s) for s in stoks] == [masked_length(len(c), 12.0) for c in chunks] and len(stoks) >= 1
    assert all(int(s.min()) >= 0 and int(s.max()) < 513 for s in stoks)
    slower = pipe.generate_stoks(TEXT, speaker="flite:slt", cps=8.0, seed=0)
    assert sum(map(len, slower)) > sum(map(len, stoks))
    pieces = list(pipe.generate_stream(TEXT, speaker="flite:rms", seed=7, frames=6))
    assert torch.allclose(torch.cat(pieces), pipe.generate(TEXT, speaker="flite:rms", seed=7), atol=1e-5)
