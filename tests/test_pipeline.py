"""The Pipeline end to end on small reference-format models with a random-weight Vocos."""

from pathlib import Path

import pytest
import soundfile as sf
import torch

from whisperspeech.core import WhisperSpeechError
from whisperspeech.pipeline import Pipeline
from whisperspeech.system_voices import speak_system
from whisperspeech.vocoder import SAMPLE_RATE

FIX = Path(__file__).parent / "fixtures" / "parity"
SPK = torch.randn(192, generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope="module")
def pipe():
    return Pipeline(FIX / "t2s-ref.model", FIX / "s2a-ref.model", random_vocoder_ok=True)


def test_generate_is_reproducible_with_a_seed(pipe):
    # the random fixture models are very peaked: a high temperature makes sampling visible
    a = pipe.generate("Hello world.", speaker=SPK, seed=7, temperature=3.0)
    b = pipe.generate("Hello world.", speaker=SPK, seed=7, temperature=3.0)
    c = pipe.generate("Hello world.", speaker=SPK, seed=8, temperature=3.0)
    assert a.ndim == 1 and a.dtype == torch.float32 and a.shape[0] % 320 == 0
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_atoks_lengths_follow_the_semantic_tokens(pipe):
    codes = pipe.generate_atoks("Short test.", speaker=SPK, seed=1)
    assert len(codes) == 1 and codes[0].shape[0] == 4 and codes[0].shape[1] > 0


def test_generate_to_file(pipe, tmp_path):
    path = pipe.generate_to_file(tmp_path / "out.wav", "A file, please.", speaker=SPK, seed=2)
    data, sr = sf.read(path)
    assert sr == SAMPLE_RATE and len(data) > 0


def test_long_text_is_split_batched_and_joined(pipe):
    sentence = "This sentence is part of a long paragraph that the pipeline has to split into chunks. "
    text = (sentence * 25)[:2000]
    chunks = pipe._chunks(text, 15)
    assert len(chunks) >= 8 and all(len(c.encode()) <= 548 for c in chunks)
    seen = []
    original = pipe.generate_atoks
    pipe.generate_atoks = lambda *a, **k: seen.append(original(*a, **k)) or seen[-1]
    try:
        wav = pipe.generate(text, speaker=SPK, seed=3)
    finally:
        del pipe.generate_atoks
    codes = seen[0]
    assert len(codes) == len(chunks)
    frames = sum(c.shape[1] for c in codes)
    assert wav.shape[0] == frames * 320 + (len(codes) - 1) * int(0.25 * SAMPLE_RATE)


def test_speaker_from_a_recording_checks_the_embedding_size(pipe, tmp_path):
    from whisperspeech.audio import save_audio

    ref = save_audio(tmp_path / "voice.wav", speak_system("Rice is often served in round bowls.", "flite:slt"), 24000)
    # the fixture S2A expects 192-d ECAPA embeddings; resemblyzer gives 256
    pipe_r = Pipeline(
        FIX / "t2s-ref.model", FIX / "s2a-ref.model", vocoder_ref=pipe.vocoder, speaker_backend="resemblyzer"
    )
    with pytest.raises(WhisperSpeechError, match="expects 192"):
        pipe_r.generate("Hi there.", speaker=ref)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(text=""), "empty"),
        (dict(text="   \n "), "empty"),
        (dict(text="bell\x07"), "control characters"),
        (dict(text="Hello.", lang="xx"), "unknown language"),
        (dict(text="Hello.", cps=100), "cps"),
        (dict(text="Hello.", speaker="/no/such/voice.wav"), "not found"),
    ],
)
def test_bad_input_is_one_clear_error(pipe, kwargs, message):
    with pytest.raises(WhisperSpeechError, match=message) as e:
        pipe.generate(**{"speaker": SPK, **kwargs})
    assert "\n" not in str(e.value)


def test_unreadable_speaker_file(pipe, tmp_path):
    (tmp_path / "voice.wav").write_text("not audio")
    with pytest.raises(WhisperSpeechError, match="cannot decode"):
        pipe.generate("Hello.", speaker=tmp_path / "voice.wav")


