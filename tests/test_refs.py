import time

import pytest

from whisperspeech.core import WhisperSpeechError
from whisperspeech.refs import parse_hub_ref, resolve_ref

MISSING = "collabora/whisperspeech:t2s-tiny-en+pl.model"


def fake_hub_cache(root, repo="someone/voices", filename="t2s.model", data=b"weights"):
    "A Hugging Face cache laid out as huggingface_hub writes it."
    folder = root / ("models--" + repo.replace("/", "--"))
    commit = "a" * 40
    (folder / "snapshots" / commit).mkdir(parents=True)
    (folder / "snapshots" / commit / filename).write_bytes(data)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    return f"{repo}:{filename}"


def test_parse():
    assert parse_hub_ref(MISSING) == ("collabora/whisperspeech", "t2s-tiny-en+pl.model")
    assert parse_hub_ref("checkpoints/t2s.model") is None


def test_local_path(tmp_path):
    f = tmp_path / "t2s.model"
    f.write_bytes(b"x")
    assert resolve_ref(str(f)) == f
    with pytest.raises(WhisperSpeechError, match="model file not found"):
        resolve_ref(str(tmp_path / "nope.model"))


def test_offline_flag_fails_fast_naming_the_ref(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(WhisperSpeechError) as e:
        resolve_ref(MISSING, cache_dir=tmp_path)
    assert time.monotonic() - start < 5
    assert MISSING in str(e.value) and "local path" in str(e.value) and "HF_HUB_OFFLINE" in str(e.value)


def test_without_network_fails_fast(tmp_path, monkeypatch):
    "No HF_HUB_OFFLINE: on this machine the Hub is unreachable; it must not retry for half a minute."
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    start = time.monotonic()
    with pytest.raises(WhisperSpeechError, match="local path"):
        resolve_ref("whisperspeech-tests/no-such-repo:no-such-file.model", cache_dir=tmp_path)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("offline", ["1", ""])
def test_cached_ref_resolves_without_network(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    ref = fake_hub_cache(tmp_path)
    assert resolve_ref(ref, cache_dir=tmp_path).read_bytes() == b"weights"
