import os

import pytest

from whisperspeech.core import atomic_write, cache_dir


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISPERSPEECH_CACHE", str(tmp_path / "c"))
    assert cache_dir("a", "b") == tmp_path / "c" / "a" / "b"
    assert (tmp_path / "c" / "a" / "b").is_dir()


def test_cache_dir_defaults_to_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("WHISPERSPEECH_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "whisperspeech"


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "model.pt"
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".pt" and tmp != target
        tmp.write_bytes(b"v1")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"v1"
    assert os.listdir(tmp_path) == ["model.pt"]