def test_wrong_kind_of_checkpoint():
    with pytest.raises(WhisperSpeechError, match="is a text-to-semantic .T2S. model, but a semantic-to-acoustic"):
        Pipeline(FIX / "t2s-ref.model", FIX / "t2s-ref.model", random_vocoder_ok=True)


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "s2a.model"
    bad.write_bytes((FIX / "s2a-ref.model").read_bytes()[:5000])
    with pytest.raises(WhisperSpeechError, match="not a readable model checkpoint"):
        Pipeline(FIX / "t2s-ref.model", bad, random_vocoder_ok=True)


def test_vocoder_weights_missing_offline_is_an_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WhisperSpeechError, match="cannot load the Vocos vocoder"):
        Pipeline(FIX / "t2s-ref.model", FIX / "s2a-ref.model")


def test_ecapa_backend_unavailable_offline_is_clear(pipe):
    from whisperspeech.speaker import speaker_embedding

    with pytest.raises(WhisperSpeechError, match="speechbrain|Hugging Face|ecapa"):
        speaker_embedding(torch.randn(16000), "ecapa")


def test_int8_weights_speak_and_keep_the_float32_predictions(pipe):
    q = Pipeline(FIX / "t2s-ref.model", FIX / "s2a-ref.model", random_vocoder_ok=True, int8=True, quiet=True)
    assert q.t2s.int8 and q.s2a.int8 and not getattr(pipe.t2s, "int8", False)
    wav = q.generate("Hello world.", speaker=SPK, seed=7)
    assert wav.ndim == 1 and wav.shape[0] > 0 and torch.isfinite(wav).all()
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():  # teacher-forced: the same inputs through both
        args = (
            pipe.t2s.text_batch([list(b"hello there"), list(b"a second one")]),
            torch.tensor([0, 0]),
            torch.tensor([15.0, 15.0]),
            torch.randint(0, 512, (2, 30), generator=g),
        )
        t_f, t_q = pipe.t2s(*args), q.t2s(*args)
        args = (
            pipe.s2a.stoks_batch([torch.randint(0, 512, (20,), generator=g)] * 2),
            torch.randn(2, 192, generator=g),
            torch.randint(0, 1024, (2, 4, 40), generator=g),
        )
        s_f, s_q = pipe.s2a(*args), q.s2a(*args)
    assert (t_f.argmax(-1) == t_q.argmax(-1)).float().mean() >= 0.95  # measured 1.0
    assert (s_f.argmax(-1) == s_q.argmax(-1)).float().mean() >= 0.8  # measured 0.91 on these random weights
    assert 0 < (t_f - t_q).abs().max() < 0.2 * t_f.std()


def test_int8_combines_with_compile():  # compiled int8 decoding itself: tests/test_compile.py
    q = Pipeline(
        FIX / "t2s-ref.model", FIX / "s2a-ref.model", random_vocoder_ok=True, int8=True, compile=True, quiet=True
    )
    assert q.t2s.int8 and q.s2a.int8 and q.decoding.compile
    assert q.description.endswith(", int8 weights, compiled decoding")


def test_guidance_only_for_an_s2a_trained_for_it(tiny_bundle, tmp_path):
    "`guidance=` decodes guided with an S2A trained with uncond_rate, says so in the description, and refuses other models."
    import shutil
    from whisperspeech.checkpoints import load_export, save_model

    with pytest.raises(WhisperSpeechError, match="needs an S2A trained with --uncond-rate"):
        Pipeline(model=tiny_bundle, guidance=2, quiet=True)
    with pytest.raises(WhisperSpeechError, match="from 0 to 10"):
        Pipeline(model=tiny_bundle, guidance=-1, quiet=True)
    bundle = tmp_path / "guided"
    shutil.copytree(tiny_bundle, bundle)
    s2a, record = load_export(bundle / "s2a.model", kind="s2a")
    s2a.config.uncond_rate = 0.15
    save_model(s2a, bundle / "s2a.model", **record)
    pipe = Pipeline(model=bundle, guidance=1.5, quiet=True)
    assert pipe.s2a.config.guidance == 1.5 and pipe.description.endswith(", S2A guidance 1.5")
    guided = pipe.generate("Guided speech.", seed=0)
    pipe.s2a.config.guidance = 1.0
    assert guided.shape == pipe.generate("Guided speech.", seed=0).shape  # same length (the semantic tokens set it)
    assert not torch.equal(guided, pipe.generate("Guided speech.", seed=0))  # other codes
