"""Bundles, named voices, request batching and streaming, on the tiny random-weight bundle."""

import pytest
import torch

import whisperspeech.bundle as bundle
from whisperspeech.core import WhisperSpeechError
from whisperspeech.pipeline import Pipeline

TEXT = "The ferry leaves at seven. Pack your bags tonight, and do not forget the tickets."


@pytest.fixture(scope="module")
def pipe(tiny_bundle):
    return Pipeline(model=tiny_bundle, quiet=True)


def test_bundle_voices_and_codec(pipe):
    assert list(pipe.voices) == ["flite:slt", "flite:rms"]
    assert type(pipe.vocoder).__name__ == "CodecVocoder"
    assert torch.equal(pipe.speaker("flite:rms"), pipe.voices["flite:rms"])
    assert torch.equal(pipe.speaker(None), pipe.voices["flite:slt"])  # the first voice is the default
    with pytest.raises(WhisperSpeechError, match="not found.*flite:slt, flite:rms"):
        pipe.speaker("flite:nobody")


def linked_bundle(bundle, folder, files=("t2s.model", "s2a.model", "codec.model", "voices.pt", "rates.json")):
    "A bundle in `folder` whose `files` are links to those of `bundle` (the test then adds what differs)."
    for f in files:
        (folder / f).symlink_to(bundle / f)
    return folder


def test_the_voice_reaches_t2s(pipe, tiny_bundle, tmp_path):
    "The bundle's T2S hears the speaker: same text and seed, other voice, other semantic tokens."
    assert pipe.t2s.config.spk_width == pipe.s2a.config.spk_width == 256
    jobs = {v: pipe._jobs("Hello there.", v, "en", 15.0, 1) for v in pipe.voices}
    stoks = {v: pipe._semantic(j, torch.stack([x.speaker for x in j]), 0.7, None)[0][0] for v, j in jobs.items()}
    assert not torch.equal(*stoks.values())
    # a T2S that hears other speaker embeddings than its S2A takes is refused at load
    from whisperspeech.checkpoints import load_model, save_model
    from whisperspeech.t2s import T2S
    from dataclasses import replace

    linked_bundle(tiny_bundle, tmp_path, ("s2a.model", "codec.model", "voices.pt"))
    save_model(
        T2S(replace(load_model(tiny_bundle / "t2s.model", kind="t2s").config, spk_width=192)), tmp_path / "t2s.model"
    )
    with pytest.raises(WhisperSpeechError, match="192-wide speaker embeddings.*256-wide"):
        Pipeline(model=tmp_path, quiet=True)


def test_a_bundle_records_its_own_temperatures(pipe, tiny_bundle, tmp_path):
    "sampling.json sets each stage's default temperature; a caller's temperature overrides both."
    from whisperspeech.bundle import save_sampling

    linked_bundle(tiny_bundle, tmp_path)
    save_sampling(tmp_path / "sampling.json", t2s=0, s2a=0)
    greedy = Pipeline(model=tmp_path, quiet=True)
    assert greedy.temperature == {"t2s": 0, "s2a": 0} and pipe.temperature == {"t2s": 0.7, "s2a": 0.7}
    assert greedy._temperatures(None) == (0, 0) and greedy._temperatures(0.5) == (0.5, 0.5)
    a, b = (greedy.generate_atoks("Hello there.", seed=s)[0] for s in (1, 2))
    assert torch.equal(a, b) and torch.equal(a, pipe.generate_atoks("Hello there.", seed=3, temperature=0)[0])
    assert not torch.equal(*(greedy.generate_atoks("Hello there.", seed=s, temperature=1.0)[0] for s in (1, 2)))
    with pytest.raises(WhisperSpeechError, match="between 0"):
        pipe.generate("Hello.", temperature=-1)


def test_stream_adds_up_to_generate(pipe):
    pieces = list(pipe.generate_stream(TEXT, speaker="flite:rms", seed=7, frames=12))
    whole = pipe.generate(TEXT, speaker="flite:rms", seed=7)
    assert len(pieces) > 3  # several pieces per sentence, not one per sentence
    assert all(p.ndim == 1 and len(p) > 0 for p in pieces)
    assert torch.allclose(torch.cat(pieces), whole, atol=1e-5)


def test_a_harmonic_codec_streams_what_it_generates(tmp_path):
    "Autoregressive S2A, harmonic codec: the streamed pieces join into the whole utterance."
    from bundles import random_bundle

    pipe = Pipeline(model=random_bundle(tmp_path / "bundle", "micro", harmonic=True), quiet=True)
    pieces = list(pipe.generate_stream(TEXT, speaker="flite:rms", seed=7, frames=12))
    assert len(pieces) > 3
    whole = pipe.generate(TEXT, speaker="flite:rms", seed=7)
    # float noise in the F0 that windows of other lengths predict shifts the sharp pulses by fractions of a sample, the
    # more the longer a chunk runs: tiny on average, where pulses restarted at every window differ by the signal itself
    assert (torch.cat(pieces) - whole).abs().mean() < 1e-3 < whole.abs().mean()


def test_requests_batched_together_equal_requests_alone(pipe):
    reqs = [
        dict(text="Hello there.", speaker="flite:slt", seed=1),
        dict(text=TEXT, speaker="flite:rms", cps=12, seed=2),
        dict(text="Guten Morgen.", lang="de", seed=3),
    ]
    together = pipe.generate_many(reqs)
    for r, wav in zip(reqs, together):
        alone = pipe.generate(
            r["text"], speaker=r.get("speaker"), lang=r.get("lang", "en"), cps=r.get("cps"), seed=r["seed"]
        )
        assert torch.allclose(wav, alone, atol=1e-5)
    a, b = (pipe.generate_atoks("Hello there.", speaker="flite:slt", seed=s)[0] for s in (1, 4))
    assert not torch.equal(a, b)  # and the seed matters


def test_default_pipeline_falls_back_to_the_embedded_voice(tiny_bundle, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(bundle, "EMBEDDED", tiny_bundle)
    pipe = Pipeline()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "embedded offline voice" in err and "published models cannot be loaded" in err
    assert list(pipe.voices) == ["flite:slt", "flite:rms"]


def test_no_model_at_all_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(bundle, "EMBEDDED", tmp_path / "missing")
    with pytest.raises(WhisperSpeechError, match="no embedded voice") as e:
        Pipeline()
    assert "\n" not in str(e.value)
